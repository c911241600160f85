"""The conformance sample (tests/data/conformance-sample.json, real calls with expected
results computed by Python's ctypes) through the Python module: the cases whose arguments
are numbers and strings and whose expectation is a value or an error of a kind — the same
suite the Rust API and the CLI run (tests/conformance.rs). Buffers, out-parameters, errno
and variadic cases are not ported to the Python front-end yet."""

import json
import math
import os
import struct

import pytest

import ffikit

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "data", "conformance-sample.json")


def cases():
    with open(SAMPLE) as sample:
        everything = json.load(sample)["cases"]
    chosen = []
    for case in everything:
        simple_args = all(isinstance(a, (int, float, str)) or a is None for a in case["args"])
        expected = case["expected"]
        plain = not isinstance(expected, dict) and "observe" not in case
        bad = isinstance(expected, dict) and "error" in expected
        if simple_args and (plain or bad) or case["id"] == "bad.callback.raises_inside_qsort":
            chosen.append(case)
    return chosen


def same(expected, got):
    if isinstance(expected, float) or isinstance(got, float):
        return struct.pack("<d", float(expected)) == struct.pack("<d", float(got)) or (
            math.isnan(expected) and math.isnan(got)
        )
    if isinstance(got, bytes) and isinstance(expected, str):
        return got.decode() == expected
    return expected == got


def argument(ffi, spec):
    if isinstance(spec, dict) and "array" in spec:
        return ffi.new("%s[%d]" % (spec["array"], len(spec["values"])), spec["values"])
    if isinstance(spec, dict) and spec.get("callback") == "raise_error":

        def broken(a, b):
            raise RuntimeError("the harness's comparator raises")

        return ffi.callback("int (*)(const void *, const void *)", broken)
    return spec


@pytest.mark.parametrize("case", cases(), ids=lambda case: case["id"])
def test_case(case):
    expected = case["expected"]
    ffi = ffikit.FFI()

    def run():
        ffi.cdef(case["declaration"] + ";")
        library = ffi.dlopen(case["library"])
        name = case["declaration"].split("(")[0].split()[-1].lstrip("*")
        function = getattr(library, name)
        return function(*[argument(ffi, spec) for spec in case["args"]])

    if isinstance(expected, dict) and "error" in expected:
        with pytest.raises(ffikit.Error) as error:
            run()
        kinds = [expected["error"]] + expected.get("acceptable_alternatives", [])
        assert error.value.kind in kinds, f"{error.value.kind}: {error.value}"
    else:
        got = run()
        assert same(expected, got), f"{case['id']}: expected {expected!r}, got {got!r}"
