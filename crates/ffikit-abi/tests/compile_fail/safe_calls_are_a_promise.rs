// Promise 3 made once: declaring every checked argument list sound for a function is `unsafe`.
fn main() {
    let libc = ffikit_abi::Library::this();
    // SAFETY: memcpy as <string.h> declares it.
    let memcpy = unsafe { libc.function("void *memcpy(void *, const void *, size_t)") }.unwrap();
    let _ = memcpy.into_safe();
}
