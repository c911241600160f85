//! Harnesses for comparing the user's own function: a C one compiled by `cc` (the direct
//! call, the floor) and a Rust one built by cargo (API mode's static bindings and ABI mode's
//! typed handle), each generated from the declaration and loaded into the comparing process,
//! so that every style is timed in the same paired rounds.
//!
//! Every harness exports `run(args, n, result)`: it reads each argument once from
//! `args[i]` (a pointer to a value of the parameter's C type, shared by every style), calls
//! the function `n` times in a loop, and stores the last result at `result`. Harnesses are
//! cached by the hash of what they are built from, so a second comparison starts at once.

use std::ffi::c_void;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use ffikit_cdecl::{Declarations, QualType, Scalar, Type};

/// `run(args, n, result)`, as every harness exports it.
pub type RunFn = unsafe extern "C" fn(*const *mut c_void, u64, *mut c_void);

/// What a harness calls: the function and the C types of its arguments.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The function's name.
    pub name: String,
    /// The result type.
    pub result: QualType,
    /// The fixed parameters' types.
    pub params: Vec<QualType>,
    /// The variadic arguments' types (empty for a fixed call).
    pub variadic: Vec<QualType>,
}

impl Signature {
    /// Every argument's type, fixed and variadic.
    pub fn arguments(&self) -> impl Iterator<Item = QualType> + '_ {
        self.params.iter().chain(&self.variadic).copied()
    }
}

/// Where the declarations come from, as the harnesses must say it.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The library's path (linked by the harnesses, opened by the typed handle).
    pub library: PathBuf,
    /// `--cdef` text.
    pub cdef: Option<String>,
    /// `--header` name or path, with the preprocessor's flags (`-I`, `-D`, `-U`, `-std`).
    pub header: Option<(String, Vec<String>)>,
    /// The function's own declaration, when it was not bound by name.
    pub declaration: Option<String>,
}

/// Where harnesses are cached: `$FFIKIT_CACHE_DIR`; else `target/ffikit-compare` when the
/// command runs from a cargo `target` directory; else `$XDG_CACHE_HOME/ffikit/compare` (or
/// `~/.cache/ffikit/compare`).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FFIKIT_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(target) = exe
            .ancestors()
            .find(|a| a.file_name() == Some("target".as_ref()))
    {
        return target.join("ffikit-compare");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ffikit").join("compare")
}

/// FNV-1a of the inputs: a stable cache key.
fn key(parts: &[&str]) -> String {
    let hash = parts.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, part| {
        part.bytes().chain([0]).fold(hash, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    });
    format!("{hash:016x}")
}

/// The text a failed build printed, trimmed to its first lines.
fn excerpt(output: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(12)
        .collect();
    lines.join("\n")
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so two comparisons
/// building the same harness never see half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// A C type as C spells it in an expression (`__typeof__(T)` takes any type name).
fn c_type(types: &ffikit_cdecl::TypeTable, ty: QualType) -> Result<String, String> {
    let name = types.display(ty);
    if name.contains('<') {
        return Err(format!(
            "`{name}` has no name C can spell (an anonymous type without a typedef)"
        ));
    }
    Ok(format!("__typeof__({name})"))
}

/// The asm constraint that makes the C compiler forget a value each iteration, so that a
/// function declared `const` or `pure` is still called every time: a register where the
/// value fits one, else memory.
fn barrier(types: &ffikit_cdecl::TypeTable, ty: QualType) -> &'static str {
    match types.get(ty.ty) {
        Type::Scalar(Scalar::Float | Scalar::Double) if cfg!(target_arch = "x86_64") => "x",
        Type::Scalar(s) if s.is_integer() && s.size_align().0 <= 8 => "r",
        Type::Pointer(_) | Type::Enum(_) => "r",
        _ => "m",
    }
}

