// Promise 2: a declaration must be true to the symbol, so binding one is `unsafe`, in every
// form: text, by name, optional, builder, global, owned.
use std::sync::Arc;

fn main() {
    let libc = ffikit_abi::Library::this();
    let _ = libc.function("double abs(double)");
    libc.cdef("int abs(int);").unwrap();
    let _ = libc.get("abs");
    let _ = libc.optional("int abs(int)");
    let _ = libc.signature("abs").param("int").returns("int").bind();
    let _ = libc.global("int stdin");
    let shared = Arc::new(ffikit_abi::Library::this());
    let _ = ffikit_abi::OwnedFunction::new(&shared, "int abs(int)");
}
