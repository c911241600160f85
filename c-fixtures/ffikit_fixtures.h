/*
 * ffikit_fixtures.h: the public API of the fixture library.
 *
 * Every feature an FFI engine must get right has at least one function here. The declarations
 * are plain C on purpose: the build embeds this text (minus the preprocessor lines) as the
 * library's self-description, returned by ffikit_manifest(), so a runtime can bind the library
 * from the declarations alone.
 */
#ifndef FFIKIT_FIXTURES_H
#define FFIKIT_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FFIKIT_FIXTURES_VERSION_MAJOR 1
#define FFIKIT_FIXTURES_VERSION_MINOR 0
#define FFIKIT_NAME_MAX 32

/* ---- The classics ------------------------------------------------------------------------ */

int gcd(int x, int y);
double get_pi(void);

/* ---- UTF-8 conversion over iconv(3) ------------------------------------------------------
 * Converts in_len bytes of `in`, encoded as `from_encoding`, into UTF-8 in `out` (capacity
 * out_cap, no terminator written). Returns the number of bytes written, or -1 with errno set:
 * EINVAL for an unknown encoding, EILSEQ for invalid or truncated input, E2BIG when `out` is
 * too small. */
ssize_t ffikit_convert_to_utf8(const char *from_encoding, const char *in, size_t in_len,
                               char *out, size_t out_cap);

/* ---- Scalars: echo, extremes from <limits.h>/<float.h>, and one call mixing them all ----- */

signed char echo_schar(signed char x);
unsigned char echo_uchar(unsigned char x);
char echo_char(char x);
short echo_short(short x);
unsigned short echo_ushort(unsigned short x);
int echo_int(int x);
unsigned int echo_uint(unsigned int x);
long echo_long(long x);
unsigned long echo_ulong(unsigned long x);
long long echo_llong(long long x);
unsigned long long echo_ullong(unsigned long long x);
size_t echo_size_t(size_t x);
ssize_t echo_ssize_t(ssize_t x);
bool echo_bool(bool x);
float echo_float(float x);
double echo_double(double x);
long double echo_long_double(long double x);
int8_t echo_int8(int8_t x);
uint8_t echo_uint8(uint8_t x);
int16_t echo_int16(int16_t x);
uint16_t echo_uint16(uint16_t x);
int32_t echo_int32(int32_t x);
uint32_t echo_uint32(uint32_t x);
int64_t echo_int64(int64_t x);
uint64_t echo_uint64(uint64_t x);

signed char min_schar(void);
signed char max_schar(void);
unsigned char max_uchar(void);
short min_short(void);
short max_short(void);
unsigned short max_ushort(void);
int min_int(void);
int max_int(void);
unsigned int max_uint(void);
long min_long(void);
long max_long(void);
unsigned long max_ulong(void);
long long min_llong(void);
long long max_llong(void);
unsigned long long max_ullong(void);
size_t max_size_t(void);
ssize_t min_ssize_t(void);
ssize_t max_ssize_t(void);
float max_float(void);
float min_positive_float(void);
double max_double(void);
double min_positive_double(void);
long double max_long_double(void);

/* long double through memory, for bindings that cannot pass it by value (bindgen). */
void long_double_max_into(long double *out);
void long_double_add_into(const long double *a, const long double *b, long double *out);

/* Every scalar class in one call; the result weighs each argument by its position so that a
 * swapped or truncated argument changes it. */
double mix_scalars(signed char a, unsigned char b, short c, unsigned short d, int e,
                   unsigned int f, long g, unsigned long h, long long i, unsigned long long j,
                   float k, double l, bool m);

/* A call that spills onto the stack: 9 integer and 9 floating-point arguments, interleaved,
 * plus narrow ones at the end. Returns sum(k * argument_k) over the argument positions. */
double many_args(int a1, double d1, int a2, double d2, int a3, double d3, int a4, double d4,
                 int a5, double d5, int a6, double d6, int a7, double d7, int a8, double d8,
                 long a9, double d9, char c, float f, short s);

/* The comparison workloads' calls (ffikit compare): six mixed arguments, all in registers,
 * and fourteen integers, eight of which spill onto the stack. Each weighs argument k by k. */
double mixed_six(int8_t a, double b, int32_t c, float d, int64_t e, double f);
int64_t spill14(int64_t a1, int64_t a2, int64_t a3, int64_t a4, int64_t a5, int64_t a6,
                int64_t a7, int64_t a8, int64_t a9, int64_t a10, int64_t a11, int64_t a12,
                int64_t a13, int64_t a14);

/* ---- Structs by value: sizes 1 to 64 bytes, integer, floating and mixed fields ------------
 * For each struct S: make_S(seed) sets field k to seed + k; sum_S(s) returns the sum of the
 * fields as a double; bump_S(s) returns s with every field incremented by one. */

