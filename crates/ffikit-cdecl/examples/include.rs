//! Reads installed headers through the C preprocessor and prints what each declares:
//! `cargo run -p ffikit-cdecl --example include -- zlib.h sqlite3.h`.

use ffikit_cdecl::{Declarations, Header};

fn main() {
    for name in std::env::args().skip(1) {
        let mut decls = Declarations::new();
        let started = std::time::Instant::now();
        match decls.include(&Header::new(&name)) {
            Ok(included) => {
                println!(
                    "{} ({} bytes preprocessed, {:?})",
                    included.summary_in(&included.scope(), Some(&decls)),
                    included.preprocessed_bytes,
                    started.elapsed()
                );
                if std::env::var_os("SKIPPED").is_some() {
                    let scope = included.scope();
                    for skipped in included.skipped_in(&scope) {
                        println!("{}\n", skipped.reason);
                    }
                }
            }
            Err(error) => println!("{name}: {error}"),
        }
    }
}