/// The C harness's source: the declarations as the user gave them (the header included, or
/// the `--cdef` text and the declaration), and `ffikit_direct_run`.
///
/// # Errors
///
/// A type C cannot spell by name.
pub fn c_source(
    source: &Source,
    decls: &Declarations,
    signature: &Signature,
) -> Result<String, String> {
    let types = decls.types();
    let mut text =
        String::from("/* Generated by `ffikit compare`: the direct call, the floor. */\n");
    match &source.header {
        Some((header, _)) if Path::new(header).exists() => {
            let path = std::fs::canonicalize(header).map_err(|e| format!("{header}: {e}"))?;
            let _ = writeln!(text, "#include \"{}\"", path.display());
        }
        Some((header, _)) => {
            let _ = writeln!(text, "#include <{header}>");
        }
        None => text.push_str("#include <stddef.h>\n#include <stdint.h>\n"),
    }
    if let Some(cdef) = &source.cdef {
        let _ = writeln!(text, "{cdef}");
    }
    if let Some(declaration) = &source.declaration {
        let _ = writeln!(text, "{declaration};");
    }
    text.push_str(
        "\nvoid ffikit_direct_run(void *const *args, unsigned long long n, void *result) {\n",
    );
    let mut names = Vec::new();
    for (i, ty) in signature.arguments().enumerate() {
        let c = c_type(types, ty)?;
        let _ = writeln!(text, "    {c} a{i} = *({c} *)args[{i}];");
        names.push(format!("a{i}"));
    }
    // The function's address loaded once into a register, as rustc calls an extern function
    // (`call *%reg`), not through a PLT stub each time: the floor.
    let _ = writeln!(
        text,
        "    __typeof__(&{name}) function = &{name};\n    __asm__ volatile(\"\" : \"+r\"(function));",
        name = signature.name
    );
    let call = format!("function({})", names.join(", "));
    let forget: String = signature
        .arguments()
        .enumerate()
        .map(|(i, ty)| {
            format!(
                "        __asm__ volatile(\"\" : \"+{}\"(a{i}));\n",
                barrier(types, ty)
            )
        })
        .collect();
    if matches!(types.get(signature.result.ty), Type::Void) {
        let _ = writeln!(
            text,
            "    for (unsigned long long i = 0; i < n; i++) {{\n{forget}        {call};\n    }}\n    (void)result;"
        );
    } else {
        let r = c_type(types, signature.result)?;
        let keep = barrier(types, signature.result);
        let _ = writeln!(
            text,
            "    {r} r = {call};\n    for (unsigned long long i = 1; i < n; i++) {{\n{forget}        r = {call};\n        __asm__ volatile(\"\" : : \"{keep}\"(r));\n    }}\n    *({r} *)result = r;"
        );
    }
    text.push_str("}\n");
    Ok(text)
}

/// How the C harness is compiled: optimized, and knowing nothing of the library's functions
/// beyond their declarations (`-fno-builtin`: `cos` is called, not folded).
const C_FLAGS: [&str; 5] = ["-O2", "-fno-builtin", "-shared", "-fPIC", "-w"];

/// Compiles the C harness with `cc` (or `$CC`) into a shared object linked to the library;
/// cached.
///
/// # Errors
///
/// No C compiler, or the harness does not compile (the compiler's first lines).
pub fn build_c(source: &Source, text: &str) -> Result<PathBuf, String> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let flags = source
        .header
        .as_ref()
        .map(|(_, flags)| flags.clone())
        .unwrap_or_default();
    let library = source.library.display().to_string();
    let mut parts = vec![text, compiler.as_str(), library.as_str()];
    parts.extend(C_FLAGS);
    parts.extend(flags.iter().map(String::as_str));
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let out = dir.join(format!("direct-{}.so", key(&parts)));
    if out.exists() {
        return Ok(out);
    }
    let c_file = out.with_extension("c");
    write_atomically(&c_file, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", c_file.display()))?;
    let building = out.with_extension(format!("building{}", std::process::id()));
    let mut command = Command::new(&compiler);
    command
        .args(C_FLAGS)
        .arg("-o")
        .arg(&building)
        .arg(&c_file)
        .args(&flags)
        .arg(&source.library);
    if let Some(dir) = source.library.parent() {
        command.arg(format!("-Wl,-rpath,{}", dir.display()));
    }
    let output = command.output().map_err(|e| {
        format!("the direct call needs a C compiler: cannot run `{compiler}` ({e}); install gcc or set CC")
    })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&building);
        return Err(format!(
            "the C harness ({}) does not compile with `{compiler}`:\n{}",
            c_file.display(),
            excerpt(&output)
        ));
    }
    std::fs::rename(&building, &out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}

