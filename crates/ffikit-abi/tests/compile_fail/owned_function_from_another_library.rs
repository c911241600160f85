// Issue 12's program 1: a function cannot be attached to a library it did not come from. An
// owned function is only bound from the library it keeps (`OwnedFunction::new`).
use std::sync::Arc;

fn main() {
    let this = ffikit_abi::Library::this();
    // SAFETY: abs as <stdlib.h> declares it.
    let f = unsafe { this.function("int abs(int)") }.unwrap();
    let _owned = f.into_owned(Arc::new(ffikit_abi::Library::this()));
}
