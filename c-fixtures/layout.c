/* gcc's own layout of every fixture type, so any runtime's layouts can be checked against it. */
#include "ffikit_fixtures.h"

#include <pthread.h>
#include <string.h>

#include "struct_fields.h"

#define TYPE_FACT(T) {#T, NULL, sizeof(T), _Alignof(T), 0, 8 * sizeof(T)},
#define MEMBER_FACT(T, f)                                                             \
    {#T, #f, sizeof(((T *)0)->f), _Alignof(__typeof__(((T *)0)->f)), 8 * offsetof(T, f), \
     8 * sizeof(((T *)0)->f)},
#define STRUCT_MEMBER_FACT(name, f) MEMBER_FACT(struct name, f)
#define BY_VALUE_STRUCT_FACTS(name) TYPE_FACT(struct name) FIELDS_##name(STRUCT_MEMBER_FACT, name)
/* Bitfields have no sizeof or offsetof: their place is measured in set_bitfield_places(). */
#define BITFIELD_FACT(T, f) {#T, #f, 0, 0, 0, 0},
/* A flexible array member has no size of its own. */
#define FLEXIBLE_MEMBER_FACT(T, f) \
    {#T, #f, 0, _Alignof(__typeof__(((T *)0)->f[0])), 8 * offsetof(T, f), 0},

static struct ffikit_layout_fact facts[] = {
    BY_VALUE_STRUCT_FACTS(s_int8)
    BY_VALUE_STRUCT_FACTS(s_int16x1_int8)
    BY_VALUE_STRUCT_FACTS(s_int8x3)
    BY_VALUE_STRUCT_FACTS(s_int32x2)
    BY_VALUE_STRUCT_FACTS(s_int32x3)
    BY_VALUE_STRUCT_FACTS(s_int64x2)
    BY_VALUE_STRUCT_FACTS(s_int64x3)
    BY_VALUE_STRUCT_FACTS(s_float1)
    BY_VALUE_STRUCT_FACTS(s_float3)
    BY_VALUE_STRUCT_FACTS(s_double2)
    BY_VALUE_STRUCT_FACTS(s_double4)
    BY_VALUE_STRUCT_FACTS(s_int_float)
    BY_VALUE_STRUCT_FACTS(s_double_int)
    BY_VALUE_STRUCT_FACTS(s_char_double_short)
    BY_VALUE_STRUCT_FACTS(s_float_int64)
    BY_VALUE_STRUCT_FACTS(s_mixed64)

    TYPE_FACT(struct point)
    MEMBER_FACT(struct point, x)
    MEMBER_FACT(struct point, y)
    TYPE_FACT(struct rect)
    MEMBER_FACT(struct rect, top_left)
    MEMBER_FACT(struct rect, bottom_right)
    TYPE_FACT(struct sample)
    MEMBER_FACT(struct sample, id)
    MEMBER_FACT(struct sample, values)
    MEMBER_FACT(struct sample, label)
    TYPE_FACT(union number)
    MEMBER_FACT(union number, i)
    MEMBER_FACT(union number, d)
    MEMBER_FACT(union number, f)
    MEMBER_FACT(union number, bytes)
    TYPE_FACT(enum color)
    TYPE_FACT(struct packed_record)
    MEMBER_FACT(struct packed_record, tag)
    MEMBER_FACT(struct packed_record, value)
    MEMBER_FACT(struct packed_record, extra)
    TYPE_FACT(struct pack2_record)
    MEMBER_FACT(struct pack2_record, tag)
    MEMBER_FACT(struct pack2_record, value)
    MEMBER_FACT(struct pack2_record, tail)
    TYPE_FACT(struct aligned_block)
    MEMBER_FACT(struct aligned_block, id)
    TYPE_FACT(struct byte_string)
    MEMBER_FACT(struct byte_string, length)
    FLEXIBLE_MEMBER_FACT(struct byte_string, bytes)
    TYPE_FACT(struct flags)
    BITFIELD_FACT(struct flags, ready)
    BITFIELD_FACT(struct flags, mode)
    BITFIELD_FACT(struct flags, level)
    BITFIELD_FACT(struct flags, count)
    MEMBER_FACT(struct flags, tail)
    TYPE_FACT(struct ffikit_layout_fact)
    MEMBER_FACT(struct ffikit_layout_fact, type_name)
    MEMBER_FACT(struct ffikit_layout_fact, field_name)
    MEMBER_FACT(struct ffikit_layout_fact, size)
    MEMBER_FACT(struct ffikit_layout_fact, align)
    MEMBER_FACT(struct ffikit_layout_fact, bit_offset)
    MEMBER_FACT(struct ffikit_layout_fact, bit_width)
};

/* Sets every bit of one bitfield in a zeroed struct and reads where the compiler put them. */
static void measure_bitfield(const char *field, const struct flags *with_bits_set) {
    const unsigned char *bytes = (const unsigned char *)with_bits_set;
    uint64_t first = UINT64_MAX, last = 0;
    for (size_t bit = 0; bit < 8 * sizeof *with_bits_set; bit++) {
        if (bytes[bit / 8] & (1u << (bit % 8))) {
            if (first == UINT64_MAX) first = bit;
            last = bit;
        }
    }
    for (size_t k = 0; k < sizeof facts / sizeof facts[0]; k++) {
        if (facts[k].field_name != NULL && strcmp(facts[k].type_name, "struct flags") == 0 &&
            strcmp(facts[k].field_name, field) == 0) {
            facts[k].bit_offset = first;
            facts[k].bit_width = last - first + 1;
        }
    }
}

#define MEASURE_BITFIELD(f)                    \
    do {                                       \
        struct flags probe;                    \
        memset(&probe, 0, sizeof probe);       \
        probe.f = -1;                          \
        measure_bitfield(#f, &probe);          \
    } while (0)

static void set_bitfield_places(void) {
    MEASURE_BITFIELD(ready);
    MEASURE_BITFIELD(mode);
    MEASURE_BITFIELD(level);
    MEASURE_BITFIELD(count);
}

size_t ffikit_layout_facts(const struct ffikit_layout_fact **out) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, set_bitfield_places);
    *out = facts;
    return sizeof facts / sizeof facts[0];
}