/// The statement that makes rustc forget a value each iteration (so a function LLVM knows,
/// like `cos`, is still called every time): an empty asm block taking it in a register
/// where it fits one, as the C harness does, else `black_box`.
fn rust_barrier(rust: &str, variable: &str, output: bool) -> String {
    let class = match rust {
        "f32" | "f64" => Some("xmm_reg"),
        "bool" => None,
        r if r.starts_with("::std::ffi::c_")
            || r.starts_with('*')
            || matches!(
                r,
                "i32" | "u32" | "i64" | "u64" | "usize" | "isize" | "u16" | "u8"
            ) =>
        {
            Some("reg")
        }
        _ => None,
    };
    match class {
        Some(class) => {
            let operand = if output {
                format!("inout({class}) {variable}")
            } else {
                format!("in({class}) {variable}")
            };
            format!(
                "            #[cfg(target_arch = \"x86_64\")]\n            ::std::arch::asm!(\"/* {{0}} */\", {operand}, options(nomem, nostack, preserves_flags));\n            #[cfg(not(target_arch = \"x86_64\"))]\n            {{ {} }}\n",
                if output {
                    format!("{variable} = ::std::hint::black_box({variable});")
                } else {
                    format!("::std::hint::black_box(&{variable});")
                }
            )
        }
        None if output => format!("            {variable} = ::std::hint::black_box({variable});\n"),
        None => format!("            ::std::hint::black_box(&{variable});\n"),
    }
}

/// `text` as a regex matching it literally.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

fn rust_string(text: &str) -> String {
    format!("{text:?}")
}

