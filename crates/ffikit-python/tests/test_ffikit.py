"""The ffikit Python module on the fixture library and real libraries (libc, libm, libz).

Each result is checked against an independent source: Python's own math, zlib and ctypes
(sizes and offsets), or the value the C fixture is documented to compute. Run by
`cargo test --workspace` (tests/python.rs builds the module and runs pytest); the fixture
library's path comes in FFIKIT_FIXTURES.
"""

import ctypes
import gc
import math
import os
import sys
import zlib

import pytest

import ffikit

FIXTURES = os.environ.get("FFIKIT_FIXTURES")


@pytest.fixture(scope="module")
def ffi():
    ffi = ffikit.FFI()
    ffi.cdef(
        """
        int gcd(int a, int b);
        double get_pi(void);
        struct s_int64x2 { int64_t a; int64_t b; };
        double sum_s_int64x2(struct s_int64x2 s);
        size_t strlen(const char *s);
        int strcmp(const char *a, const char *b);
        void qsort(void *base, size_t n, size_t size, int (*compare)(const void *, const void *));
        double cos(double x);
        unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);
        struct pair { char tag; double value; int count; };
        #define ANSWER 42
        #define GREETING "hello"
        #define HALF 0.5
        """
    )
    return ffi


@pytest.fixture(scope="module")
def fixtures(ffi):
    if not FIXTURES:
        pytest.skip("FFIKIT_FIXTURES is not set (run through cargo test)")
    return ffi.dlopen(FIXTURES)


@pytest.fixture(scope="module")
def libc(ffi):
    return ffi.dlopen("libc.so.6")


def test_scalars_match_python(fixtures):
    for a, b in [(1071, 462), (0, 5), (-12, 18), (2**31 - 1, 7)]:
        assert fixtures.gcd(a, b) == math.gcd(a, b)
    assert fixtures.get_pi() == math.pi


def test_real_libraries_match_python(ffi, libc):
    libm = ffi.dlopen("libm.so.6")
    libz = ffi.dlopen("libz.so.1")
    for x in [0.0, 0.5, -2.25, 100.0]:
        assert libm.cos(x) == math.cos(x)
    data = b"The quick brown fox jumps over the lazy dog"
    assert libz.crc32(0, data, len(data)) == zlib.crc32(data)
    assert libc.strlen(b"hello") == 5
    assert libc.strlen("h\u00e9llo") == len("h\u00e9llo".encode())
    assert libc.strcmp(b"abc", b"abd") < 0


def test_bad_arguments_are_typed_python_errors(fixtures, libc):
    with pytest.raises(ffikit.ArgumentTypeError) as arity:
        fixtures.gcd(1)
    assert isinstance(arity.value, TypeError) and "takes 2 arguments, 1 given" in str(arity.value)
    with pytest.raises(OverflowError) as overflow:
        fixtures.gcd(1, 2**40)
    assert isinstance(overflow.value, ffikit.Error)
    assert "out of range for `int`" in str(overflow.value)
    with pytest.raises(TypeError, match="expected an integer for `int`"):
        fixtures.gcd("x", 1)
    with pytest.raises(TypeError, match="NUL"):
        libc.strlen("a\0b")
    # bytes are data as CFFI passes them: C sees them up to the first NUL.
    assert libc.strlen(b"a\0b") == 1
    with pytest.raises(OverflowError):
        fixtures.gcd(2**70, 1)
    with pytest.raises(TypeError):
        libc.strlen(None)


def test_declaration_and_library_errors(ffi):
    with pytest.raises(ffikit.CDefError) as bad:
        ffi.cdef("int f(int x y);")
    assert isinstance(bad.value, ValueError)
    with pytest.raises(OSError) as missing:
        ffi.dlopen("ffikit-no-such-library")
    assert isinstance(missing.value, ffikit.LibraryError) and "not found" in str(missing.value)
    lib = ffi.dlopen("libc.so.6")
    with pytest.raises(AttributeError, match="not declared"):
        lib.no_such_function


def test_constants(fixtures):
    assert fixtures.ANSWER == 42
    assert fixtures.GREETING == b"hello"
    assert fixtures.HALF == 0.5