struct s_int8 { int8_t a; };                                      /* 1 byte */
struct s_int16x1_int8 { int16_t a; int8_t b; };                   /* 4 bytes */
struct s_int8x3 { int8_t a; int8_t b; int8_t c; };                /* 3 bytes */
struct s_int32x2 { int32_t a; int32_t b; };                       /* 8 bytes */
struct s_int32x3 { int32_t a; int32_t b; int32_t c; };            /* 12 bytes */
struct s_int64x2 { int64_t a; int64_t b; };                       /* 16 bytes */
struct s_int64x3 { int64_t a; int64_t b; int64_t c; };            /* 24 bytes, in memory */
struct s_float1 { float a; };                                     /* 4 bytes */
struct s_float3 { float a; float b; float c; };                   /* 12 bytes */
struct s_double2 { double a; double b; };                         /* 16 bytes */
struct s_double4 { double a; double b; double c; double d; };     /* 32 bytes */
struct s_int_float { int32_t a; float b; };                       /* 8 bytes, one INTEGER eightbyte */
struct s_double_int { double a; int32_t b; };                     /* 16 bytes, SSE then INTEGER */
struct s_char_double_short { char a; double b; short c; };        /* 24 bytes */
struct s_float_int64 { float a; int64_t b; };                     /* 16 bytes */
struct s_mixed64 { int64_t a; double b; int32_t c; float d; int16_t e; int8_t f;
                   uint8_t g; double h; int64_t i; double j; uint32_t k; float l; };   /* 64 bytes */

struct s_int8 make_s_int8(int seed);
double sum_s_int8(struct s_int8 s);
struct s_int8 bump_s_int8(struct s_int8 s);
struct s_int16x1_int8 make_s_int16x1_int8(int seed);
double sum_s_int16x1_int8(struct s_int16x1_int8 s);
struct s_int16x1_int8 bump_s_int16x1_int8(struct s_int16x1_int8 s);
struct s_int8x3 make_s_int8x3(int seed);
double sum_s_int8x3(struct s_int8x3 s);
struct s_int8x3 bump_s_int8x3(struct s_int8x3 s);
struct s_int32x2 make_s_int32x2(int seed);
double sum_s_int32x2(struct s_int32x2 s);
struct s_int32x2 bump_s_int32x2(struct s_int32x2 s);
struct s_int32x3 make_s_int32x3(int seed);
double sum_s_int32x3(struct s_int32x3 s);
struct s_int32x3 bump_s_int32x3(struct s_int32x3 s);
struct s_int64x2 make_s_int64x2(int seed);
double sum_s_int64x2(struct s_int64x2 s);
struct s_int64x2 bump_s_int64x2(struct s_int64x2 s);
struct s_int64x3 make_s_int64x3(int seed);
double sum_s_int64x3(struct s_int64x3 s);
struct s_int64x3 bump_s_int64x3(struct s_int64x3 s);
struct s_float1 make_s_float1(int seed);
double sum_s_float1(struct s_float1 s);
struct s_float1 bump_s_float1(struct s_float1 s);
struct s_float3 make_s_float3(int seed);
double sum_s_float3(struct s_float3 s);
struct s_float3 bump_s_float3(struct s_float3 s);
struct s_double2 make_s_double2(int seed);
double sum_s_double2(struct s_double2 s);
struct s_double2 bump_s_double2(struct s_double2 s);
struct s_double4 make_s_double4(int seed);
double sum_s_double4(struct s_double4 s);
struct s_double4 bump_s_double4(struct s_double4 s);
struct s_int_float make_s_int_float(int seed);
double sum_s_int_float(struct s_int_float s);
struct s_int_float bump_s_int_float(struct s_int_float s);
struct s_double_int make_s_double_int(int seed);
double sum_s_double_int(struct s_double_int s);
struct s_double_int bump_s_double_int(struct s_double_int s);
struct s_char_double_short make_s_char_double_short(int seed);
double sum_s_char_double_short(struct s_char_double_short s);
struct s_char_double_short bump_s_char_double_short(struct s_char_double_short s);
struct s_float_int64 make_s_float_int64(int seed);
double sum_s_float_int64(struct s_float_int64 s);
struct s_float_int64 bump_s_float_int64(struct s_float_int64 s);
struct s_mixed64 make_s_mixed64(int seed);
double sum_s_mixed64(struct s_mixed64 s);
struct s_mixed64 bump_s_mixed64(struct s_mixed64 s);

/* Nested structs and arrays inside structs. */
struct point { int32_t x; int32_t y; };
struct rect { struct point top_left; struct point bottom_right; };
struct sample { uint16_t id; float values[3]; char label[6]; };   /* 24 bytes */

struct rect make_rect(int32_t x, int32_t y, int32_t width, int32_t height);
int64_t rect_area(struct rect r);
struct sample make_sample(uint16_t id, float base);
double sample_total(struct sample s);
/* Two structs by value (the same value may be passed twice): a.top_left.x * 1000 + b.bottom_right.y. */
int64_t rect_pair_mix(struct rect a, struct rect b);

