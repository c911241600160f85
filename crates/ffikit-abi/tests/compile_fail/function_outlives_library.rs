// A function borrows its library: it cannot outlive it.
fn main() {
    let abs = {
        let libc = ffikit_abi::Library::this();
        // SAFETY: abs as <stdlib.h> declares it.
        unsafe { libc.function("int abs(int)") }.unwrap()
    };
    // SAFETY: abs is defined for 1.
    let _ = unsafe { abs.call(&[1.into()]) };
}