/// The Rust harness's source: static bindings for the function (API mode) and its typed
/// handle bound through ffikit-abi at run time.
///
/// # Errors
///
/// A type with no Rust equivalent here (the reason).
pub fn rust_source(
    source: &Source,
    decls: &Declarations,
    signature: &Signature,
) -> Result<String, String> {
    let name = &signature.name;
    // API mode's bindings: ffikit-gen's, for this function and what it uses, the records
    // also deriving CStruct for the typed handle.
    let options = ffikit_gen::Options::default()
        .allow(&regex_escape(name))
        .map_err(|e| e.to_string())?
        .derive("ffikit_abi::CStruct");
    let bindings = ffikit_gen::generate(decls, None, &options);
    let Some(function) = bindings.function(name) else {
        let why = bindings
            .omitted()
            .iter()
            .find(|o| &o.name == name)
            .map_or_else(|| "not emitted".to_owned(), |o| o.reason.clone());
        return Err(format!("ffikit-gen has no binding for `{name}`: {why}"));
    };
    let params = function.params.clone();
    let variadic = signature
        .variadic
        .iter()
        .map(|ty| ffikit_gen::rust_type(decls, *ty))
        .collect::<Result<Vec<_>, _>>()?;
    let result = function.result.clone();
    let fn_type = function.pointer_type();
    let mut text = String::from(
        "//! Generated by `ffikit compare`: API mode's static bindings and ABI mode's typed handle.\n\n",
    );
    let _ = writeln!(
        text,
        "#[allow(non_camel_case_types, non_upper_case_globals, non_snake_case, dead_code, clippy::all)]\nmod bindings {{\n{}}}\nuse bindings::*;\n\ntype FfikitFunction = {fn_type};\n",
        bindings.source()
    );
    let loads: String = params
        .iter()
        .chain(&variadic)
        .enumerate()
        .map(|(i, t)| {
            format!("        let mut a{i} = (*args.add({i}) as *const {t}).read_unaligned();\n")
        })
        .collect();
    let forget: String = params
        .iter()
        .chain(&variadic)
        .enumerate()
        .map(|(i, t)| rust_barrier(t, &format!("a{i}"), true))
        .collect();
    let keep = if result == "()" {
        String::new()
    } else {
        rust_barrier(&result, "r", false)
    };
    let args: Vec<String> = (0..params.len() + variadic.len())
        .map(|i| format!("a{i}"))
        .collect();
    let args = args.join(", ");
    let body = |callee: &str| {
        format!(
            "{loads}        let mut r = {callee}({args});\n        for _ in 1..n {{\n{forget}            r = {callee}({args});\n{keep}        }}\n        (result as *mut {result}).write_unaligned(r);\n"
        )
    };
    let _ = writeln!(
        text,
        "/// API mode: the statically bound function, called `n` times.\n\
         #[unsafe(no_mangle)]\n\
         pub unsafe extern \"C\" fn ffikit_api_run(args: *const *mut ::std::ffi::c_void, n: u64, result: *mut ::std::ffi::c_void) {{\n    unsafe {{\n{}    }}\n}}\n",
        body(&format!("bindings::{name}"))
    );
    // The typed handle: the library opened and the function declared through ffikit-abi, as
    // a Rust user of ABI mode would, then `typed::<Function>()`.
    let mut bind = format!(
        "    let library: &'static ffikit_abi::Library = Box::leak(Box::new(unsafe {{ ffikit_abi::Library::open({}) }}?));\n",
        rust_string(&source.library.display().to_string())
    );
    if let Some(cdef) = &source.cdef {
        let _ = writeln!(bind, "    library.cdef({})?;", rust_string(cdef));
    }
    if let Some((header, flags)) = &source.header {
        let mut builder = format!("ffikit_cdecl::Header::new({})", rust_string(header));
        for flag in flags {
            if let Some(dir) = flag.strip_prefix("-I") {
                let _ = write!(builder, ".include_dir({})", rust_string(dir));
            } else if let Some(define) = flag.strip_prefix("-D") {
                let (n, v) = match define.split_once('=') {
                    Some((n, v)) => (n, format!("Some({})", rust_string(v))),
                    None => (define, "None".into()),
                };
                let _ = write!(builder, ".define({}, {v})", rust_string(n));
            } else if let Some(u) = flag.strip_prefix("-U") {
                let _ = write!(builder, ".undefine({})", rust_string(u));
            } else if let Some(std) = flag.strip_prefix("-std=") {
                let _ = write!(builder, ".std({})", rust_string(std));
            }
        }
        let _ = writeln!(bind, "    library.include(&{builder})?;");
    }
    match &source.declaration {
        Some(declaration) => {
            let _ = writeln!(
                bind,
                "    let function = unsafe {{ library.function({}) }}?;",
                rust_string(declaration)
            );
        }
        None => {
            let _ = writeln!(
                bind,
                "    let function = unsafe {{ library.get({}) }}?;",
                rust_string(name)
            );
        }
    }
    if !signature.variadic.is_empty() {
        let names: Vec<String> = signature
            .variadic
            .iter()
            .map(|ty| rust_string(&decls.types().display(*ty)))
            .collect();
        let _ = writeln!(
            bind,
            "    let function = function.variadic(library, &[{}])?;",
            names.join(", ")
        );
    }
    bind.push_str("    Ok(Box::leak(Box::new(function.typed::<FfikitFunction>()?)))\n");
    let _ = writeln!(
        text,
        "fn ffikit_bind() -> Result<&'static ffikit_abi::TypedFunction<'static, FfikitFunction>, ffikit_abi::Error> {{\n{bind}}}\n\n\
         /// Binds the typed handle: its address, or null with the error written to `error`.\n\
         #[unsafe(no_mangle)]\n\
         pub unsafe extern \"C\" fn ffikit_typed_bind(error: *mut u8, capacity: usize) -> *const ::std::ffi::c_void {{\n    \
             match ffikit_bind() {{\n        \
                 Ok(typed) => (typed as *const ffikit_abi::TypedFunction<'static, FfikitFunction>).cast(),\n        \
                 Err(e) => {{\n            \
                     let text = e.to_string();\n            \
                     let n = text.len().min(capacity.saturating_sub(1));\n            \
                     unsafe {{ ::std::ptr::copy_nonoverlapping(text.as_ptr(), error, n); *error.add(n) = 0; }}\n            \
                     ::std::ptr::null()\n        \
                 }}\n    \
             }}\n\
         }}\n\n\
         /// ABI mode's typed handle, called `n` times.\n\
         #[unsafe(no_mangle)]\n\
         pub unsafe extern \"C\" fn ffikit_typed_run(handle: *const ::std::ffi::c_void, args: *const *mut ::std::ffi::c_void, n: u64, result: *mut ::std::ffi::c_void) {{\n    unsafe {{\n        \
             let typed = &*(handle as *const ffikit_abi::TypedFunction<'static, FfikitFunction>);\n{}    }}\n}}",
        body("(**typed)")
    );
    Ok(text)
}

