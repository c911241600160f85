//! Workloads and binding styles for `ffikit compare`.
