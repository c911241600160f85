// Promise 4: writing a library's variable can break what the library relies on.
use ffikit_abi::Value;

fn main() {
    let libc = ffikit_abi::Library::this();
    // SAFETY: optind as <unistd.h> declares it.
    let optind = unsafe { libc.global("int optind") }.unwrap();
    let _ = optind.set(&Value::Int(1));
}