def test_structs_by_value_and_layouts(ffi, fixtures):
    point = ffi.new("struct s_int64x2 *", [1 << 40, -5])
    assert (point.a, point.b) == (1 << 40, -5)
    # As in CFFI: the struct a pointer points to (`point[0]`) goes by value.
    assert fixtures.sum_s_int64x2(point[0]) == float((1 << 40) - 5)
    point.b = 7
    assert fixtures.sum_s_int64x2(point[0]) == float((1 << 40) + 7)
    by_name = ffi.new("struct s_int64x2 *", {"a": 3, "b": 4})
    assert fixtures.sum_s_int64x2(by_name[0]) == 7.0

    # Sizes and offsets against ctypes' own layout of the same struct.
    class Pair(ctypes.Structure):
        _fields_ = [("tag", ctypes.c_char), ("value", ctypes.c_double), ("count", ctypes.c_int)]

    assert ffi.sizeof("struct pair") == ctypes.sizeof(Pair)
    assert ffi.offsetof("struct pair", "value") == Pair.value.offset
    assert ffi.offsetof("struct pair", "count") == Pair.count.offset
    assert ffi.sizeof("int[10]") == 10 * ctypes.sizeof(ctypes.c_int)
    # CFFI's initializers: partial ones leave the rest zero; too many are refused.
    assert ffi.new("struct s_int64x2 *", [1]).b == 0
    with pytest.raises(ValueError):
        ffi.new("struct s_int64x2 *", [1, 2, 3])


def test_qsort_with_a_python_comparator(ffi, libc):
    values = [5, -3, 99, 0, 42, 7, -100, 8]
    array = ffi.new("int[8]", values)

    def compare(a, b):
        # As in CFFI: the arguments are `const void *` cdata.
        x = ffi.cast("int *", a)[0]
        y = ffi.cast("int *", b)[0]
        return (x > y) - (x < y)

    callback = ffi.callback("int (*)(const void *, const void *)", compare)
    libc.qsort(array, len(values), 4, callback)
    assert array.value() == sorted(values)
    assert [array[i] for i in range(len(values))] == sorted(values)


def test_an_exception_in_a_callback_is_raised_by_the_call(ffi, libc):
    array = ffi.new("int[4]", [4, 3, 2, 1])

    def broken(a, b):
        raise ValueError("comparator broke")

    callback = ffi.callback("int (*)(const void *, const void *)", broken)
    # The callable's own exception, raised once C returns.
    with pytest.raises(ValueError, match="comparator broke"):
        libc.qsort(array, 4, 4, callback)
    # The process is fine and the next call works.
    assert libc.strlen(b"ok") == 2


def test_no_leak_over_many_calls_and_callbacks(ffi, fixtures, libc):
    text = b"a string argument"
    before_refs = sys.getrefcount(text)
    gc.collect()
    before_objects = len(gc.get_objects())
    for _ in range(100_000):
        fixtures.gcd(1071, 462)
        libc.strlen(text)
    array = ffi.new("int[64]", list(range(64, 0, -1)))
    callback = ffi.callback(
        "int (*)(const void *, const void *)",
        lambda a, b: ffi.cast("int *", a)[0] - ffi.cast("int *", b)[0],
    )
    for _ in range(300):
        libc.qsort(array, 64, 4, callback)
    gc.collect()
    assert sys.getrefcount(text) == before_refs
    # A few objects of the loops themselves at most, not one per call.
    assert len(gc.get_objects()) - before_objects < 100


def test_installed_headers_and_their_constants():
    ffi = ffikit.FFI()
    try:
        ffi.include("zlib.h")
    except ffikit.CDefError as error:
        pytest.skip(f"zlib.h is not installed here: {error}")
    libz = ffi.dlopen("libz.so.1")
    data = b"declared by the header"
    assert libz.crc32(0, data, len(data)) == zlib.crc32(data)
    assert libz.Z_OK == 0 and libz.Z_BEST_COMPRESSION == zlib.Z_BEST_COMPRESSION
    assert libz.ZLIB_VERSION.decode() == zlib.ZLIB_VERSION


def test_cast_pointers_read_c_memory(ffi, libc):
    values = [9, -4, 17, 0, 3]
    array = ffi.new("int[5]", values)
    pointer = ffi.cast("int *", array)
    assert [pointer[i] for i in range(5)] == values
    assert int(ffi.cast("intptr_t", pointer)) == array.address
    compare = ffi.callback(
        "int (*)(const void *, const void *)",
        lambda a, b: ffi.cast("int *", a)[0] - ffi.cast("int *", b)[0],
    )
    libc.qsort(array, 5, 4, compare)
    assert array.value() == sorted(values)
    # A cast to a number is a number cdata (C's conversion), as in CFFI.
    assert int(ffi.cast("int", 3.9)) == 3 and int(ffi.cast("unsigned char", 300)) == 44


