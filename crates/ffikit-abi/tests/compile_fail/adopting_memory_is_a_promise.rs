// Promise 6: adopting C memory means freeing it, once, when the handle drops.
use ffikit_abi::Value;

fn main() {
    let libc = ffikit_abi::Library::this();
    let _ = libc.adopt(&Value::Pointer(16), "void free(void *)");
}
