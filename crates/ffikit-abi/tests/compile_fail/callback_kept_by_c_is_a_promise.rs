// Promise 5 (issue 12's program 3): handing a callback's address to C that keeps it is the
// caller's promise that the callback outlives C's use of it, made at the `unsafe` call.
use ffikit_abi::Value;

fn main() {
    let libc = ffikit_abi::Library::this();
    // SAFETY: on_exit as <stdlib.h> declares it.
    let on_exit = unsafe { libc.function("int on_exit(void (*)(int, void *), void *)") }.unwrap();
    let cb = libc.callback("bye", "void (*)(int, void *)", |_| Ok(Value::Void)).unwrap();
    let _ = on_exit.call(&[cb.address(), Value::Null]);
    drop(cb);
}
