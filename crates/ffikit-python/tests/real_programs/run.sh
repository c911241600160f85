#!/usr/bin/env bash
# Real programs written for CFFI's ABI mode, their own test suites run on ffikit with `cffi`
# replaced by ffikit and nothing else changed (issue 27). Not part of `.ci/run` (it needs
# libcairo2 and PyPI downloads); run by hand:
#   crates/ffikit-python/tests/real_programs/run.sh PYTHON
# (PANGOCFFI_SRC=checkout also runs pangocffi, see below) where PYTHON has ffikit, pytest,
# numpy and pikepdf installed (the test venv under
# target/tmp/ffikit-python-venv, with `pip install numpy pikepdf soundfile`).
set -euo pipefail
python=${1:?the Python with ffikit installed}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# `import cffi` gives ffikit.
mkdir shim shim/cffi
cp "$here/cffi_is_ffikit.py" shim/cffi/__init__.py

# soundfile (libsndfile, bundled in its wheel): its out-of-line ABI module `_soundfile` is
# remade in-line from soundfile_build.py's own cdef, on ffikit.
"$python" -m pip download -q --no-binary :all: --no-deps soundfile==0.14.0
tar xzf soundfile-0.14.0.tar.gz
cat > shim/_soundfile.py <<PY
import re, ffikit
source = open("$work/soundfile-0.14.0/soundfile_build.py").read()
ffi = ffikit.FFI()
ffi.cdef(re.search(r'ffibuilder\.cdef\("""(.*?)"""\)', source, re.S).group(1))
PY
(cd soundfile-0.14.0 && PYTHONPATH="$work/shim:." "$python" -m pytest -q -p no:cacheprovider tests | tail -1)

# cairocffi (libcairo2): in-line ABI mode already; `cffi` is ffikit.
"$python" -m pip download -q --no-binary :all: --no-deps cairocffi==1.7.1
tar xzf cairocffi-1.7.1.tar.gz
(cd cairocffi-1.7.1 && PYTHONPATH="$work/shim:." "$python" -m pytest -q -p no:cacheprovider cairocffi/test_cairo.py | tail -1)

# pangocffi (libpango, in-line ABI mode): its PyPI sdist ships no test helpers, so this runs
# only on a checkout of its repository (leifgehrmann/pangocffi, 23ba90e measured), given as
# PANGOCFFI_SRC. Its tests draw through cairocffi, which is ffikit here too.
if [ -n "${PANGOCFFI_SRC:-}" ]; then
    cp -r "$PANGOCFFI_SRC" pangocffi-src
    (cd pangocffi-src && PYTHONPATH="$work/shim:." "$python" -m pytest -q -p no:cacheprovider tests | tail -1)
fi
