fn main() {
    let abs = {
        let libc = ffikit_abi::Library::open("libc.so.6").unwrap();
        libc.function("int abs(int)").unwrap()
    };
    let _ = abs.call(&[]);
}
