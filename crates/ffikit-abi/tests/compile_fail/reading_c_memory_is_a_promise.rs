// Promise 4: an address read as a C string must point to one.
fn main() {
    let _ = ffikit_abi::read_c_string(16);
}
