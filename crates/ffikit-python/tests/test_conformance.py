"""The conformance sample (tests/data/conformance-sample.json: real calls with expected
results confirmed with Python's ctypes) through the Python module — the suite the Rust API
and the CLI run too (tests/conformance.rs). Ported here: numbers, strings, NULL, structs by
value (by name), _Complex values, zeroed buffers, arrays, scalar out-parameters, the
harness's comparators, variadic arguments, errno, and every bad-input case. Not yet: cases
of several steps, cases whose results alias their arguments, and pointer out-parameters."""

import ctypes
import json
import math
import os
import struct

import pytest

import ffikit

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "data", "conformance-sample.json")

with open(SAMPLE) as _sample:
    _EVERYTHING = json.load(_sample)
CASES = _EVERYTHING["cases"]

COMPARATORS = {
    "cmp_int_asc": ("int", lambda x, y: (x > y) - (x < y)),
    "cmp_double_desc": ("double", lambda x, y: (x < y) - (x > y)),
}


def aliased(expected):
    """Whether the expectation names a pointer into an argument (not ported)."""
    return "pointer_into_arg" in json.dumps(expected)


def supported(case):
    if "steps" in case or aliased(case["expected"]):
        return False
    for spec in case["args"]:
        if isinstance(spec, dict):
            kind = next(iter(spec))
            if kind == "out" and spec["out"].endswith("*"):
                return False
            if kind == "callback" and spec["callback"] not in COMPARATORS and spec["callback"] != "raise_error":
                return False
            if kind in ("ref", "ptr_to_ptr", "inout", "address"):
                return False
    return True


def same(expected, got):
    if isinstance(expected, dict) and "special" in expected:
        special = expected["special"]
        return (special == "nan" and math.isnan(got)) or (special != "nan" and got == float(special))
    if isinstance(expected, float) or isinstance(got, float):
        return struct.pack("<d", float(expected)) == struct.pack("<d", float(got))
    if isinstance(got, bytes) and isinstance(expected, str):
        return got.decode() == expected
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(same(expected[k], got[k]) for k in expected)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(same(e, g) for e, g in zip(expected, got))
    return expected == got


class Harness:
    """The arguments of one case as Python values, and what it observes afterwards."""

    def __init__(self, ffi):
        self.ffi = ffi
        self.objects = {}  # argument index -> (spec, C object)
        self.keep = []

    def argument(self, index, spec):
        ffi = self.ffi
        if not isinstance(spec, dict):
            return spec
        if "struct" in spec:
            return dict(spec["struct"])
        if "complex" in spec:
            return complex(*spec["complex"])
        if "bytes_hex" in spec:
            return bytes.fromhex(spec["bytes_hex"])
        if "buffer" in spec:
            buffer = ffi.new("char[%d]" % spec["buffer"])
            self.objects[index] = (spec, buffer)
            return buffer
        if "array" in spec:
            array = ffi.new("%s[%d]" % (spec["array"], len(spec["values"])), spec["values"])
            self.objects[index] = (spec, array)
            return array
        if "out" in spec:
            out = ffi.new(spec["out"] + " *")
            self.objects[index] = (spec, out)
            return out
        if "callback" in spec:
            name = spec["callback"]
            if name == "raise_error":

                def broken(a, b):
                    raise RuntimeError("the harness's comparator raises")

                callback = ffi.callback("int (*)(const void *, const void *)", broken)
            else:
                element, order = COMPARATORS[name]
                callback = ffi.callback(
                    "int (*)(const void *, const void *)",
                    lambda a, b: order(ffi.cast(element + " *", a)[0], ffi.cast(element + " *", b)[0]),
                )
            self.keep.append(callback)
            return callback
        raise NotImplementedError(spec)

    def observed(self, result, observe):
        record = {"return": result}
        for what in observe:
            if what == "errno":
                record["errno"] = self.ffi.errno
            if what in ("buffers", "arrays", "out"):
                record[what] = {}
        for index, (spec, obj) in self.objects.items():
            key = str(index)
            if "buffer" in spec and "buffers" in record:
                data = bytes(self.ffi.buffer(obj))
                if spec.get("repr") == "hex":
                    record["buffers"][key] = {"hex": data.hex()}
                else:
                    record["buffers"][key] = {"utf8": data.split(b"\0")[0].decode()}
            if "array" in spec and "arrays" in record:
                record["arrays"][key] = obj.value()
            if "out" in spec and "out" in record:
                record["out"][key] = obj.value()
        return record


@pytest.mark.parametrize("case", [c for c in CASES if supported(c)], ids=lambda case: case["id"])
def test_case(case):
    expected = case["expected"]
    ffi = ffikit.FFI()
    harness = Harness(ffi)

    def run():
        if "cdefs" in case:
            ffi.cdef(case["cdefs"])
        ffi.cdef(case["declaration"] + ";")
        library = ffi.dlopen(case["library"])
        name = case["declaration"].split("(")[0].split()[-1].lstrip("*")
        function = getattr(library, name)
        args = [harness.argument(i, spec) for i, spec in enumerate(case["args"])]
        ffi.errno = 0
        return function(*args)

    if isinstance(expected, dict) and "error" in expected:
        with pytest.raises(ffikit.Error) as error:
            run()
        kinds = [expected["error"]] + expected.get("acceptable_alternatives", [])
        assert error.value.kind in kinds, f"{error.value.kind}: {error.value}"
        return
    result = run()
    got = harness.observed(result, case["observe"]) if "observe" in case else result
    if isinstance(expected, dict) and "dynamic" in expected:
        if expected["dynamic"] != "calling_process_pid":
            pytest.skip("a dynamic expectation not ported")
        expected = os.getpid()
    assert same(expected, got), f"{case['id']}: expected {expected!r}, got {got!r}"


def test_the_ported_share():
    """Most of the sample runs through the Python front-end; what does not is said above."""
    ported = [c for c in CASES if supported(c)]
    assert len(ported) >= 24, [c["id"] for c in CASES if not supported(c)]
