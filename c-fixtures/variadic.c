/* Variadic functions: the caller's default argument promotions are what arrive here. */
#include "ffikit_fixtures.h"

#include <stdarg.h>
#include <stdio.h>

int sum_ints(int count, ...) {
    va_list args;
    va_start(args, count);
    int total = 0;
    for (int k = 0; k < count; k++) total += va_arg(args, int);
    va_end(args);
    return total;
}

double sum_doubles(int count, ...) {
    va_list args;
    va_start(args, count);
    double total = 0;
    for (int k = 0; k < count; k++) total += va_arg(args, double);
    va_end(args);
    return total;
}

int format_into(char *buffer, size_t capacity, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int written = vsnprintf(buffer, capacity, format, args);
    va_end(args);
    return written;
}
