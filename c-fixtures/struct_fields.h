/* Private to the fixtures: each by-value test struct's fields as X(struct_name, field), so functions and
 * layout facts over them are written once. */
#ifndef FFIKIT_STRUCT_FIELDS_H
#define FFIKIT_STRUCT_FIELDS_H

#define FIELDS_s_int8(X, S) X(S, a)
#define FIELDS_s_int16x1_int8(X, S) X(S, a) X(S, b)
#define FIELDS_s_int8x3(X, S) X(S, a) X(S, b) X(S, c)
#define FIELDS_s_int32x2(X, S) X(S, a) X(S, b)
#define FIELDS_s_int32x3(X, S) X(S, a) X(S, b) X(S, c)
#define FIELDS_s_int64x2(X, S) X(S, a) X(S, b)
#define FIELDS_s_int64x3(X, S) X(S, a) X(S, b) X(S, c)
#define FIELDS_s_float1(X, S) X(S, a)
#define FIELDS_s_float3(X, S) X(S, a) X(S, b) X(S, c)
#define FIELDS_s_double2(X, S) X(S, a) X(S, b)
#define FIELDS_s_double4(X, S) X(S, a) X(S, b) X(S, c) X(S, d)
#define FIELDS_s_int_float(X, S) X(S, a) X(S, b)
#define FIELDS_s_double_int(X, S) X(S, a) X(S, b)
#define FIELDS_s_char_double_short(X, S) X(S, a) X(S, b) X(S, c)
#define FIELDS_s_float_int64(X, S) X(S, a) X(S, b)
#define FIELDS_s_mixed64(X, S) X(S, a) X(S, b) X(S, c) X(S, d) X(S, e) X(S, f) X(S, g) X(S, h) X(S, i) X(S, j) X(S, k) X(S, l)

#endif
