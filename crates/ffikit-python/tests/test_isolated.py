"""`ffi.dlopen(name, isolated=True)`: the library in a worker process. Results are checked
against the same functions called in-process and against Python's own zlib; faults in C
(a segfault, abort, exit, a busy loop past the timeout) raise ffikit.WorkerError while this
Python lives on, and the next call works in a new worker."""

import os
import zlib

import pytest

import ffikit

FIXTURES = os.environ.get("FFIKIT_FIXTURES")

DECLARATIONS = """
    int gcd(int a, int b);
    ssize_t ffikit_convert_to_utf8(const char *from, const char *in, size_t in_len,
                                   char *out, size_t out_cap);
    int ffikit_fault_segfault(void);
    int ffikit_fault_abort(void);
    int ffikit_fault_exit(int status);
    int ffikit_fault_spin(void);
    double frexp(double x, int *exponent);
    unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);
    void *malloc(size_t size);
    char *strcpy(char *to, const char *from);
"""


@pytest.fixture(scope="module")
def ffi():
    ffi = ffikit.FFI()
    ffi.cdef(DECLARATIONS)
    return ffi


@pytest.mark.skipif(not FIXTURES, reason="FFIKIT_FIXTURES not set")
def test_calls_agree_with_in_process_calls(ffi):
    isolated = ffi.dlopen(FIXTURES, isolated=True)
    local = ffi.dlopen(FIXTURES)
    assert isolated.gcd(1071, 462) == local.gcd(1071, 462) == 21
    with pytest.raises(OverflowError):
        isolated.gcd(1 << 40, 1)  # checked here, before anything is sent
    # A buffer the worker's C writes comes back into the cdata.
    text = bytes(range(256))
    out = ffi.new("char[]", 600)
    written = isolated.ffikit_convert_to_utf8(b"LATIN1", text, len(text), out, 600)
    assert ffi.buffer(out, written)[:] == text.decode("latin-1").encode("utf-8")


@pytest.mark.skipif(not FIXTURES, reason="FFIKIT_FIXTURES not set")
@pytest.mark.parametrize(
    "name, args, words",
    [
        ("ffikit_fault_segfault", (), "signal 11 (SIGSEGV)"),
        ("ffikit_fault_abort", (), "signal 6 (SIGABRT)"),
        ("ffikit_fault_exit", (7,), "exited with status 7"),
        ("ffikit_fault_spin", (), "did not answer within"),
    ],
)
def test_faults_raise_and_the_next_call_works(ffi, name, args, words):
    lib = ffi.dlopen(FIXTURES, isolated=True, timeout=0.5)
    pid = lib.worker_pid()
    with pytest.raises(ffikit.WorkerError) as raised:
        getattr(lib, name)(*args)
    assert words in str(raised.value)
    assert isinstance(raised.value, OSError)
    assert lib.worker_pid() is None
    assert lib.gcd(12, 18) == 6
    assert lib.worker_pid() != pid


def test_real_libraries_out_parameters_and_handles(ffi):
    libm = ffi.dlopen("libm.so.6", isolated=True)
    exponent = ffi.new("int *")
    assert libm.frexp(8.0, exponent) == 0.5
    assert exponent[0] == 4
    libz = ffi.dlopen("libz.so.1", isolated=True)
    assert libz.crc32(0, b"123456789", 9) == zlib.crc32(b"123456789")
    libc = ffi.dlopen("libc.so.6", isolated=True)
    block = libc.malloc(16)
    assert isinstance(block, ffikit.Handle)
    libc.strcpy(block, "in the worker")
    assert libc.string(block) == b"in the worker"


def test_a_header_declares_for_the_worker_too():
    ffi = ffikit.FFI()
    ffi.include("zlib.h")
    libz = ffi.dlopen("libz.so.1", isolated=True)
    assert libz.crc32(0, b"123456789", 9) == zlib.crc32(b"123456789")


@pytest.mark.skipif(not FIXTURES, reason="FFIKIT_FIXTURES not set")
def test_callbacks_run_here_reading_the_worker_through_the_library():
    ffi = ffikit.FFI()
    ffi.cdef(
        """
        typedef int (*thread_fn)(int value, void *user_data);
        void sort_ints(int *values, size_t count, int (*compare)(const void *, const void *));
        int call_on_new_thread(thread_fn f, int value, void *user_data);
        """
    )
    lib = ffi.dlopen(FIXTURES, isolated=True)

    @ffi.callback("int(const void *, const void *)")
    def ascending(a, b):
        # Inside the callback, lib.read goes through the call in progress.
        x, y = lib.read(a, "int"), lib.read(b, "int")
        return (x > y) - (x < y)

    values = [5, -3, 9, 0, 2, 2, -8, 7]
    array = ffi.new("int[]", values)
    lib.sort_ints(array, len(values), ascending)
    assert list(array) == sorted(values)

    @ffi.callback("int(int, void *)")
    def triple(value, user_data):
        return value * 3

    assert lib.call_on_new_thread(triple, 14, ffi.NULL) == 42
