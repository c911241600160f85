//! An allocation whose size the caller chooses is fallible (issue 26, row 3): under an
//! address-space limit, a `char[1000000000]` is an `OutOfMemory` error, not an abort.

use ffikit_abi::{ErrorKind, Library};

#[test]
fn a_refused_allocation_is_an_out_of_memory_error() {
    // In a child process: its address space is limited below the object's size.
    if std::env::var_os("FFIKIT_ALLOCATION_UNDER_LIMIT").is_none() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_refused_allocation_is_an_out_of_memory_error",
                "--nocapture",
            ])
            .env("FFIKIT_ALLOCATION_UNDER_LIMIT", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("refused: out of memory"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let limit = libc::rlimit {
        rlim_cur: 512 << 20,
        rlim_max: 512 << 20,
    };
    // SAFETY: setting this process's own limit with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    let this = Library::this();
    let error = this.new_value("char[1000000000]").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutOfMemory, "{error}");
    println!("refused: {error}");
    // What fits is still made, zeroed, and copies fail the same way when they do not fit.
    let object = this.new_value("char[300000000]").unwrap();
    assert!(object.bytes().iter().step_by(4096).all(|&b| b == 0));
    assert_eq!(
        object.try_clone().unwrap_err().kind(),
        ErrorKind::OutOfMemory
    );
}