def test_check_against_the_library_file(fixtures):
    # The fixture library's own declarations agree with its DWARF; a wrong one does not.
    right = ffikit.FFI()
    right.cdef("int gcd(int a, int b); double get_pi(void);")
    assert right.dlopen(FIXTURES).check() == []
    wrong = ffikit.FFI()
    wrong.cdef("int gcd(double a, int b);")
    problems = wrong.dlopen(FIXTURES).check()
    assert len(problems) == 1 and "gcd" in problems[0], problems


def test_a_callback_from_a_thread_c_starts_takes_the_gil(ffi):
    if not FIXTURES:
        pytest.skip("FFIKIT_FIXTURES is not set (run through cargo test)")
    threads = ffikit.FFI()
    threads.cdef("int call_on_new_thread(int (*f)(int value, void *user_data), int value, void *user_data);")
    fixtures = threads.dlopen(FIXTURES)
    import threading

    seen = []

    def triple(value, user_data):
        seen.append(threading.get_ident())
        return 3 * value

    callback = threads.callback("int (*)(int, void *)", triple)
    # The call releases the GIL (it takes a callback): the C thread's call takes it.
    assert fixtures.call_on_new_thread(callback, 14, None) == 42
    assert seen and seen[0] != threading.get_ident()


def test_errno_and_release_gil(ffi):
    errors = ffikit.FFI()
    errors.cdef("int close(int fd);")
    errors.cdef("unsigned int sleep(unsigned int seconds);", release_gil=True)
    libc = errors.dlopen("libc.so.6")
    assert libc.close(-1) == -1
    assert errors.errno == 9  # EBADF, as Python's os module names it
    import errno as python_errno

    assert errors.errno == python_errno.EBADF
    # A blocking call declared release_gil=True lets other Python threads run meanwhile.
    import threading
    import time

    ticks = []
    worker = threading.Thread(target=lambda: [ticks.append(time.sleep(0.01)) for _ in range(20)])
    worker.start()
    libc.sleep(1)
    during = len(ticks)
    worker.join()
    # Without releasing the GIL the worker could not tick while C slept.
    assert during >= 10, during


def test_libcrypto_sha256_matches_hashlib():
    import hashlib

    ffi = ffikit.FFI()
    # (The digest is not a string: the result is declared `void *`, not `unsigned char *`.)
    ffi.cdef("void *SHA256(const unsigned char *d, size_t n, unsigned char *md);")
    try:
        crypto = ffi.dlopen("libcrypto.so.3")
    except OSError:
        pytest.skip("libcrypto.so.3 is not installed here")
    data = b"ffikit hashes this through libcrypto"
    digest = ffi.new("unsigned char[32]")
    crypto.SHA256(data, len(data), digest)
    assert bytes(ffi.buffer(digest)) == hashlib.sha256(data).digest()


def test_sqlite3_exec_calls_a_python_callback_per_row():
    ffi = ffikit.FFI()
    ffi.cdef(
        """
        typedef struct sqlite3 sqlite3;
        int sqlite3_open(const char *filename, sqlite3 **db);
        int sqlite3_exec(sqlite3 *db, const char *sql,
                         int (*callback)(void *, int, char **, char **), void *arg, char **errmsg);
        int sqlite3_close(sqlite3 *db);
        """
    )
    try:
        sqlite = ffi.dlopen("libsqlite3.so.0")
    except OSError:
        pytest.skip("libsqlite3.so.0 is not installed here")
    import sqlite3

    holder = ffi.new("sqlite3 **")
    assert sqlite.sqlite3_open(b":memory:", holder) == 0
    db = ffi.cast("sqlite3 *", holder[0])
    rows = []

    def collect(arg, count, values, names):
        cells = ffi.cast("char **", values)
        row = []
        for i in range(count):
            address = cells[i]
            row.append(None if address == ffi.NULL else ffi.string(address).decode())
        rows.append(row)
        return 0

    callback = ffi.callback("int (*)(void *, int, char **, char **)", collect)
    query = "SELECT 1+1, 'x', NULL UNION ALL SELECT 3, 'y', 'z'"
    assert sqlite.sqlite3_exec(db, query.encode(), callback, None, None) == 0
    # Python's own sqlite3 module, on the same query, is the reference.
    expected = [[None if v is None else str(v) for v in row] for row in sqlite3.connect(":memory:").execute(query)]
    assert rows == expected
    assert sqlite.sqlite3_close(db) == 0


