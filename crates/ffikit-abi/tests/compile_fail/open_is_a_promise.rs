// Promise 1: loading a library runs its initializers, so opening one is `unsafe`.
fn main() {
    let _ = ffikit_abi::Library::open("libexpat.so.1");
    let _ = ffikit_abi::Library::open_with("libz.so.1", Default::default());
    let _ = ffikit_abi::Library::open_described("libffikit_fixtures.so");
}
