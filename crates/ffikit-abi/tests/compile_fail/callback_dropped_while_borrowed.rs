// A borrowed callback pointer keeps its callback alive: dropping the callback first fails.
use std::ffi::c_void;

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;

fn main() {
    let libc = ffikit_abi::Library::this();
    let callback = libc
        .typed_callback::<Compare, _>("cmp", "int (*)(const void *, const void *)", |_: *const c_void, _: *const c_void| 0)
        .unwrap();
    let pointer = callback.ptr();
    drop(callback);
    let _ = pointer;
}
