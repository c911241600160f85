//! Whether the real libraries' headers the header tests read are installed: shared by
//! ffikit-cdecl's header tests and the ffikit command's (tests/headers.rs includes this file).

use ffikit_cdecl::Header;

/// Whether the C compiler finds `header`. A -dev package missing on a fresh machine skips the
/// test with a note; `.ci/run` installs them all and sets FFIKIT_REQUIRE_HEADERS, so there a
/// missing header fails instead of skipping.
pub fn installed(header: &str, package: &str) -> bool {
    let found = Header::new(header).is_found();
    if !found {
        assert!(
            std::env::var_os("FFIKIT_REQUIRE_HEADERS").is_none(),
            "<{header}> is not installed (apt-get install {package})"
        );
        eprintln!("skipped: <{header}> is not installed (apt-get install {package})");
    }
    found
}

/// The -dev packages of the real libraries' headers the tests read.
pub fn real_headers_installed() -> bool {
    [
        ("zlib.h", "zlib1g-dev"),
        ("sqlite3.h", "libsqlite3-dev"),
        ("expat.h", "libexpat1-dev"),
        ("bzlib.h", "libbz2-dev"),
    ]
    .iter()
    .all(|(header, package)| installed(header, package))
}