def test_callback_as_a_decorator(ffi, libc):
    array = ffi.new("int[6]", [4, -1, 8, 0, 15, 2])

    @ffi.callback("int (*)(const void *, const void *)")
    def descending(a, b):
        return ffi.cast("int *", b)[0] - ffi.cast("int *", a)[0]

    libc.qsort(array, 6, 4, descending)
    assert array.value() == sorted([4, -1, 8, 0, 15, 2], reverse=True)


def test_an_explicit_null_passes_for_a_string_but_none_does_not():
    # CFFI's rule: ffi.NULL is a deliberate NULL pointer (C APIs take one for `char *`),
    # None a missing value (strlen(NULL) is undefined behaviour).
    import locale

    ffi = ffikit.FFI()
    ffi.cdef("char *setlocale(int category, const char *locale); size_t strlen(const char *s);")
    libc = ffi.dlopen("libc.so.6")
    queried = libc.setlocale(locale.LC_ALL, ffi.NULL)  # NULL: query, change nothing
    assert ffi.string(queried).decode() == locale.setlocale(locale.LC_ALL)
    with pytest.raises(ffikit.Error) as error:
        libc.strlen(None)
    assert error.value.kind == "NullPointer"
    assert "argument 1 of `strlen`" in str(error.value)


def test_wide_characters_and_flexible_arrays():
    ffi = ffikit.FFI()
    ffi.cdef("size_t wcslen(const wchar_t *s); struct varsize { int n; short items[]; };")
    libc = ffi.dlopen("libc.so.6")
    text = "h\u00e9llo \U0001f600"
    wide = ffi.new("wchar_t[]", text)
    assert len(wide) == len(text) + 1 and ffi.string(wide) == text
    assert libc.wcslen(wide) == len(text)  # C's own count
    assert libc.wcslen(text) == len(text)  # a str for `const wchar_t *`, as CFFI
    utf16 = ffi.new("char16_t[]", "\U0001f600")
    assert len(utf16) == 3 and ffi.string(utf16) == "\U0001f600"  # a surrogate pair
    p = ffi.new("struct varsize *", [3, [7, 8, 9]])
    assert ffi.sizeof(p[0]) == ffi.sizeof("int")  # the fixed part, as C's sizeof
    assert len(p.items) == 3 and list(p.items) == [7, 8, 9]
    p.items[2] = -1
    assert ffi.cast("short *", ffi.cast("char *", p) + ffi.offsetof("struct varsize", "items"))[2] == -1


def test_the_first_item_of_a_struct_pointer_is_one_view_that_outlives_the_pointer():
    ffi = ffikit.FFI()
    ffi.cdef("struct s_int64x2 { int64_t a; int64_t b; };")
    p = ffi.new("struct s_int64x2 *", [1, 2])
    view = p[0]
    assert p[0] is view  # given again: `lib.f(p[0])` in a loop makes no object per call
    view.b = 40
    assert p.b == 40 and p[0].b == 40  # the same memory
    del p
    gc.collect()
    assert (view.a, view.b) == (1, 40)  # the view keeps the memory alive
    # A pointer with a gc destructor: its views keep it (so the destructor waits), not cached.
    freed = []
    q = ffi.gc(ffi.new("struct s_int64x2 *", [5, 6]), lambda _: freed.append(1))
    inner = q[0]
    assert q[0] is not inner
    del q
    gc.collect()
    assert freed == [] and inner.b == 6
    del inner
    gc.collect()
    assert freed == [1]


