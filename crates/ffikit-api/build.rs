//! Records the target this crate is built for: the default for `Builder`s used outside a build
//! script (where cargo's TARGET and HOST are not set), such as this crate's own tests.
fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=FFIKIT_API_BUILT_FOR={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
