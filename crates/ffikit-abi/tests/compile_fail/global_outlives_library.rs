// A global borrows its library: it cannot be read after the library is dropped.
fn main() {
    let libc = ffikit_abi::Library::this();
    // SAFETY: stdin as <stdio.h> declares it.
    let stdin = unsafe { libc.global("void *stdin") }.unwrap();
    drop(libc);
    let _ = stdin.get();
}
