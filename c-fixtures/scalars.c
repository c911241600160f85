/* Every C scalar type: echoed, its extremes as <limits.h> and <float.h> define them, mixed. */
#include "ffikit_fixtures.h"

#include <float.h>
#include <limits.h>

#define ECHO(type, name) \
    type echo_##name(type x) { return x; }

ECHO(signed char, schar)
ECHO(unsigned char, uchar)
ECHO(char, char)
ECHO(short, short)
ECHO(unsigned short, ushort)
ECHO(int, int)
ECHO(unsigned int, uint)
ECHO(long, long)
ECHO(unsigned long, ulong)
ECHO(long long, llong)
ECHO(unsigned long long, ullong)
ECHO(size_t, size_t)
ECHO(ssize_t, ssize_t)
ECHO(bool, bool)
ECHO(float, float)
ECHO(double, double)
ECHO(long double, long_double)
ECHO(int8_t, int8)
ECHO(uint8_t, uint8)
ECHO(int16_t, int16)
ECHO(uint16_t, uint16)
ECHO(int32_t, int32)
ECHO(uint32_t, uint32)
ECHO(int64_t, int64)
ECHO(uint64_t, uint64)

#define CONSTANT(type, name, value) \
    type name(void) { return value; }

CONSTANT(signed char, min_schar, SCHAR_MIN)
CONSTANT(signed char, max_schar, SCHAR_MAX)
CONSTANT(unsigned char, max_uchar, UCHAR_MAX)
CONSTANT(short, min_short, SHRT_MIN)
CONSTANT(short, max_short, SHRT_MAX)
CONSTANT(unsigned short, max_ushort, USHRT_MAX)
CONSTANT(int, min_int, INT_MIN)
CONSTANT(int, max_int, INT_MAX)
CONSTANT(unsigned int, max_uint, UINT_MAX)
CONSTANT(long, min_long, LONG_MIN)
CONSTANT(long, max_long, LONG_MAX)
CONSTANT(unsigned long, max_ulong, ULONG_MAX)
CONSTANT(long long, min_llong, LLONG_MIN)
CONSTANT(long long, max_llong, LLONG_MAX)
CONSTANT(unsigned long long, max_ullong, ULLONG_MAX)
CONSTANT(size_t, max_size_t, SIZE_MAX)
CONSTANT(ssize_t, min_ssize_t, -SSIZE_MAX - 1)
CONSTANT(ssize_t, max_ssize_t, SSIZE_MAX)
CONSTANT(float, max_float, FLT_MAX)
CONSTANT(float, min_positive_float, FLT_MIN)
CONSTANT(double, max_double, DBL_MAX)
CONSTANT(double, min_positive_double, DBL_MIN)
CONSTANT(long double, max_long_double, LDBL_MAX)

void long_double_max_into(long double *out) {
    *out = LDBL_MAX;
}

void long_double_add_into(const long double *a, const long double *b, long double *out) {
    *out = *a + *b;
}

double mix_scalars(signed char a, unsigned char b, short c, unsigned short d, int e,
                   unsigned int f, long g, unsigned long h, long long i, unsigned long long j,
                   float k, double l, bool m) {
    return 1.0 * a + 2.0 * b + 3.0 * c + 4.0 * d + 5.0 * e + 6.0 * f + 7.0 * (double)g +
           8.0 * (double)h + 9.0 * (double)i + 10.0 * (double)j + 11.0 * k + 12.0 * l +
           13.0 * m;
}

double many_args(int a1, double d1, int a2, double d2, int a3, double d3, int a4, double d4,
                 int a5, double d5, int a6, double d6, int a7, double d7, int a8, double d8,
                 long a9, double d9, char c, float f, short s) {
    return 1.0 * a1 + 2.0 * d1 + 3.0 * a2 + 4.0 * d2 + 5.0 * a3 + 6.0 * d3 + 7.0 * a4 +
           8.0 * d4 + 9.0 * a5 + 10.0 * d5 + 11.0 * a6 + 12.0 * d6 + 13.0 * a7 + 14.0 * d7 +
           15.0 * a8 + 16.0 * d8 + 17.0 * (double)a9 + 18.0 * d9 + 19.0 * c + 20.0 * f +
           21.0 * s;
}

double mixed_six(int8_t a, double b, int32_t c, float d, int64_t e, double f) {
    return 1.0 * a + 2.0 * b + 3.0 * c + 4.0 * (double)d + 5.0 * (double)e + 6.0 * f;
}

int64_t spill14(int64_t a1, int64_t a2, int64_t a3, int64_t a4, int64_t a5, int64_t a6,
                int64_t a7, int64_t a8, int64_t a9, int64_t a10, int64_t a11, int64_t a12,
                int64_t a13, int64_t a14) {
    return a1 + 2 * a2 + 3 * a3 + 4 * a4 + 5 * a5 + 6 * a6 + 7 * a7 + 8 * a8 + 9 * a9 +
           10 * a10 + 11 * a11 + 12 * a12 + 13 * a13 + 14 * a14;
}
