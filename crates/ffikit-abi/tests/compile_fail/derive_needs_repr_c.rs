// A struct without #[repr(C)] has no C layout: the derive refuses it.
use ffikit_abi::CStruct;

#[derive(CStruct, Clone, Copy)]
struct Point {
    x: i32,
    y: i32,
}

fn main() {}
