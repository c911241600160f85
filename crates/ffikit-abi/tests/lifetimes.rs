//! Compile-fail tests: a function, global or typed handle cannot outlive its library, and
//! every promise of the safety model (loading, declaring, calling with raw addresses, keeping
//! callbacks, writing globals, adopting memory, reading C strings) is an `unsafe` call.

#[test]
fn symbols_cannot_outlive_their_library_and_every_promise_is_unsafe() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile_fail/*.rs");
}
