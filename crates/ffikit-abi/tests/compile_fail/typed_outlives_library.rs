// A typed handle borrows its library as the function does.
fn main() {
    let libc = ffikit_abi::Library::this();
    // SAFETY: abs as <stdlib.h> declares it.
    let function = unsafe { libc.function("int abs(int)") }.unwrap();
    let typed = function.typed::<unsafe extern "C" fn(i32) -> i32>().unwrap();
    drop(libc);
    // SAFETY: abs is defined for -1.
    let _ = unsafe { (*typed)(-1) };
}
