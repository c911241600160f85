"""Spang's "Subprocess to FFI" comparison, in one Python process: the fixture workloads
through ctypes, CFFI's ABI mode, CFFI's API mode (a compiled extension, built here) and the
ffikit module, plus the `iconv` subprocess for the conversions. Run by
`ffikit compare --python`; every style's result is checked against one computed
independently before anything is timed.

The styles of a workload are timed in alternation: each style's batch is calibrated to take
at least --sample-ms, then each round times one batch of every style (starting with a
different one each round), and each ratio to CFFI's API mode is taken within a round.
"""

import argparse
import ctypes
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import timeit

import cffi
import ffikit

DECLARATIONS = """
int gcd(int a, int b);
double get_pi(void);
struct s_int64x2 { int64_t a; int64_t b; };
double sum_s_int64x2(struct s_int64x2 s);
ssize_t ffikit_convert_to_utf8(const char *from_encoding, const char *in, size_t in_len,
                               char *out, size_t out_cap);
"""
LIBC_DECLARATIONS = """
size_t strlen(const char *s);
void qsort(void *base, size_t n, size_t size, int (*compare)(const void *, const void *));
"""
STYLES = ["ctypes", "cffi-abi", "cffi-api", "ffikit", "subprocess"]
TEXT = b"ffikit calls strlen on this string"
SORTED = 1000


def build_cffi_api(fixtures, directory):
    """CFFI's API mode: the extension compiled here, linked to the fixture library."""
    builder = cffi.FFI()
    builder.cdef(DECLARATIONS + LIBC_DECLARATIONS)
    library_dir = os.path.dirname(os.path.abspath(fixtures))
    name = os.path.basename(fixtures)[3:-3]
    builder.set_source(
        "_ffikit_compare_api",
        "#include <stdint.h>\n#include <string.h>\n#include <stdlib.h>\n#include <sys/types.h>\n"
        + DECLARATIONS,
        libraries=[name],
        library_dirs=[library_dir],
        extra_link_args=["-Wl,-rpath," + library_dir],
    )
    sys.path.insert(0, directory)
    if not any(n.startswith("_ffikit_compare_api.") and n.endswith(".so") for n in os.listdir(directory)):
        builder.compile(tmpdir=directory, verbose=False)
    import _ffikit_compare_api

    return _ffikit_compare_api.ffi, _ffikit_compare_api.lib


class Ints:
    """The sort's input, fresh for each call."""

    def __init__(self):
        rng = random.Random(7)
        self.values = [rng.randrange(-(10**6), 10**6) for _ in range(SORTED)]


