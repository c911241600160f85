//! The bindings committed in c-fixtures/bindings.rs (the fallback for machines without
//! libclang) must equal what bindgen generates from the header today.

#[test]
fn committed_bindings_match_freshly_generated_ones() {
    compare("c-fixtures/bindings.rs", ffikit::fixtures::BINDINGS_PATH);
}

#[test]
fn committed_libc_bindings_match_freshly_generated_ones() {
    compare(
        "c-fixtures/libc_bindings.rs",
        ffikit::fixtures::LIBC_BINDINGS_PATH,
    );
}

fn compare(committed: &str, used_path: &str) {
    let committed_path = format!("{}/{committed}", env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(committed_path).unwrap();
    let used = std::fs::read_to_string(used_path).unwrap();
    match ffikit::fixtures::BINDINGS_ORIGIN {
        "generated" => assert!(
            committed == used,
            "the committed bindings are stale: regenerate them with \
             `FFIKIT_API_BLESS=1 cargo build` and commit the result"
        ),
        "committed" => {
            // No libclang in this build: nothing fresh to compare with. CI installs libclang
            // and sets this variable, so there the check cannot be skipped.
            assert!(
                std::env::var_os("FFIKIT_EXPECT_GENERATED_BINDINGS").is_none(),
                "FFIKIT_EXPECT_GENERATED_BINDINGS is set but the build used the committed \
                 bindings (libclang not found?)"
            );
            assert_eq!(
                committed, used,
                "the fallback must copy the committed file verbatim"
            );
            eprintln!("libclang missing: the freshness check needs it and was not run");
        }
        other => panic!("unknown bindings origin {other:?}"),
    }
}
