// A typed handle of a variadic function is a variadic pointer: Rust refuses an argument C's
// default promotions would change (a float is passed as a double).
use std::ffi::c_char;

fn main() {
    let libc = ffikit_abi::Library::this();
    // SAFETY: snprintf's declaration from <stdio.h>.
    let snprintf = unsafe { libc.function("int snprintf(char *, size_t, const char *, ...)") }.unwrap();
    let typed = snprintf
        .typed::<unsafe extern "C" fn(*mut c_char, usize, *const c_char, ...) -> i32>()
        .unwrap();
    let mut buffer = [0 as c_char; 16];
    // SAFETY: 16 writable bytes; %f takes a double.
    unsafe { (*typed)(buffer.as_mut_ptr(), 16, c"%f".as_ptr(), 1.5f32) };
}
