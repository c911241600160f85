# `cffi` replaced by ffikit for a real program's own test suite: nothing else changed
# (crates/ffikit-python/tests/real_programs/run.sh puts this on the path as `cffi`).
from ffikit import FFI, Error, CDefError, FFIError, VerificationError, VerificationMissing  # noqa
__version__ = "2.1.1"
__version_info__ = (2, 1, 1)
