//! A function, global or typed handle cannot outlive its library: these must not compile.

#[test]
fn symbols_cannot_outlive_their_library() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile_fail/*.rs");
}
