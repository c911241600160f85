//! The bindings committed in c-fixtures/bindings.rs (the fallback for machines without
//! libclang) must equal what bindgen generates from the header today.

#[test]
fn committed_bindings_match_freshly_generated_ones() {
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/c-fixtures/bindings.rs");
    let committed = std::fs::read_to_string(committed_path).unwrap();
    let used = std::fs::read_to_string(ffikit::fixtures::BINDINGS_PATH).unwrap();
    match ffikit::fixtures::BINDINGS_ORIGIN {
        "generated" => assert!(
            committed == used,
            "c-fixtures/bindings.rs is stale: regenerate it with \
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
