"""CFFI's own ABI-mode test suite, run against ffikit (issue 27): the judge of whether
ffikit for Python is a drop-in for CFFI's ABI mode.

    python run.py CFFI_SDIST_DIR OUT_DIR [--json REPORT] [--at-least N] [-k EXPR]

CFFI_SDIST_DIR is an unpacked cffi source distribution (tests/python.rs downloads cffi
2.1.1's with pip). Its `testing/` directory is copied to OUT_DIR, and the files the issue
names are run: testing/cffi0 backend_tests (through test_ffi_backend), test_function,
test_ownlib, test_ffi_backend, test_unicode_literals; testing/cffi1 test_ffi_obj and
test_new_ffi_1. The only changes to CFFI's code:

- `cffi.FFI` (and `_cffi_backend.FFI`) are ffikit's `FFI`, whose `backend=` argument is
  accepted and ignored, and CFFI's exception classes are ffikit's (the shim, ffikit_shim.py,
  loaded as a pytest plugin before the tests import cffi);
- test_new_ffi_1's `setup_module` gives its declarations to `cdef` instead of compiling them
  in API mode (the lines that call `set_source`, `recompile` and `load_dynamic`).

The tests run in two worker processes (pytest-xdist) that are restarted after a crash, so a
crash fails one test, not the run. The
report counts passes, failures and skips; `--at-least N` fails the run below N passes (the
floor CI holds, raised as ffikit gains ground).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

HERE = os.path.dirname(os.path.abspath(__file__))

FILES = [
    "testing/cffi0/test_ffi_backend.py",
    "testing/cffi0/test_unicode_literals.py",
    "testing/cffi1/test_ffi_obj.py",
    "testing/cffi1/test_new_ffi_1.py",
]


def patch_new_ffi_1(path):
    with open(path) as file:
        text = file.read()
    compiled = [
        '    ffi1.set_source("test_new_ffi_1", CCODE)\n',
        "    outputfilename = recompile(ffi1, \"test_new_ffi_1\", CCODE,\n"
        "                               tmpdir=str(udir))\n",
        '    module = load_dynamic("test_new_ffi_1", outputfilename)\n',
    ]
    for line in compiled:
        assert line in text, f"test_new_ffi_1 changed: {line!r} not found"
        text = text.replace(line, "")
    assert "    ffi = module.ffi\n" in text
    text = text.replace("    ffi = module.ffi\n", "    ffi = ffi1  # ffikit: the cdef'd FFI\n")
    with open(path, "w") as file:
        file.write(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sdist")
    parser.add_argument("out")
    parser.add_argument("--json")
    parser.add_argument("--at-least", type=int, default=0)
    parser.add_argument("-k")
    args = parser.parse_args()

    root = os.path.abspath(args.out)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    shutil.copytree(os.path.join(args.sdist, "testing"), os.path.join(root, "testing"))
    shutil.copy(os.path.join(HERE, "ffikit_shim.py"), root)
    patch_new_ffi_1(os.path.join(root, "testing/cffi1/test_new_ffi_1.py"))

    junit = os.path.join(root, "junit.xml")
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "ffikit_shim", "-n", "2", "--max-worker-restart", "1000",
        "-p", "no:cacheprovider", "--junitxml", junit, "-o", "junit_family=xunit1",
    ] + FILES
    if args.k:
        command += ["-k", args.k]
    env = dict(os.environ, PYTHONPATH=root)
    subprocess.run(command, cwd=root, env=env, stdout=subprocess.DEVNULL)

    tree = ElementTree.parse(junit)
    results = {}
    for case in tree.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        reason = ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                reason = (child.get("message") or "").splitlines()[0][:200] if child.get("message") else ""
            elif child.tag == "skipped":
                outcome = "skipped"
                reason = (child.get("message") or "")[:200]
        results[name] = (outcome, reason)
    counts = {kind: sum(1 for o, _ in results.values() if o == kind)
              for kind in ("passed", "failed", "skipped")}
    print(f"CFFI's suite on ffikit: {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['skipped']} skipped, of {len(results)}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"counts": counts,
                       "results": {k: {"outcome": o, "reason": r} for k, (o, r) in sorted(results.items())}},
                      file, indent=1)
    if counts["passed"] < args.at_least:
        print(f"fewer than {args.at_least} passed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
