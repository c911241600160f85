"""The shim that runs CFFI's tests on ffikit: a pytest plugin loaded before any test module
imports cffi. It points `cffi.FFI` and `_cffi_backend.FFI` at ffikit's FFI (accepting and
ignoring CFFI's `backend=` argument) and CFFI's exception classes at ffikit's. Nothing else
of CFFI's is replaced: its pure-Python helpers the tests import (cffi.backend_ctypes,
testing.support) stay CFFI's own."""

import cffi
import _cffi_backend

import ffikit


class FFI(ffikit.FFI):
    """ffikit's FFI with cffi.FFI's constructor signature (`backend` is CFFI's choice of
    implementation: here there is one)."""

    def __new__(cls, backend=None):
        return super().__new__(cls)

    def __init__(self, backend=None):
        pass


cffi.FFI = FFI
# The API-mode backend's FFI takes no arguments: ffikit's own class stands in for it.
_cffi_backend.FFI = ffikit.FFI
for name in ("CDefError", "FFIError", "VerificationError", "VerificationMissing"):
    if hasattr(ffikit, name):
        setattr(cffi, name, getattr(ffikit, name))
