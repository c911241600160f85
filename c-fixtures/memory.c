/* Pointers, out-parameters and strings. */
#include "ffikit_fixtures.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void divmod(int a, int b, int *quotient, int *remainder) {
    *quotient = a / b;
    *remainder = a % b;
}

int64_t sum_int32_array(const int32_t *values, size_t count) {
    int64_t total = 0;
    for (size_t k = 0; k < count; k++) total += values[k];
    return total;
}

void fill_sequence(int32_t *out, size_t count, int32_t start, int32_t step) {
    for (size_t k = 0; k < count; k++) out[k] = start + (int32_t)k * step;
}

void swap_int32(int32_t *a, int32_t *b) {
    int32_t t = *a;
    *a = *b;
    *b = t;
}

void point_scale(struct point *p, int32_t factor) {
    p->x *= factor;
    p->y *= factor;
}

bool is_null(const void *p) {
    return p == NULL;
}

size_t string_length(const char *s) {
    return strlen(s);
}

void string_to_upper(char *s) {
    for (; *s != '\0'; s++) *s = (char)toupper((unsigned char)*s);
}

char *string_repeat(const char *s, int times) {
    if (times < 0) return NULL;
    size_t n = strlen(s);
    char *result = malloc(n * (size_t)times + 1);
    if (result == NULL) return NULL;
    for (int k = 0; k < times; k++) memcpy(result + n * (size_t)k, s, n);
    result[n * (size_t)times] = '\0';
    return result;
}

void string_free(char *s) {
    free(s);
}

const char *string_or_null(bool give) {
    return give ? "here" : NULL;
}
