// Promises 3 and 4 (issue 12's program 2): an integer passed as a pointer crashes strlen, so the
// dynamic call is `unsafe`; the safe call of `into_safe` refuses raw addresses at run time.
use ffikit_abi::Value;

fn main() {
    let libc = ffikit_abi::Library::this();
    // SAFETY: strlen as <string.h> declares it (with `const void *`, which C accepts).
    let strlen = unsafe { libc.function("size_t strlen(const void *)") }.unwrap();
    let _ = strlen.call(&[Value::Pointer(16)]);
}
