"""The conformance sample (tests/data/conformance-sample.json: real calls with expected
results confirmed with Python's ctypes) through the Python module — the suite the Rust API
and the CLI run too (tests/conformance.rs): numbers, strings (passed as C objects, so their
addresses are known), NULL, structs by value (by name), _Complex values, zeroed buffers,
arrays, out- and in/out-parameters, values saved by one step for the next, the harness's
callbacks, variadic arguments, errno, and every bad-input case. Not expressible here: a
`char *` result pointing into an argument, or freed by a later step — the module returns a
`char *` result as bytes (ctypes' `c_char_p` convention), so its address is not kept (declare
it `void *` to keep one)."""

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


def char_result(declaration):
    """Whether the declaration returns a `char *` (read as bytes here)."""
    head = declaration.split("(")[0]
    return "char" in head and "*" in head


def fixed_parameters(declaration):
    """How many parameters come before `...` (all of them for a fixed signature)."""
    params = declaration[declaration.index("(") + 1 : declaration.rindex(")")]
    named = [p for p in params.split(",") if p.strip() not in ("", "void", "...")]
    return len(named)


def supported(case):
    steps = case.get("steps", [case])
    if any(char_result(step["declaration"]) for step in steps) and aliased(case["expected"]):
        return False
    if any(char_result(step["declaration"]) for step in steps) and "steps" in case:
        return False
    for step in steps:
        for spec in step["args"]:
            if isinstance(spec, dict) and "ptr_to_ptr" in spec:
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
        self.saved = {}  # name -> value, for later steps' {"ref": name}
        self.rows = []  # what sqlite_collect_rows collected

    def argument(self, index, spec):
        ffi = self.ffi
        if isinstance(spec, str):
            # A string as a C object, so that a result pointing into it can be told.
            data = spec.encode()
            text = ffi.new("char[]", data)
            self.objects[index] = ({"string": spec}, text)
            return text
        if not isinstance(spec, dict):
            return spec
        if "ref" in spec:
            return self.saved[spec["ref"]]
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
        if "out" in spec or "inout" in spec:
            out = ffi.new(spec.get("out", spec.get("inout")) + " *")
            if "inout" in spec:
                out.set(spec["value"])
            self.objects[index] = (spec, out)
            return out
        if "callback" in spec:
            name = spec["callback"]
            if name == "sqlite_collect_rows":

                def collect(arg, count, values, names):
                    cells = ffi.cast("char **", values)
                    self.rows.append(
                        [
                            None if cells[i] == ffi.NULL else ffi.string(cells[i]).decode()
                            for i in range(count)
                        ]
                    )
                    return 0

                callback = ffi.callback("int (*)(void *, int, char **, char **)", collect)
                self.keep.append(callback)
                return callback
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

    def address_of(self, value):
        """Where a result or out-value points: {pointer_into_arg, offset} into an argument."""
        for index, (spec, obj) in self.objects.items():
            if isinstance(value, int) and obj.address <= value < obj.address + self.ffi.sizeof(obj):
                return {"pointer_into_arg": index, "offset": value - obj.address}
        return value

    def save(self, spec, obj):
        if isinstance(spec, dict) and "save_as" in spec:
            if "buffer" in spec:
                self.saved[spec["save_as"]] = obj
            else:
                value = obj.value()
                self.saved[spec["save_as"]] = self.ffi.cast("void *", value) if spec.get("out", "").endswith("*") else value

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
            if ("out" in spec or "inout" in spec) and "out" in record:
                value = obj.value()
                if spec.get("out", "").endswith("*"):
                    value = None if value is None else self.address_of(value)
                    if spec["out"] != "char *" and value is not None and not isinstance(value, dict):
                        value = {"non_null": True}
                record["out"][key] = value
        if "callback" in observe:
            record["callback"] = {"rows": self.rows}
        return record


@pytest.mark.parametrize("case", [c for c in CASES if supported(c)], ids=lambda case: case["id"])
def test_case(case):
    expected = case["expected"]
    ffi = ffikit.FFI()
    harness = Harness(ffi)

    def call(step):
        harness.objects = {}
        name = step["declaration"].split("(")[0].split()[-1].lstrip("*")
        ffi.cdef(step["declaration"] + ";")
        function = getattr(ffi.dlopen(case["library"]), name)
        fixed = fixed_parameters(step["declaration"])
        vararg_types = step.get("vararg_types", case.get("vararg_types", []))

        def variadic(i, spec):
            # As CFFI takes them: a cdata of the argument's C type (the sample's
            # `vararg_types`; C's promotions are the module's job).
            if isinstance(spec, str):
                text = ffi.new("char[]", spec.encode())
                harness.keep.append(text)
                return text
            value = harness.argument(i, spec)
            if isinstance(value, ffikit.FFI.CData):
                return value
            return ffi.cast(vararg_types[i - fixed], value)

        args = [
            variadic(i, spec) if i >= fixed else harness.argument(i, spec)
            for i, spec in enumerate(step["args"])
        ]
        ffi.errno = 0
        result = function(*args)
        # CFFI's conventions: a pointer result is a cdata (a `char *` read with ffi.string),
        # a struct result a cdata whose fields are read.
        if isinstance(result, ffikit.FFI.CData):
            kind = ffi.typeof(result).kind
            if kind == "pointer" and char_result(step["declaration"]):
                result = None if result == ffi.NULL else ffi.string(result).decode()
            elif kind == "pointer":
                result = harness.address_of(int(ffi.cast("uintptr_t", result)))
            elif kind in ("struct", "union"):
                result = {name: getattr(result, name) for name, _ in ffi.typeof(result).fields}
        for index, (spec, obj) in harness.objects.items():
            harness.save(spec, obj)
        return harness.observed(result, step["observe"]) if "observe" in step else result

    def run():
        if "cdefs" in case:
            ffi.cdef(case["cdefs"])
        if "steps" in case:
            return {"steps": [call(step) for step in case["steps"]]}
        return call(case)

    if isinstance(expected, dict) and expected.get("error") == "CallbackFailed":
        # The engine reports a failed callback as CallbackFailed; from Python the foreign
        # call raises the callable's own exception once C returns.
        with pytest.raises(RuntimeError, match="the harness's comparator raises"):
            run()
        return
    if isinstance(expected, dict) and "error" in expected:
        with pytest.raises(ffikit.Error) as error:
            run()
        kinds = [expected["error"]] + expected.get("acceptable_alternatives", [])
        assert error.value.kind in kinds, f"{error.value.kind}: {error.value}"
        return
    got = run()
    if isinstance(expected, dict) and "dynamic" in expected:
        if expected["dynamic"] != "calling_process_pid":
            pytest.skip("a dynamic expectation not ported")
        expected = os.getpid()
    assert same(expected, got), f"{case['id']}: expected {expected!r}, got {got!r}"


def test_the_ported_share():
    """All but the two `char *`-result cases run through the Python front-end."""
    ported = [c for c in CASES if supported(c)]
    assert len(ported) == len(CASES) - 2, [c["id"] for c in CASES if not supported(c)]