/// Builds the Rust harness with cargo (offline, ffikit's crates by path, the workspace's
/// lock file), linked to the library; cached. The first build compiles ffikit-abi and
/// libffi (~40 s on 2 cores); each further declaration only its own harness.
///
/// # Errors
///
/// No cargo, ffikit's sources not where this command was built from, or a build failure.
pub fn build_rust(source: &Source, text: &str) -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !workspace.join("crates/ffikit-abi/Cargo.toml").exists() {
        return Err(format!(
            "needs ffikit's sources, which were at {} when this command was built",
            workspace.display()
        ));
    }
    let library = source.library.display().to_string();
    let hash = key(&[text, &library, env!("CARGO_PKG_VERSION")]);
    let dir = cache_dir();
    let out = dir.join(format!("rust-{hash}.so"));
    if out.exists() {
        return Ok(out);
    }
    let package = format!("ffikit-harness-{hash}");
    let crate_dir = dir.join(&package);
    std::fs::create_dir_all(crate_dir.join("src"))
        .map_err(|e| format!("cannot create {}: {e}", crate_dir.display()))?;
    let manifest = format!(
        "[package]\nname = \"{package}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\npath = \"src/lib.rs\"\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nffikit-abi = {{ path = {abi:?} }}\nffikit-cdecl = {{ path = {cdecl:?} }}\n\n\
         [profile.release]\npanic = \"abort\"\n\n[workspace]\n",
        abi = workspace.join("crates/ffikit-abi").display().to_string(),
        cdecl = workspace.join("crates/ffikit-cdecl").display().to_string(),
    );
    let rpath = source
        .library
        .parent()
        .map(|d| {
            format!(
                "    println!(\"cargo:rustc-link-arg=-Wl,-rpath,{}\");\n",
                d.display()
            )
        })
        .unwrap_or_default();
    let build_script =
        format!("fn main() {{\n    println!(\"cargo:rustc-link-arg={library}\");\n{rpath}}}\n");
    let files = [
        ("Cargo.toml", manifest),
        ("build.rs", build_script),
        ("src/lib.rs", text.to_owned()),
    ];
    for (name, content) in files {
        std::fs::write(crate_dir.join(name), content)
            .map_err(|e| format!("cannot write {}: {e}", crate_dir.join(name).display()))?;
    }
    let _ = std::fs::copy(workspace.join("Cargo.lock"), crate_dir.join("Cargo.lock"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = dir.join("cargo-target");
    eprintln!(
        "ffikit compare: building the Rust harness (API mode and the typed handle) in {} ...",
        crate_dir.display()
    );
    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--offline",
            "--quiet",
            "--manifest-path",
        ])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|e| {
            format!(
                "needs cargo: cannot run `{}` ({e})",
                cargo.to_string_lossy()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "the Rust harness ({}) does not build:\n{}",
            crate_dir.display(),
            excerpt(&output)
        ));
    }
    let built = target
        .join("release")
        .join(format!("lib{}.so", package.replace('-', "_")));
    let bytes =
        std::fs::read(&built).map_err(|e| format!("cannot read {}: {e}", built.display()))?;
    write_atomically(&out, &bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}
