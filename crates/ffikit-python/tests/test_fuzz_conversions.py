"""Property-based fuzzing of the Python-to-C conversions (issue 26): arbitrary nested Python
values — ints of any size, floats, bytes, str, None, bools, lists, tuples, dicts, cycles —
against declared C types, through `ffi.new` and through calls of functions that take values
(never addresses: a random int passed as a pointer would be a real wild pointer).

The property: every input gets an answer — a C object or a Python exception of the kinds
CFFI users expect (TypeError, ValueError, OverflowError, KeyError, AttributeError,
IndexError, MemoryError, or an ffikit.Error) — never a crash, and where it succeeds the value
reads back as written. `FFIKIT_FUZZ_EXAMPLES` sets the number of examples per property
(tests/python.rs reports the count); what it has found is kept below as `@example`s.
"""

import math
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ffikit

FIXTURES = os.environ.get("FFIKIT_FIXTURES")
EXAMPLES = int(os.environ.get("FFIKIT_FUZZ_EXAMPLES", "300"))

EXPECTED = (
    TypeError,
    ValueError,
    OverflowError,
    KeyError,
    AttributeError,
    IndexError,
    MemoryError,
    ffikit.Error,
)

DECLARATIONS = """
    struct point { int32_t x; int32_t y; };
    struct rect { struct point top_left; struct point bottom_right; };
    union number { int64_t i; double d; float f; uint8_t bytes[8]; };
    struct sample { uint16_t id; float values[3]; char label[6]; };
    int gcd(int a, int b);
    int64_t rect_area(struct rect r);
    double number_as_double(union number n);
    double sample_total(struct sample s);
"""

TYPES = [
    "int",
    "char",
    "unsigned char",
    "int8_t",
    "uint64_t",
    "int64_t",
    "double",
    "float",
    "_Bool",
    "int[3]",
    "char[4]",
    "double[2]",
    "int[2][2]",
    "struct point",
    "struct rect",
    "union number",
    "struct sample",
    "struct point[2]",
    "char *",
    "void *",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=12),
    st.text(max_size=8),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
)
keys = st.sampled_from(["x", "y", "top_left", "bottom_right", "i", "d", "f", "bytes", "id",
                        "values", "label", "nope", ""])
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def ffi():
    ffi = ffikit.FFI()
    ffi.cdef(DECLARATIONS)
    return ffi


@pytest.fixture(scope="module")
def fixtures(ffi):
    if not FIXTURES:
        pytest.skip("FFIKIT_FIXTURES is not set (run through cargo test)")
    return ffi.dlopen(FIXTURES)


def _reads_back(made, value):
    """Where a scalar int or float was written whole, it reads back the same."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    got = made[0]
    if isinstance(value, float) and isinstance(got, float):
        assert got == value or (math.isnan(got) and math.isnan(value)) or abs(got - value) <= abs(value) * 1e-6 or math.isinf(value)
    elif isinstance(value, int) and isinstance(got, int):
        assert got == value


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(type_name=st.sampled_from(TYPES), value=values)
@example(type_name="int[3]", value=[1, [2, [3, [4]]]])
@example(type_name="struct point", value={"x": 2**40, "y": 0})
@example(type_name="char[4]", value=b"abcdef")
@example(type_name="struct rect", value=[[1, 2], [3, 4, 5]])
@example(type_name="union number", value={"i": 1, "d": 2.0})
def test_new_answers_every_value(ffi, type_name, value):
    try:
        made = ffi.new(type_name + " *", value)
    except EXPECTED:
        return
    if type_name in ("int", "int64_t", "uint64_t", "double"):
        _reads_back(made, value)


def _cyclic():
    looped = [1, 2]
    looped.append(looped)
    return looped


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(function=st.sampled_from(["gcd", "rect_area", "number_as_double", "sample_total"]),
       args=st.lists(values, max_size=3))
@example(function="rect_area", args=[_cyclic()])
@example(function="gcd", args=[2**64, 1])
@example(function="sample_total", args=[{"id": 1, "values": [1.0, 2.0, 3.0, 4.0]}])
def test_calls_answer_every_argument_list(fixtures, function, args):
    try:
        getattr(fixtures, function)(*args)
    except EXPECTED:
        pass