/* A union by value. */
union number { int64_t i; double d; float f; uint8_t bytes[8]; };
union number number_from_double(double d);
union number number_from_int(int64_t i);
double number_as_double(union number n);
int64_t number_as_int(union number n);

/* An enum with explicit (and one negative, one large) values. */
enum color { COLOR_RED = 1, COLOR_GREEN = 2, COLOR_BLUE = 4, COLOR_NONE = -1,
             COLOR_ULTRAVIOLET = 100000 };
enum color next_color(enum color c);
const char *color_name(enum color c);

/* A packed struct (7 bytes, unaligned fields) by value, and one under #pragma pack(2). */
struct __attribute__((packed)) packed_record { uint8_t tag; uint32_t value; uint16_t extra; };
struct packed_record make_packed_record(uint8_t tag, uint32_t value, uint16_t extra);
uint64_t packed_record_sum(struct packed_record r);

#pragma pack(push, 2)
struct pack2_record { uint8_t tag; uint64_t value; uint8_t tail; };
#pragma pack(pop)
uint64_t pack2_record_sum(const struct pack2_record *r);

/* Over-aligned, and a flexible array member. */
struct aligned_block { int32_t id; } __attribute__((aligned(16)));
struct byte_string { uint32_t length; uint8_t bytes[]; };
int32_t aligned_block_id(const struct aligned_block *b);
uint32_t byte_string_sum(const struct byte_string *s);

/* Bitfields, passed by pointer. */
struct flags {
    unsigned int ready : 1;
    unsigned int mode : 3;
    signed int level : 5;
    unsigned int count : 12;
    uint8_t tail;
};
struct flags make_flags_value(unsigned int ready, unsigned int mode, int level, unsigned int count);
void set_flags(struct flags *f, unsigned int ready, unsigned int mode, int level, unsigned int count);
int64_t flags_checksum(const struct flags *f);

/* ---- Pointers and out-parameters ---------------------------------------------------------- */

void divmod(int a, int b, int *quotient, int *remainder);
int64_t sum_int32_array(const int32_t *values, size_t count);
void fill_sequence(int32_t *out, size_t count, int32_t start, int32_t step);
void swap_int32(int32_t *a, int32_t *b);
void point_scale(struct point *p, int32_t factor);
bool is_null(const void *p);

/* ---- Strings ------------------------------------------------------------------------------ */

size_t string_length(const char *s);
void string_to_upper(char *s);
char *string_repeat(const char *s, int times); /* malloc'd: release with string_free */
void string_free(char *s);
const char *string_or_null(bool give);

/* ---- Variadic functions ------------------------------------------------------------------- */

int sum_ints(int count, ...);
double sum_doubles(int count, ...);
int format_into(char *buffer, size_t capacity, const char *format, ...);

/* ---- errno -------------------------------------------------------------------------------- */

/* Sets errno to `code` and returns -1. */
int fail_with_errno(int code);

/* ---- Globals ------------------------------------------------------------------------------ */

extern int fixture_counter;
extern const char *fixture_version;
extern struct point fixture_origin;
int bump_counter(void);

/* ---- Callbacks ---------------------------------------------------------------------------- */

typedef int (*int_map_fn)(int value);
typedef int (*compare_fn)(const void *a, const void *b);
typedef int (*thread_fn)(int value, void *user_data);
typedef struct point (*point_fn)(struct point p);

/* A C comparator (ascending ints), to compare Rust callbacks against. */
int compare_ints_ascending(const void *a, const void *b);

void map_ints(int *values, size_t count, int_map_fn f);
void sort_ints(int *values, size_t count, compare_fn compare);
/* Runs f(value, user_data) on a new thread, joins it, returns its result (or INT_MIN when the
 * thread could not start). */
int call_on_new_thread(thread_fn f, int value, void *user_data);
struct point transform_point(struct point p, point_fn f);

/* ---- Faults: C that ends or stalls its process (isolated calls make them errors) --------- */

/* Stores through a NULL pointer: SIGSEGV. */
int ffikit_fault_segfault(void);
/* abort(): SIGABRT. */
int ffikit_fault_abort(void);
/* exit(status), running the process's exit handlers. */
int ffikit_fault_exit(int status);
/* Never returns: a busy loop. */
int ffikit_fault_spin(void);
/* Allocates and touches `bytes`, never freeing them; aborts when refused (as xmalloc does). */
void *ffikit_fault_leak(size_t bytes);

/* ---- Layout facts: gcc's own sizeof, alignof and offsets ----------------------------------
 * One fact per type (field_name NULL: size and align of the type) and per field (size and
 * align of the field's type, bit offset and bit width; bitfields have size 0). */
struct ffikit_layout_fact {
    const char *type_name;
    const char *field_name;
    uint64_t size;
    uint64_t align;
    uint64_t bit_offset;
    uint64_t bit_width;
};
size_t ffikit_layout_facts(const struct ffikit_layout_fact **facts);

/* ---- Self-description: this header's declarations as C text ------------------------------- */

const char *ffikit_manifest(void);

#endif
