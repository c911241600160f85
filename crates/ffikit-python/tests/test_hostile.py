"""Hostile inputs to the Python module (issue 26): each gets a clear Python exception, never a
crash, an abort, a silent wrong result or unbounded time and memory.

Run by `cargo test --workspace` (tests/python.rs); the fixture library's path comes in
FFIKIT_FIXTURES.
"""

import os
import resource
import subprocess
import sys
import textwrap
import traceback

import pytest

import ffikit

FIXTURES = os.environ.get("FFIKIT_FIXTURES")


@pytest.fixture(scope="module")
def ffi():
    ffi = ffikit.FFI()
    ffi.cdef(
        """
        struct point { int32_t x; int32_t y; };
        struct rect { struct point top_left; struct point bottom_right; };
        int64_t rect_pair_mix(struct rect a, struct rect b);
        int64_t rect_area(struct rect r);
        void qsort(void *base, size_t n, size_t size, int (*compare)(const void *, const void *));
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


def test_a_list_that_contains_itself_is_a_value_error(ffi, libc, fixtures):
    looped = [1, 2]
    looped.append(looped)
    # No C type holds it: a TypeError where the element must be a number, a ValueError where
    # the nesting itself is refused — never a crash.
    with pytest.raises(TypeError):
        ffi.new("int[3]", looped)
    # For a pointer: a temporary array of its items (here void: refused).
    with pytest.raises(TypeError):
        libc.qsort(looped, 3, 4, ffikit.FFI.NULL)
    # For a struct by value: the walk over the value stops at C's depth.
    with pytest.raises(ValueError, match="contains itself"):
        fixtures.rect_area(looped)
    # As deep as a C type may be (128): a self-nested list is followed that far, no further.
    self_nested = []
    self_nested.append(self_nested)
    with pytest.raises(TypeError):
        ffi.new("int" + "[1]" * 120, self_nested)


def test_a_million_deep_list_or_dict_is_a_value_error(ffi, fixtures):
    deep = []
    for _ in range(10**6):
        deep = [deep]
    with pytest.raises(TypeError):
        ffi.new("int[1]", deep)
    with pytest.raises(ValueError, match="deep"):
        fixtures.rect_area(deep)
    deep_dict = {}
    for _ in range(10**6):
        deep_dict = {"x": deep_dict}
    with pytest.raises(TypeError):
        ffi.new("struct point *", deep_dict)
    with pytest.raises(ValueError, match="deep"):
        fixtures.rect_area(deep_dict)


def _run_limited(code):
    """Runs `code` in a child Python whose address space is limited to 512 MiB."""
    script = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
        """
    ) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


def test_a_refused_allocation_is_a_memory_error():
    done = _run_limited(
        """
        import ffikit
        ffi = ffikit.FFI()
        try:
            ffi.new("char[1000000000]")
        except MemoryError as error:
            assert isinstance(error, ffikit.Error) and error.kind == "OutOfMemory", error
            print("MemoryError:", error)
        small = ffi.new("char[1000]")
        assert len(small) == 1000
        """
    )
    assert done.returncode == 0 and "MemoryError:" in done.stdout, done.stderr


def test_len_and_repr_of_a_large_array_are_bounded(ffi):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    big = ffi.new("char[200000000]")
    assert len(big) == 200_000_000
    assert repr(big) == "<cdata 'char[200000000]' owning 200000000 bytes>"
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # len and repr read no element: the pages stay untouched (calloc'd), far below 200 MB.
    assert after - before < 50_000, (before, after)


def test_an_exception_in_a_callback_is_the_exception_itself(ffi, libc):
    array = ffi.new("int[4]", [4, 3, 2, 1])

    class Special(Exception):
        pass

    def broken(a, b):
        raise Special("the comparator's own")

    callback = ffi.callback("int (*)(const void *, const void *)", broken)
    with pytest.raises(Special) as raised:
        libc.qsort(array, 4, 4, callback)
    # Its traceback reaches into the callable.
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "broken" in frames, frames

    def interrupted(a, b):
        raise KeyboardInterrupt

    callback = ffi.callback("int (*)(const void *, const void *)", interrupted)
    # Not swallowed by `except Exception`: a BaseException stays itself.
    with pytest.raises(KeyboardInterrupt):
        try:
            libc.qsort(array, 4, 4, callback)
        except Exception:
            pytest.fail("a KeyboardInterrupt was caught as an Exception")


def test_the_same_c_object_twice_by_value(ffi, fixtures):
    r = ffi.new("struct rect *", {"top_left": {"x": 7, "y": 1}, "bottom_right": {"x": 3, "y": 9}})
    # C: a.top_left.x * 1000 + b.bottom_right.y, with a and b the same value.
    assert fixtures.rect_pair_mix(r[0], r[0]) == 7 * 1000 + 9
    other = ffi.new("struct rect *", {"top_left": {"x": 1, "y": 1}, "bottom_right": {"x": 2, "y": 5}})
    assert fixtures.rect_pair_mix(r[0], other[0]) == 7005
    assert fixtures.rect_pair_mix(other[0], r[0]) == 1009
    # The object is intact and usable afterwards.
    assert fixtures.rect_pair_mix(r[0], r[0]) == 7009


def test_a_buffer_larger_than_its_object_is_refused(ffi):
    p = ffi.new("int[3]")
    for size in [13, 2**63, 2**64 - 1]:
        with pytest.raises(ValueError, match="has 12"):
            ffi.buffer(p, size)
    with pytest.raises(OverflowError):
        ffi.buffer(p, 2**64)
    assert len(ffi.buffer(p, 12)) == 12
    assert len(ffi.buffer(p, 5)) == 5


def test_a_cast_to_a_malformed_type_is_the_parsers_error(ffi):
    with pytest.raises(ffikit.CDefError) as bad:
        ffi.cast("int int garbage ! *", 8)
    assert "^" in str(bad.value)
    with pytest.raises(ffikit.Error):
        ffi.cast("char[9999999999999] *", 8)
    # `void *` still casts (nothing to read).
    assert int(ffi.cast("intptr_t", ffi.cast("void *", 8))) == 8


def test_a_cdef_error_has_line_caret_and_reason(ffi):
    with pytest.raises(ffikit.CDefError) as bad:
        ffi.cdef("int f(int;")
    text = str(bad.value)
    assert "line 1" in text and "^" in text and "int f(int;" in text, text