def test_a_struct_by_value_call_after_call_sees_each_value(ffi, fixtures):
    # The builtin reuses one value per struct parameter between calls: each call must still
    # see its own argument (a stale copy would repeat the first sum).
    values = [ffi.new("struct s_int64x2 *", [a, -a // 3]) for a in (1 << 40, 7, -12345, 0)]
    for _ in range(3):
        for p in values:
            assert fixtures.sum_s_int64x2(p[0]) == float(p.a + p.b)


def test_pointer_arithmetic_keeps_its_type_and_address(ffi):
    # `a + i` makes `int *` views (found in the declarations, not a copy of them per use).
    a = ffi.new("int[16]", list(range(16)))
    for i in range(16):
        q = a + i
        assert ffi.typeof(q) is ffi.typeof("int *")
        assert q[0] == i
        assert int(ffi.cast("intptr_t", q)) - int(ffi.cast("intptr_t", a)) == 4 * i


def test_every_cdata_is_an_instance_of_the_one_cdata_type(ffi, fixtures, libc):
    # `[]` and `.` are the CData type's own C slots: a cdata made as an instance of its base
    # would still work, but slowly and failing `isinstance(x, ffi.CData)`. Each way of
    # making a cdata is checked.
    a = ffi.new("int[4]", [1, 2, 3, 4])
    s = ffi.new("struct s_int64x2 *", [5, 6])
    buffer = bytearray(8)
    own = ffikit.FFI()
    own.cdef("char *strchr(const char *s, int c);")
    made = {
        "new": a,
        "new pointer": s,
        "index view": s[0],
        "element pointer": ffi.new("int *[1]")[0],
        "cast": ffi.cast("int *", 0),
        "cast number": ffi.cast("int", 7),
        "arithmetic": a + 1,
        "slice": a[1:3],
        "addressof": ffi.addressof(s[0], "b"),
        "from_buffer": ffi.from_buffer(buffer),
        "gc": ffi.gc(ffi.new("int *"), lambda p: None),
        "handle": ffi.new_handle(buffer),
        "callback": ffi.callback("int(int)", lambda x: x),
        "NULL": ffi.NULL,
        "returned pointer": own.dlopen("libc.so.6").strchr(b"abc", ord("b")),
        "function": ffi.addressof(fixtures, "gcd"),
    }
    for how, cdata in made.items():
        assert type(cdata) is ffi.CData, how
        assert type(cdata) is ffikit.CData, how
        assert isinstance(cdata, own.CData), how


def test_indexing_and_members_answer_through_the_type_slots(ffi):
    a = ffi.new("int[4]", [1, 2, 3, 4])
    assert [a[i] for i in range(4)] == [1, 2, 3, 4]
    a[2] = -7
    assert a[2] == -7 and a[True] == 2
    with pytest.raises(IndexError):
        a[4]
    with pytest.raises(IndexError):
        a[-1]
    with pytest.raises(OverflowError):
        a[2**70]
    with pytest.raises(TypeError):
        a["x"]
    with pytest.raises(TypeError):
        del a[0]
    p = a + 2
    assert p[-1] == 2 and p[1] == 4
    with pytest.raises(RuntimeError):
        ffi.cast("int *", 0)[0]
    s = ffi.new("struct s_int64x2 *", [5, 6])
    s.b = -3
    assert (s.a, s.b, s[0].b) == (5, -3, -3)
    with pytest.raises(AttributeError) as missing:
        s.c
    assert "c" in str(missing.value)
    with pytest.raises(AttributeError):
        del s.a
    with pytest.raises(TypeError):
        ffi.CData.__getattribute__(s, 1)
    # The object's own attributes still come after the members.
    assert s.__class__ is ffi.CData and "a" in dir(s)


def test_the_variadic_part_takes_cdata_whose_types_say_how_c_gets_them():
    # CFFI's rule: a Python int or bytes there has no C type (int? long? a pointer?), so it
    # is refused rather than passed as a guess; a cdata passes as its type.
    ffi = ffikit.FFI()
    ffi.cdef("int snprintf(char *s, size_t n, const char *format, ...);")
    libc = ffi.dlopen(None)
    out = ffi.new("char[64]")
    for given in (42, 1.5, b"text", None):
        with pytest.raises(TypeError) as refused:
            libc.snprintf(out, 64, b"%d", given)
        assert str(refused.value) == (
            "argument 4 passed in the variadic part needs to be a cdata object "
            f"(got {type(given).__name__})"
        )
    count = libc.snprintf(
        out, 64, b"%d %ld %s %.2f",
        ffi.cast("int", -7), ffi.cast("long", 2**40), ffi.new("char[]", b"hi"),
        ffi.cast("double", 1.25),
    )
    expected = b"%d %ld %s %.2f" % (-7, 2**40, b"hi", 1.25)
    assert (count, ffi.string(out)) == (len(expected), expected)
    # The fixed part converts as always.
    assert libc.snprintf(out, 64, b"plain") == 5


def test_static_const_integers_are_constants_and_other_statics_are_not_in_the_library():
    ffi = ffikit.FFI()
    ffi.cdef(
        """
        static const int answer = 6 * 7;
        static const unsigned char wraps = 300;
        static const float ratio = 1.5;
        static int counter = 3;
        double sin(double x);
        """
    )
    libm = ffi.dlopen("libm.so.6")
    assert (libm.answer, libm.wraps) == (42, 300 % 256)
    for name in ("ratio", "counter"):
        with pytest.raises(NotImplementedError) as refused:
            getattr(libm, name)
        assert f"'{name}'" in str(refused.value)
    assert libm.sin(0.5) == math.sin(0.5)
    with pytest.raises(AttributeError):
        libm.undeclared