def workloads(fixtures, api):
    """Each workload: {style: (call, check)} where call() runs once and returns a result
    that check(result) verifies against Python's own computation."""
    c_lib = ctypes.CDLL(fixtures)
    c_libc = ctypes.CDLL("libc.so.6")
    a_ffi = cffi.FFI()
    a_ffi.cdef(DECLARATIONS + LIBC_DECLARATIONS)
    a_lib = a_ffi.dlopen(fixtures)
    a_libc = a_ffi.dlopen("libc.so.6")
    p_ffi, p_lib = api
    f_ffi = ffikit.FFI()
    f_ffi.cdef(DECLARATIONS + LIBC_DECLARATIONS)
    f_lib = f_ffi.dlopen(fixtures)
    f_libc = f_ffi.dlopen("libc.so.6")

    c_gcd = c_lib.gcd
    c_gcd.argtypes, c_gcd.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    c_pi = c_lib.get_pi
    c_pi.argtypes, c_pi.restype = [], ctypes.c_double
    c_strlen = c_libc.strlen
    c_strlen.argtypes, c_strlen.restype = [ctypes.c_char_p], ctypes.c_size_t

    class Pair(ctypes.Structure):
        _fields_ = [("a", ctypes.c_int64), ("b", ctypes.c_int64)]

    c_sum = c_lib.sum_s_int64x2
    c_sum.argtypes, c_sum.restype = [Pair], ctypes.c_double
    pair = Pair(1 << 40, -5)
    a_pair = a_ffi.new("struct s_int64x2 *", [1 << 40, -5])
    p_pair = p_ffi.new("struct s_int64x2 *", [1 << 40, -5])
    f_pair = f_ffi.new("struct s_int64x2 *", [1 << 40, -5])
    pair_sum = float((1 << 40) - 5)

    c_ints = (ctypes.c_int * 16)(*range(16))
    a_ints = a_ffi.new("int[16]", list(range(16)))
    p_ints = p_ffi.new("int[16]", list(range(16)))
    f_ints = f_ffi.new("int[16]", list(range(16)))

    # Each style: the statement timed (compiled into timeit's loop: no wrapper call) and its
    # names.
    result = {
        "gcd": {
            "ctypes": ("f(1071, 462)", {"f": c_gcd}),
            "cffi-abi": ("f(1071, 462)", {"f": a_lib.gcd}),
            "cffi-api": ("f(1071, 462)", {"f": p_lib.gcd}),
            "ffikit": ("f(1071, 462)", {"f": f_lib.gcd}),
        },
        "get_pi": {
            "ctypes": ("f()", {"f": c_pi}),
            "cffi-abi": ("f()", {"f": a_lib.get_pi}),
            "cffi-api": ("f()", {"f": p_lib.get_pi}),
            "ffikit": ("f()", {"f": f_lib.get_pi}),
        },
        "strlen": {
            "ctypes": ("f(t)", {"f": c_strlen, "t": TEXT}),
            "cffi-abi": ("f(t)", {"f": a_libc.strlen, "t": TEXT}),
            "cffi-api": ("f(t)", {"f": p_lib.strlen, "t": TEXT}),
            "ffikit": ("f(t)", {"f": f_libc.strlen, "t": TEXT}),
        },
        "struct16": {
            "ctypes": ("f(s)", {"f": c_sum, "s": pair}),
            "cffi-abi": ("f(s[0])", {"f": a_lib.sum_s_int64x2, "s": a_pair}),
            "cffi-api": ("f(s[0])", {"f": p_lib.sum_s_int64x2, "s": p_pair}),
            "ffikit": ("f(s[0])", {"f": f_lib.sum_s_int64x2, "s": f_pair}),
        },
        # The cdata operations users run in loops: an array's element, a struct's member.
        "index": {
            "ctypes": ("a[7]", {"a": c_ints}),
            "cffi-abi": ("a[7]", {"a": a_ints}),
            "cffi-api": ("a[7]", {"a": p_ints}),
            "ffikit": ("a[7]", {"a": f_ints}),
        },
        "member": {
            "ctypes": ("s.b", {"s": pair}),
            "cffi-abi": ("s.b", {"s": a_pair}),
            "cffi-api": ("s.b", {"s": p_pair}),
            "ffikit": ("s.b", {"s": f_pair}),
        },
        # A comparator's body: a `void *` cast to `int *` and read.
        "cast": {
            "ctypes": ("c(p, t)[0]", {"c": ctypes.cast, "p": ctypes.c_void_p(ctypes.addressof(c_ints) + 20), "t": ctypes.POINTER(ctypes.c_int)}),
            "cffi-abi": ('c("int *", p)[0]', {"c": a_ffi.cast, "p": a_ffi.cast("void *", a_ints + 5)}),
            "cffi-api": ('c("int *", p)[0]', {"c": p_ffi.cast, "p": p_ffi.cast("void *", p_ints + 5)}),
            "ffikit": ('c("int *", p)[0]', {"c": f_ffi.cast, "p": f_ffi.cast("void *", f_ints + 5)}),
        },
    }
    checks = {
        "gcd": lambda r: r == math.gcd(1071, 462),
        "get_pi": lambda r: r == math.pi,
        "strlen": lambda r: r == len(TEXT),
        "struct16": lambda r: r == pair_sum,
        "index": lambda r: r == 7,
        "member": lambda r: r == -5,
        "cast": lambda r: r == 5,
    }

    # qsort of 1,000 ints with a Python comparator, each style's own way of writing one.
    ints = Ints().values
    expected = sorted(ints)
    c_array_type = ctypes.c_int * SORTED
    c_compare = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))(
        lambda a, b: (a[0] > b[0]) - (a[0] < b[0])
    )
    c_qsort = c_libc.qsort
    c_qsort.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, type(c_compare)]
    c_qsort.restype = None

    def c_sort():
        array = c_array_type(*ints)
        c_qsort(array, SORTED, 4, c_compare)
        return list(array)

    a_compare = a_ffi.callback(
        "int (*)(const void *, const void *)",
        lambda a, b: _cmp(a_ffi.cast("int *", a)[0], a_ffi.cast("int *", b)[0]),
    )

    def a_sort():
        array = a_ffi.new("int[]", ints)
        a_libc.qsort(array, SORTED, 4, a_compare)
        return list(array)

    p_compare = p_ffi.callback(
        "int (*)(const void *, const void *)",
        lambda a, b: _cmp(p_ffi.cast("int *", a)[0], p_ffi.cast("int *", b)[0]),
    )

    def p_sort():
        array = p_ffi.new("int[]", ints)
        p_lib.qsort(array, SORTED, 4, p_compare)
        return list(array)

    # ffikit's comparator is CFFI's, word for word.
    f_compare = f_ffi.callback(
        "int (*)(const void *, const void *)",
        lambda a, b: _cmp(f_ffi.cast("int *", a)[0], f_ffi.cast("int *", b)[0]),
    )

    def f_sort():
        array = f_ffi.new("int[]", ints)
        f_libc.qsort(array, SORTED, 4, f_compare)
        return list(array)

    result["sort"] = {
        style: ("f()", {"f": f})
        for style, f in [("ctypes", c_sort), ("cffi-abi", a_sort), ("cffi-api", p_sort), ("ffikit", f_sort)]
    }
    checks["sort"] = lambda r: list(r) == expected

    # Latin-1 to UTF-8 through the fixture's iconv wrapper, and through `iconv` itself.
    for label, size in [("utf8-100B", 100), ("utf8-10MiB", 10 << 20)]:
        data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        utf8 = data.decode("latin-1").encode("utf-8")
        cap = 2 * size
        c_out = ctypes.create_string_buffer(cap)
        a_out = a_ffi.new("char[]", cap)
        p_out = p_ffi.new("char[]", cap)
        f_out = f_ffi.new("char[]", cap)
        c_convert = c_lib.ffikit_convert_to_utf8
        c_convert.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
        c_convert.restype = ctypes.c_ssize_t
        latin = b"ISO-8859-1"
        common = {"d": data, "n": len(data), "cap": cap, "latin": latin}
        result[label] = {
            "ctypes": ("w(o, f(latin, d, n, o, cap))", {**common, "f": c_convert, "o": c_out, "w": _written}),
            "cffi-abi": ("b(o, f(latin, d, n, o, cap))[:]", {**common, "f": a_lib.ffikit_convert_to_utf8, "o": a_out, "b": a_ffi.buffer}),
            "cffi-api": ("b(o, f(latin, d, n, o, cap))[:]", {**common, "f": p_lib.ffikit_convert_to_utf8, "o": p_out, "b": p_ffi.buffer}),
            "ffikit": ("b(o, f(latin, d, n, o, cap))[:]", {**common, "f": f_lib.ffikit_convert_to_utf8, "o": f_out, "b": f_ffi.buffer}),
        }
        if shutil.which("iconv"):
            result[label]["subprocess"] = ("f(d)", {"f": _iconv, "d": data})
        checks[label] = (lambda r, u=utf8: bytes(r) == u)
    return result, checks


