fn main() {
    let libc = ffikit_abi::Library::open("libc.so.6").unwrap();
    let function = libc.function("int abs(int)").unwrap();
    let typed = function.typed::<unsafe extern "C" fn(i32) -> i32>().unwrap();
    drop(libc);
    let _ = unsafe { (*typed)(-1) };
}
