fn main() {
    let libc = ffikit_abi::Library::open("libc.so.6").unwrap();
    let stdin = libc.global("void *stdin").unwrap();
    drop(libc);
    let _ = stdin.get();
}
