//! One cfg for the x86-64 System V fast path, so its assembly is compiled exactly where it is
//! right: `fast_path` is set when the `fast-path` feature is on and the target is x86-64 Linux.
//! Everywhere else (and with the feature off) every call goes through libffi. And
//! `binary128_long_double` where C's `long double` is IEEE binary128.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fast_path)");
    println!("cargo::rustc-check-cfg=cfg(binary128_long_double)");
    println!("cargo::rerun-if-changed=build.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let feature = std::env::var_os("CARGO_FEATURE_FAST_PATH").is_some();
    if feature && arch == "x86_64" && os == "linux" {
        println!("cargo::rustc-cfg=fast_path");
    }
    // Where C's `long double` is IEEE binary128 (gcc's choice for these LP64 Linux ABIs).
    if matches!(arch.as_str(), "aarch64" | "riscv64") && os == "linux" {
        println!("cargo::rustc-cfg=binary128_long_double");
    }
}
