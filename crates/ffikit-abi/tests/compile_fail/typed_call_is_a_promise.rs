// Promise 3 for typed handles: the checked pointer is an `unsafe extern "C" fn`, so each call
// is the caller's promise that its arguments suit the function.
fn main() {
    let libc = ffikit_abi::Library::this();
    // SAFETY: strlen as <string.h> declares it.
    let function = unsafe { libc.function("size_t strlen(const char *)") }.unwrap();
    let strlen = function
        .typed::<unsafe extern "C" fn(*const std::ffi::c_char) -> usize>()
        .unwrap();
    let _ = (*strlen)(16 as *const std::ffi::c_char);
}
