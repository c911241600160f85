/* Structs and unions by value, enums, packed, over-aligned and bitfield structs. */
#include "ffikit_fixtures.h"

#include <string.h>

#include "struct_fields.h"

#define SET_FIELD(S, f) s.f = (__typeof__(s.f))(seed + k++);
#define ADD_FIELD(S, f) total += (double)s.f;
#define BUMP_FIELD(S, f) s.f = (__typeof__(s.f))(s.f + 1);

#define STRUCT_FUNCTIONS(name)                         \
    struct name make_##name(int seed) {                \
        struct name s;                                 \
        int k = 0;                                     \
        memset(&s, 0, sizeof s);                       \
        FIELDS_##name(SET_FIELD, name)                       \
        (void)k;                                       \
        return s;                                      \
    }                                                  \
    double sum_##name(struct name s) {                 \
        double total = 0;                              \
        FIELDS_##name(ADD_FIELD, name)                       \
        return total;                                  \
    }                                                  \
    struct name bump_##name(struct name s) {           \
        FIELDS_##name(BUMP_FIELD, name)                      \
        return s;                                      \
    }

STRUCT_FUNCTIONS(s_int8)
STRUCT_FUNCTIONS(s_int16x1_int8)
STRUCT_FUNCTIONS(s_int8x3)
STRUCT_FUNCTIONS(s_int32x2)
STRUCT_FUNCTIONS(s_int32x3)
STRUCT_FUNCTIONS(s_int64x2)
STRUCT_FUNCTIONS(s_int64x3)
STRUCT_FUNCTIONS(s_float1)
STRUCT_FUNCTIONS(s_float3)
STRUCT_FUNCTIONS(s_double2)
STRUCT_FUNCTIONS(s_double4)
STRUCT_FUNCTIONS(s_int_float)
STRUCT_FUNCTIONS(s_double_int)
STRUCT_FUNCTIONS(s_char_double_short)
STRUCT_FUNCTIONS(s_float_int64)
STRUCT_FUNCTIONS(s_mixed64)

struct rect make_rect(int32_t x, int32_t y, int32_t width, int32_t height) {
    struct rect r = {{x, y}, {x + width, y + height}};
    return r;
}

int64_t rect_area(struct rect r) {
    return (int64_t)(r.bottom_right.x - r.top_left.x) * (r.bottom_right.y - r.top_left.y);
}

struct sample make_sample(uint16_t id, float base) {
    struct sample s;
    memset(&s, 0, sizeof s);
    s.id = id;
    for (int k = 0; k < 3; k++) s.values[k] = base * (float)(k + 1);
    memcpy(s.label, "fixt", 5);
    return s;
}

double sample_total(struct sample s) {
    double total = s.id;
    for (int k = 0; k < 3; k++) total += s.values[k];
    for (int k = 0; k < 6 && s.label[k] != '\0'; k++) total += (unsigned char)s.label[k];
    return total;
}

union number number_from_double(double d) {
    union number n;
    n.d = d;
    return n;
}

union number number_from_int(int64_t i) {
    union number n;
    n.i = i;
    return n;
}

int64_t rect_pair_mix(struct rect a, struct rect b) {
    return (int64_t)a.top_left.x * 1000 + b.bottom_right.y;
}

double number_as_double(union number n) {
    return n.d;
}

int64_t number_as_int(union number n) {
    return n.i;
}

enum color next_color(enum color c) {
    switch (c) {
    case COLOR_RED: return COLOR_GREEN;
    case COLOR_GREEN: return COLOR_BLUE;
    case COLOR_BLUE: return COLOR_ULTRAVIOLET;
    case COLOR_ULTRAVIOLET: return COLOR_RED;
    default: return COLOR_NONE;
    }
}

const char *color_name(enum color c) {
    switch (c) {
    case COLOR_RED: return "red";
    case COLOR_GREEN: return "green";
    case COLOR_BLUE: return "blue";
    case COLOR_ULTRAVIOLET: return "ultraviolet";
    case COLOR_NONE: return "none";
    }
    return "unknown";
}

struct packed_record make_packed_record(uint8_t tag, uint32_t value, uint16_t extra) {
    struct packed_record r;
    r.tag = tag;
    r.value = value;
    r.extra = extra;
    return r;
}

uint64_t packed_record_sum(struct packed_record r) {
    return (uint64_t)r.tag + r.value + r.extra;
}

uint64_t pack2_record_sum(const struct pack2_record *r) {
    return r->tag + r->value + r->tail;
}

int32_t aligned_block_id(const struct aligned_block *b) {
    return b->id;
}

uint32_t byte_string_sum(const struct byte_string *s) {
    uint32_t total = 0;
    for (uint32_t k = 0; k < s->length; k++) total += s->bytes[k];
    return total;
}

struct flags make_flags_value(unsigned int ready, unsigned int mode, int level, unsigned int count) {
    struct flags f;
    memset(&f, 0, sizeof f);
    set_flags(&f, ready, mode, level, count);
    return f;
}

void set_flags(struct flags *f, unsigned int ready, unsigned int mode, int level, unsigned int count) {
    f->ready = ready;
    f->mode = mode;
    f->level = level;
    f->count = count;
    f->tail = 0xAB;
}

int64_t flags_checksum(const struct flags *f) {
    return (int64_t)f->ready + 10 * (int64_t)f->mode + 100 * (int64_t)f->level +
           1000 * (int64_t)f->count + 10000000 * (int64_t)f->tail;
}