def _iconv(data):
    """`iconv` in a subprocess: the shell-out way."""
    command = ["iconv", "-f", "ISO-8859-1", "-t", "UTF-8"]
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout


def _written(buffer, length):
    """The first `length` bytes of a ctypes buffer (read after the call wrote them)."""
    return buffer.raw[:length]


def _cmp(x, y):
    return (x > y) - (x < y)


def batch_size(timer, sample_s):
    """Calls per batch: doubled until a batch takes at least `sample_s`."""
    calls = 1
    while timer.timeit(calls) < sample_s and calls < 1 << 24:
        calls *= 2
    return calls


def time_batch(timer, calls):
    return timer.timeit(calls) / calls * 1e9


# --- The user's own function (`ffikit compare LIBRARY DECLARATION ARGS... --python`) ---

OWN_STYLES = ["ctypes", "cffi-abi", "ffikit"]


def _ctype(spec, names):
    """A ctypes type from the plan's spec: a name, a record or an array."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return getattr(ctypes, spec)
    if "array" in spec:
        element, length = spec["array"]
        return _ctype(element, names) * length
    kind = "struct" if "struct" in spec else "union"
    base = ctypes.Structure if kind == "struct" else ctypes.Union
    fields = [tuple([m[0], _ctype(m[1], names)] + m[2:]) for m in spec[kind]]
    attributes = {"_fields_": fields}
    if "pack" in spec:
        attributes["_pack_"] = spec["pack"]
    names.append(None)
    return type(f"Record{len(names)}", (base,), attributes)


def _as_json(value):
    """A ctypes or CFFI result as the JSON the Rust side reports: records as objects,
    arrays as lists, numbers as they are."""
    if isinstance(value, (ctypes.Structure, ctypes.Union)):
        return {name: _as_json(getattr(value, name)) for name, *_ in value._fields_}
    if isinstance(value, ctypes.Array):
        return [_as_json(v) for v in value]
    return value


def _cffi_json(ffi, value):
    if isinstance(value, ffi.CData):
        kind = ffi.typeof(value).kind
        if kind == "struct" or kind == "union":
            return {name: _cffi_json(ffi, getattr(value, name)) for name, _ in ffi.typeof(value).fields}
        if kind == "array":
            return [_cffi_json(ffi, v) for v in value]
    if isinstance(value, bytes) and len(value) == 1:
        return value[0] - 256 if value[0] > 127 else value[0]
    return value


def _difference(got, want):
    """Where two hex dumps first differ, briefly."""
    if len(got) != len(want):
        return f"{len(got) // 2} bytes long, the direct call's {len(want) // 2}"
    at = next(i for i in range(0, len(got), 2) if got[i:i + 2] != want[i:i + 2])
    return f"differ from the direct call's first at byte {at // 2}: {got[at:at + 16]}..., not {want[at:at + 16]}..."


def own_styles(plan):
    """Each style: (statement, globals, observe, memories) — the call as a timeit statement,
    what it returned observed as the Rust side observes, and the argument memory to check."""
    path, name = plan["library"], plan["function"]
    fixed, types = plan["fixed"], plan["types"]
    result_kind = plan["result"]["kind"]
    styles, skipped = {}, []

    # ctypes: argtypes and restype from the plan's specs.
    spec = plan["ctypes"]
    if "unavailable" in spec:
        skipped.append(("ctypes", spec["unavailable"]))
    else:
        records = []
        argtypes = [_ctype(s, records) for s in spec["argtypes"]]
        function = getattr(ctypes.CDLL(path), name)
        function.argtypes = argtypes[:fixed]
        restype = _ctype(spec["restype"], records)
        function.restype = restype

        def make_ctypes():
            args, memories = [], []
            for index, (argument, ctype) in enumerate(zip(plan["arguments"], argtypes)):
                if "memory" in argument:
                    initial = bytes.fromhex(argument["memory"])
                    buffer = ctypes.create_string_buffer(initial, len(initial))
                    memories.append((index, lambda b=buffer: b.raw))
                    value = buffer
                elif "record" in argument:
                    value = ctype.from_buffer_copy(bytes.fromhex(argument["record"]))
                elif "string" in argument:
                    value = argument["string"].encode()
                elif "bytes" in argument:
                    value = bytes.fromhex(argument["bytes"])
                elif "null" in argument:
                    value = None
                elif "number" in argument or "bool" in argument or "float" in argument:
                    value = argument.get("number", argument.get("bool"))
                    if "float" in argument:
                        value = float(argument["float"])
                else:
                    raise ValueError(argument.get("unsupported", "an argument"))
                if index >= fixed:
                    value = ctype(value)  # variadic: ctypes needs the C type spelled
                args.append(value)
            return args, memories

        def observe_ctypes(value):
            if result_kind == "void":
                return None
            if result_kind == "string":
                return {"pointer": None} if value is None else {"string": value.decode("utf-8", "replace")}
            if result_kind == "pointer":
                return {"pointer": None if not value else "non-NULL"}
            return _as_json(value)

        styles["ctypes"] = (function, make_ctypes, observe_ctypes)

    for style, module in (("cffi-abi", cffi), ("ffikit", ffikit)):
        if plan["cdef"] is None:
            skipped.append((style, plan["cdef_unavailable"]))
            continue
        ffi = module.FFI()
        ffi.cdef(plan["cdef"])
        function = getattr(ffi.dlopen(path), name)

        def make_cffi(ffi=ffi):
            args, memories, keep = [], [], []
            for index, (argument, ctype) in enumerate(zip(plan["arguments"], types)):
                if "memory" in argument:
                    initial = bytes.fromhex(argument["memory"])
                    buffer = ffi.new("unsigned char[]", len(initial))
                    ffi.memmove(buffer, initial, len(initial))
                    memories.append((index, lambda b=buffer: bytes(ffi.buffer(b))))
                    keep.append(buffer)
                    value = ffi.cast(ctype, buffer)
                elif "record" in argument:
                    raw = bytes.fromhex(argument["record"])
                    pointer = ffi.new(ctype + " *")
                    ffi.memmove(pointer, raw, len(raw))
                    keep.append(pointer)
                    value = pointer[0]
                elif "string" in argument or "bytes" in argument:
                    raw = argument["string"].encode() if "string" in argument else bytes.fromhex(argument["bytes"])
                    buffer = ffi.new("char[]", raw)
                    keep.append(buffer)
                    value = ffi.cast(ctype, buffer)
                elif "null" in argument:
                    value = ffi.NULL
                elif "number" in argument or "bool" in argument or "float" in argument:
                    value = argument.get("number", argument.get("bool"))
                    if "float" in argument:
                        value = float(argument["float"])
                    if ctype == "char":
                        value = bytes([value & 0xFF])
                    if index >= fixed:
                        value = ffi.cast(ctype, value)  # variadic: a cdata, as CFFI requires
                else:
                    raise ValueError(argument.get("unsupported", "an argument"))
                args.append(value)
            args.append(keep)  # kept alive with the arguments; not passed
            return args, memories

        def observe_cffi(value, ffi=ffi):
            if result_kind == "void":
                return None
            if result_kind in ("string", "pointer"):
                if value == ffi.NULL:
                    return {"pointer": None}
                if result_kind == "string":
                    return {"string": ffi.string(value).decode("utf-8", "replace")}
                return {"pointer": "non-NULL"}
            return _cffi_json(ffi, value)

        styles[style] = (function, make_cffi, observe_cffi)
    return styles, skipped


def own(plan_path):
    """Times the plan's call through ctypes, CFFI's ABI mode and the ffikit module, each
    checked against the direct call's result and argument memory first."""
    with open(plan_path) as f:
        plan = json.load(f)
    styles, skipped = own_styles(plan)
    expected = plan["expected"]
    timers = {}
    for style, (function, make, observe) in styles.items():
        args, memories = make()
        keep = args.pop() if style != "ctypes" else None
        names = {f"a{i}": a for i, a in enumerate(args)}
        names["f"] = function
        names["keep"] = keep
        got = observe(function(*args))
        if got != expected:
            raise SystemExit(f"{style} gave a wrong result: {got!r}, the direct call {expected!r}")
        for (index, read), (want_index, want) in zip(memories, plan["objects"]):
            got = read().hex()
            if index != want_index or got != want:
                raise SystemExit(f"{style} left argument {index + 1}'s bytes {_difference(got, want)}")
        statement = "f(" + ", ".join(f"a{i}" for i in range(len(args))) + ")"
        timers[style] = timeit.Timer(statement, globals=names)
    measurements = []
    names = list(timers)
    if names:
        sample_s = plan["sample_ms"] / 1000
        sizes = {s: batch_size(timers[s], sample_s) for s in names}
        per_call = {s: [] for s in names}
        ratios = {s: [] for s in names}
        reference = "ctypes" if "ctypes" in timers else names[0]
        for round_index in range(plan["samples"]):
            order = names[round_index % len(names):] + names[: round_index % len(names)]
            times = {s: time_batch(timers[s], sizes[s]) for s in order}
            for s in names:
                per_call[s].append(times[s])
                ratios[s].append(times[s] / times[reference])
        for s in names:
            ns, rs = sorted(per_call[s]), sorted(ratios[s])
            measurements.append({
                "style": s,
                "calls_per_batch": sizes[s],
                "median_ns": ns[len(ns) // 2],
                "per_call_ns": ns,
                "ratio_to_ctypes": rs[len(rs) // 2],
                "ratio_range": [rs[0], rs[-1]],
            })
    print(json.dumps({
        "python": sys.version.split()[0],
        "measurements": measurements,
        "skipped": [{"style": s, "reason": r} for s, r in skipped],
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fixtures")
    # The user's own function: a plan written by `ffikit compare LIBRARY ... --python`.
    parser.add_argument("--own")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--svg")
    parser.add_argument("--samples", type=int, default=11)
    parser.add_argument("--sample-ms", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--filter", default="")
    parser.add_argument("--callgrind", action="store_true")
    # Internal (a callgrind child): WORKLOAD STYLE CALLS, with the API extension in --api-dir.
    parser.add_argument("--count", nargs=3)
    parser.add_argument("--api-dir")
    args = parser.parse_args()
    if args.own:
        return own(args.own)
    if not args.fixtures:
        parser.error("--fixtures is required")
    if args.quick:
        args.samples, args.sample_ms = 3, 5.0
    if args.count:
        return count_child(args)
    directory = args.api_dir or tempfile.mkdtemp(prefix="ffikit-compare-")
    try:
        api = build_cffi_api(args.fixtures, directory)
        table, checks = workloads(args.fixtures, api)
        if args.callgrind:
            return counted(args, table, checks, directory)
        measurements = []
        for workload, styles in table.items():
            if args.filter not in workload:
                continue
            for style, (statement, names_in) in styles.items():
                if not checks[workload](eval(statement, dict(names_in))):
                    raise SystemExit(f"{workload}/{style}: wrong result")
            timers = {s: timeit.Timer(stmt, globals=dict(ns)) for s, (stmt, ns) in styles.items()}
            names = list(styles)
            sizes = {s: batch_size(timers[s], args.sample_ms / 1000) for s in names}
            per_call = {s: [] for s in names}
            ratios = {s: [] for s in names}
            for round_index in range(args.samples):
                order = names[round_index % len(names):] + names[: round_index % len(names)]
                times = {s: time_batch(timers[s], sizes[s]) for s in order}
                for s in names:
                    per_call[s].append(times[s])
                    ratios[s].append(times[s] / times["cffi-api"])
            for s in names:
                ns, rs = sorted(per_call[s]), sorted(ratios[s])
                measurements.append({
                    "workload": workload,
                    "style": s,
                    "calls_per_batch": sizes[s],
                    "median_ns": ns[len(ns) // 2],
                    "per_call_ns": ns,
                    "ratio_to_cffi_api": rs[len(rs) // 2],
                    "ratio_range": [rs[0], rs[-1]],
                    "inconclusive": rs[-1] - rs[0] > 0.25 * rs[len(rs) // 2],
                })
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    report = {"python": sys.version.split()[0], "reference": "cffi-api", "measurements": measurements}
    if args.svg:
        with open(args.svg, "w") as out:
            out.write(svg(measurements))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(text(measurements))


def count_child(args):
    """A callgrind child: the workload bound, its result checked, then the statement run
    CALLS times by timeit's compiled loop (the same loop the timed rows use)."""
    workload, style, calls = args.count
    table, checks = workloads(args.fixtures, build_cffi_api(args.fixtures, args.api_dir))
    if workload == "loop":
        statement, names = "pass", {}
    else:
        statement, names = table[workload][style]
        if not checks[workload](eval(statement, dict(names))):
            raise SystemExit(f"{workload}/{style}: wrong result")
    timeit.Timer(statement, globals=dict(names)).timeit(int(calls))


def count_under_callgrind(args, directory, workload, style, small):
    """Instructions per execution of the statement: runs of `small` and 3 * `small`
    executions, differenced."""
    totals = []
    for calls in (small, 3 * small):
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             sys.executable, os.path.abspath(__file__), "--fixtures", args.fixtures,
             "--api-dir", directory, "--count", workload, style, str(calls)],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        collected = [l for l in run.stderr.splitlines() if "Collected" in l]
        if run.returncode != 0 or not collected:
            raise SystemExit(f"{workload}/{style} under callgrind failed:\n{run.stderr[-2000:]}")
        totals.append(int(collected[-1].split(":")[-1].strip()))
    return totals, (totals[1] - totals[0]) / (2 * small)


def counted(args, table, checks, directory):
    """Instructions per call under callgrind: each (workload, style) run twice with call
    counts N and 3N (N: a 20 ms batch natively), totals differenced, so start-up, imports
    and binding cancel. Reproducible where time on a shared machine is not."""
    measurements = []
    _, loop = count_under_callgrind(args, directory, "loop", "-", 100_000)
    for workload, styles in table.items():
        if args.filter not in workload:
            continue
        for style, (statement, names) in styles.items():
            if style == "subprocess":
                continue  # its cost is in another process, which callgrind does not follow
            if not checks[workload](eval(statement, dict(names))):
                raise SystemExit(f"{workload}/{style}: wrong result")
            small = batch_size(timeit.Timer(statement, globals=dict(names)), 0.02)
            totals, per_call = count_under_callgrind(args, directory, workload, style, small)
            measurements.append({
                "workload": workload, "style": style, "calls": [small, 3 * small],
                "instructions": totals, "per_call": per_call,
                # timeit's loop (the same for every style) taken out: the binding's own cost.
                "net_of_loop": per_call - loop,
            })
    for m in measurements:
        reference = next(r for r in measurements if r["workload"] == m["workload"] and r["style"] == "cffi-api")
        m["ratio_to_cffi_api"] = m["per_call"] / reference["per_call"]
        m["net_ratio_to_cffi_api"] = m["net_of_loop"] / reference["net_of_loop"]
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "reference": "cffi-api",
                          "unit": "instructions per call", "loop": loop,
                          "measurements": measurements}, indent=2))
    else:
        lines = [f"Python {sys.version.split()[0]}: instructions per call under callgrind, with timeit's loop ({loop:,.0f}) and without it, and the ratios to CFFI's API mode",
                 f"{'workload':<11} {'style':<10} {'instructions':>13} {'vs cffi-api':>12} {'net of loop':>12} {'vs cffi-api':>12}"]
        for m in measurements:
            lines.append(f"{m['workload']:<11} {m['style']:<10} {m['per_call']:>13,.0f} {m['ratio_to_cffi_api']:>11.2f}x {m['net_of_loop']:>12,.0f} {m['net_ratio_to_cffi_api']:>11.2f}x")
        print("\n".join(lines))


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def text(measurements):
    lines = ["Python " + sys.version.split()[0] + ": median per call, and the median of per-round ratios to CFFI's API mode",
             f"{'workload':<12}{'style':<12}{'per call':>12}  {'vs cffi-api':>12}  range"]
    for m in measurements:
        star = " (too spread to conclude)" if m["inconclusive"] else ""
        lo, hi = m["ratio_range"]
        lines.append(f"{m['workload']:<12}{m['style']:<12}{fmt_ns(m['median_ns']):>12}  {m['ratio_to_cffi_api']:>11.2f}x  {lo:.2f}-{hi:.2f}x{star}")
    return "\n".join(lines)


def svg(measurements):
    """Each workload's styles as bars of their ratio to CFFI's API mode (log scale)."""
    colors = {"ctypes": "#d62728", "cffi-abi": "#ff7f0e", "cffi-api": "#2ca02c", "ffikit": "#1f77b4", "subprocess": "#7f7f7f"}
    workloads = list(dict.fromkeys(m["workload"] for m in measurements))
    row, width, left = 16, 760, 150
    height = 40 + len(measurements) * row + len(workloads) * 8
    lo, hi = math.log10(0.1), math.log10(max(m["ratio_to_cffi_api"] for m in measurements) * 2)
    x = lambda r: left + (math.log10(max(r, 0.1)) - lo) / (hi - lo) * (width - left - 80)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="10" y="16" font-size="13">ffikit for Python vs ctypes and CFFI: time per call over CFFI API mode\'s (log scale)</text>']
    y = 30
    for w in workloads:
        out.append(f'<text x="10" y="{y + 12}" font-weight="bold">{w}</text>')
        for m in (m for m in measurements if m["workload"] == w):
            r = m["ratio_to_cffi_api"]
            out.append(f'<text x="80" y="{y + 12}">{m["style"]}</text>')
            out.append(f'<rect x="{left}" y="{y + 3}" width="{x(r) - left:.1f}" height="{row - 5}" fill="{colors[m["style"]]}"/>')
            out.append(f'<text x="{x(r) + 4:.1f}" y="{y + 12}">{r:.2f}x ({fmt_ns(m["median_ns"])})</text>')
            y += row
        y += 8
    out.append(f'<line x1="{x(1):.1f}" y1="26" x2="{x(1):.1f}" y2="{height}" stroke="#000" stroke-dasharray="3,3"/>')
    out.append("</svg>")
    return "\n".join(out)


if __name__ == "__main__":
    main()
