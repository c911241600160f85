//! The `ffikit` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ffikit",
    version,
    about = "Call C the way ctypes and CFFI do, and compare the ways"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// Declarations given on the command line or in a header.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = true)]
struct DeclarationSource {
    /// C declarations.
    #[arg(long)]
    cdef: Option<String>,
    /// A header, as installed: a name found like `#include <zlib.h>` (`zlib.h`,
    /// `sys/stat.h`) or a path. The C preprocessor runs on it; its own declarations are
    /// what is checked and listed.
    #[arg(long)]
    header: Option<String>,
}

impl DeclarationSource {
    fn load(
        &self,
        options: &ffikit::headers::HeaderOptions,
    ) -> Result<ffikit::headers::Loaded, Box<dyn std::error::Error>> {
        ffikit::headers::load(self.cdef.as_deref(), self.header.as_deref(), options)
    }
}

/// `compare`'s own-function arguments: your library, function and arguments.
#[derive(Debug, clap::Args)]
struct OwnFunction {
    /// Your library (a path, or a name: `libz.so.1`, `m`); none: the fixture workloads.
    #[arg(requires = "declaration")]
    library: Option<String>,
    /// The function's C declaration, or its name when `--header` (or `--cdef`) declares
    /// it.
    declaration: Option<String>,
    /// The arguments, as `ffikit call` takes them (`-5`; a value like `-inf` after `--`).
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    /// C declarations of the types the call uses.
    #[arg(long, requires = "library")]
    cdef: Option<String>,
    /// A header, as installed (`zlib.h`) or by path, declaring the function.
    #[arg(long, requires = "library")]
    header: Option<String>,
    #[command(flatten)]
    header_options: ffikit::headers::HeaderOptions,
    /// A shell command doing the same work as the call, run once per call with the first
    /// string or `hex:` argument on its input (`--command 'gzip -c'`): the subprocess row.
    #[arg(long, requires = "library")]
    command: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// List a library's exported functions and data (ELF dynamic symbol table): address,
    /// kind, binding, size, name@version.
    Symbols {
        /// The library: a path or a name.
        library: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show how declared types are laid out: sizes, alignments, member offsets (bit offsets
    /// for bitfields), holes and padding.
    Layout {
        #[command(flatten)]
        source: DeclarationSource,
        #[command(flatten)]
        header_options: ffikit::headers::HeaderOptions,
        /// Types to show (`struct flags`); if none, every struct, union and enum declared (of
        /// a header: its own, and those its declarations use).
        types: Vec<String>,
    },
    /// Show a header's constants: object-like `#define`s with an integer, floating or
    /// string value (after the preprocessor expands them), and enumerators, with their C
    /// types and where they are defined.
    Constants {
        #[command(flatten)]
        source: DeclarationSource,
        #[command(flatten)]
        header_options: ffikit::headers::HeaderOptions,
        /// Constants to show (`Z_OK`); every one of the header's own if none.
        names: Vec<String>,
    },
    /// Check declarations against a library: exported? function or data? and, where the
    /// library has debug information, types, variadic-ness, layouts and enum values. Exit
    /// status 1 when anything disagrees.
    Check {
        /// The library: a path or a name.
        library: String,
        #[command(flatten)]
        source: DeclarationSource,
        #[command(flatten)]
        header_options: ffikit::headers::HeaderOptions,
        /// With a header as installed, count names it declares that the library does not
        /// export as problems too (by default they are listed as features this build lacks).
        #[arg(long)]
        strict: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate Rust bindings for a header (or `--cdef` text), without libclang: `#[repr(C)]`
    /// structs and unions with layout assertions, enums, typedefs, function pointers, an
    /// `extern "C"` block, `#define` constants. The header's own declarations, and every
    /// type they use.
    Bindings {
        /// The header, as installed (`zlib.h`) or by path; or a library without one
        /// (`libfoo.so`, a path or a name): its declarations are read from its debug
        /// information (DWARF, or its separate debug file found by build-id).
        header: Option<String>,
        /// C declarations (instead of, or beside, the header).
        #[arg(long)]
        cdef: Option<String>,
        #[command(flatten)]
        header_options: ffikit::headers::HeaderOptions,
        /// Only names matching this regex (whole name; repeatable), and what they use.
        #[arg(long, value_name = "REGEX")]
        allow: Vec<String>,
        /// Not names matching this regex (whole name; repeatable).
        #[arg(long, value_name = "REGEX")]
        block: Vec<String>,
        /// Enums as newtypes with associated constants (default: bindgen's consts).
        #[arg(long, conflicts_with = "rust_enums")]
        newtype_enums: bool,
        /// Enums as Rust `enum`s (bindgen's "rustified" form: a value C returns that no
        /// enumerator names is then undefined behaviour; for enums whose values are all listed).
        #[arg(long)]
        rust_enums: bool,
        /// Leave out the compile-time layout assertions.
        #[arg(long)]
        no_layout_tests: bool,
        /// The dynamic-loading form: a struct NAME opening the library at run time and
        /// binding every function through ffikit-abi, each checked when bound (the generated
        /// code depends on ffikit-abi) — instead of an `extern "C"` block linked at build time.
        #[arg(long, value_name = "NAME", conflicts_with = "shims")]
        dynamic: Option<String>,
        /// Also make `static inline` functions and function-like macros (those that call a
        /// declared function with each parameter as a whole argument) callable: write their C
        /// wrappers to this file, to compile into the library the bindings link.
        #[arg(long, value_name = "FILE.c")]
        shims: Option<PathBuf>,
        /// Write the source to this file instead of stdout.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Call a C function: `ffikit call libm.so.6 'double cos(double)' 1`, or by name from a
    /// header: `ffikit call libz.so.1 --header zlib.h crc32 0 str:123456789 9`.
    ///
    /// Arguments follow the parameter types: numbers, strings for `char *`, `null`,
    /// `out:TYPE`, `buf:N`, `hex:BYTES`, `[1,2,3]`, `{x=1,y=2}`, `str:TEXT`, and
    /// `TYPE:VALUE` for variadic arguments.
    Call {
        /// The library: a path, or a name (`libm.so.6`, `m`, `z`).
        library: String,
        /// The function's C declaration, or its name when `--header` (or `--cdef`) declares
        /// it.
        declaration: String,
        /// The arguments (`-5`; a value like `-inf` after `--`).
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// C declarations of the types the call uses.
        #[arg(long)]
        cdef: Option<String>,
        /// A header, as installed (`zlib.h`) or by path: its functions can be called by
        /// name, its `static inline` ones through a shim compiled on the fly.
        #[arg(long)]
        header: Option<String>,
        #[command(flatten)]
        header_options: ffikit::headers::HeaderOptions,
        /// Report errno after the call.
        #[arg(long)]
        errno: bool,
        /// Call in a worker process: a crash, `exit` or hang in C is reported (exit status
        /// 2) instead of ending this process.
        #[arg(long)]
        isolated: bool,
        /// With `--isolated`: kill the worker after this many milliseconds.
        #[arg(long, requires = "isolated")]
        timeout_ms: Option<u64>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Time C calls through each binding style, side by side: the fixture workloads, or
    /// your own function with your arguments (`ffikit compare libz.so.1 --header zlib.h
    /// crc32 0 buf:4096 4096`; arguments as `ffikit call` reads them).
    Compare {
        #[command(flatten)]
        own: OwnFunction,
        /// Timed batches per workload and style (the median is reported).
        #[arg(long, default_value_t = 11, value_parser = clap::value_parser!(u16).range(1..))]
        samples: u16,
        /// The least time one batch takes, in milliseconds.
        #[arg(long, default_value_t = 20)]
        sample_ms: u64,
        /// Only workloads whose name contains this (gcd, get_pi, mixed6, spill14, struct16,
        /// struct32, strlen, snprintf, sort, utf8-100B, utf8-10MiB).
        #[arg(long, conflicts_with = "library")]
        filter: Option<String>,
        /// A first look: 3 rounds of 5 ms batches (ratios less certain; the table says when).
        #[arg(long, conflicts_with_all = ["samples", "sample_ms", "callgrind"])]
        quick: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also write the report as an SVG chart (log scale) to this file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Count instructions per call under valgrind's callgrind instead of timing (two runs
        /// of different call counts, differenced).
        #[arg(long, conflicts_with_all = ["svg", "library"])]
        callgrind: bool,
        /// Compare in Python instead: ctypes, CFFI's ABI and API modes and the ffikit module in
        /// one Python process (the Python is `$FFIKIT_PYTHON`, else a python3 that has the
        /// module and cffi, else a virtual environment under target/ built on first use).
        /// With --callgrind: instructions per call, each style in a Python under callgrind.
        #[arg(long)]
        python: bool,
        /// Internal (the callgrind child): run WORKLOAD/STYLE `--calls` times.
        #[arg(long, hide = true, value_name = "WORKLOAD/STYLE", requires = "calls")]
        count: Option<String>,
        /// Internal: how many calls the callgrind child makes.
        #[arg(long, hide = true)]
        calls: Option<u64>,
    },
}

/// Exit statuses, the same for every subcommand: 0 ok, 1 `check` found mismatches, 2 bad
/// input or a failure (clap's own usage errors are 2 as well).
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    match try_main(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(error.as_ref());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Writes to stdout; a closed pipe (`ffikit symbols libc.so.6 | head`) ends quietly.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write the output: {error}");
            std::process::exit(EXIT_BAD_INPUT.into());
        }
        Ok(()) => {}
    }
}

/// The error and its whole `source()` chain, as cxx's CLI prints them.
fn report(error: &dyn std::error::Error) {
    eprintln!("error: {error}");
    let mut source = error.source();
    if source.is_some() {
        eprintln!("\nCaused by:");
    }
    while let Some(cause) = source {
        for line in cause.to_string().lines() {
            eprintln!("    {line}");
        }
        source = cause.source();
    }
}

/// A comparison's report: the SVG if asked for, then JSON, or the heading, table, whole
/// picture, legend and footer.
fn print_comparison(
    report: &ffikit::compare::Report,
    options: &ffikit::compare::Options,
    json: bool,
    svg: Option<&std::path::Path>,
    heading: &str,
    footer: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use ffikit::compare;
    if let Some(path) = svg {
        std::fs::write(path, compare::render_svg(report))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if json {
        println!("{}", compare::render_json(report));
    } else {
        println!("{heading}");
        print!("{}", compare::render_table(report));
        print!("{}", compare::render_facts(report));
        print!("{}", compare::render_legend(report, options));
        print!("{footer}");
    }
    Ok(())
}

/// The call `compare` times, read as `ffikit call` reads it.
fn own_request(
    own: OwnFunction,
    python: bool,
) -> Result<ffikit::compare::own::Request, Box<dyn std::error::Error>> {
    let OwnFunction {
        library,
        declaration,
        args,
        cdef,
        header,
        header_options,
        command,
    } = own;
    let (Some(library), Some(declaration)) = (library, declaration) else {
        return Err("compare takes a library and a function's declaration or name".into());
    };
    let mut preprocessed = None;
    if let Some(header) = &header {
        if header_options.reads_as_is(header) {
            return Err("compare needs a header the C compiler can include: \
                        --no-preprocess and .i files are for `call` and `check`"
                .into());
        }
        preprocessed = Some(header_options.header(header));
    }
    let declarations = cdef.as_deref().unwrap_or_default().trim().to_owned();
    Ok(ffikit::compare::own::Request {
        call: ffikit::call::Request {
            library,
            declaration,
            args,
            cdef: (!declarations.is_empty()).then_some(declarations),
            header: preprocessed,
            errno: false,
        },
        cdef,
        header: header.map(|h| (h, ffikit::compare::own::header_flags(&header_options))),
        command,
        python,
    })
}

fn try_main(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Commands::Bindings {
            header,
            cdef,
            header_options,
            allow,
            block,
            newtype_enums,
            rust_enums,
            no_layout_tests,
            dynamic,
            shims,
            output,
        } => {
            if header.is_none() && cdef.is_none() {
                return Err("bindings needs a header, a library or --cdef".into());
            }
            let (decls, scope, from_dwarf) = match &header {
                Some(library) if ffikit::inspect::is_library(library) => {
                    let (decls, omitted) = ffikit::inspect::declarations_from_library(library)?;
                    (decls, None, omitted)
                }
                _ => {
                    let loaded =
                        ffikit::headers::load(cdef.as_deref(), header.as_deref(), &header_options)?;
                    (loaded.decls, loaded.scope, Vec::new())
                }
            };
            let mut options = ffikit_gen::Options::default()
                .layout_tests(!no_layout_tests)
                .shims(shims.is_some());
            if newtype_enums {
                options = options.enums(ffikit_gen::EnumStyle::Newtype);
            }
            if rust_enums {
                options = options.enums(ffikit_gen::EnumStyle::Rust);
            }
            if let Some(name) = &dynamic {
                options = options.dynamic(name);
            }
            for pattern in &allow {
                options = options.allow(pattern)?;
            }
            for pattern in &block {
                options = options.block(pattern)?;
            }
            let bindings = ffikit_gen::generate(&decls, scope.as_ref(), &options);
            let counts: Vec<String> = bindings
                .counts()
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            eprintln!(
                "ffikit bindings: {}; {} omitted (listed at the end)",
                counts.join(", "),
                bindings.omitted().len() + from_dwarf.len()
            );
            let mut source = bindings.source().to_owned();
            for (name, why) in &from_dwarf {
                source.push_str(&format!("// omitted `{name}` (debug information): {why}\n"));
            }
            if let Some(path) = &shims {
                let include = match &header {
                    Some(h) if std::path::Path::new(h).exists() => {
                        let absolute = std::fs::canonicalize(h)?;
                        format!("#include \"{}\"\n", absolute.display())
                    }
                    Some(h) => format!("#include <{h}>\n"),
                    None => cdef.clone().unwrap_or_default() + "\n",
                };
                let text = format!(
                    "/* Generated by `ffikit bindings`: C wrappers for what has no symbol. */\n{include}\n{}",
                    bindings.shim_source()
                );
                std::fs::write(path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            match output {
                Some(path) => std::fs::write(&path, &source)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                None => out(&source),
            }
        }
        Commands::Symbols { library, json } => {
            let path = ffikit::inspect::library_path(&library)?;
            let symbols = ffikit_inspect::exported_symbols(&path)?;
            let mut report = ffikit::inspect::symbols_report(&symbols, json);
            if json {
                report.push('\n');
            }
            out(&report);
        }
        Commands::Layout {
            source,
            header_options,
            types,
        } => {
            let mut loaded = source.load(&header_options)?;
            let mut text = ffikit::inspect::layout_report(&mut loaded, &types)?;
            if types.is_empty() {
                text.push_str(&loaded.skipped_report(header_options.skipped));
            }
            out(&text);
        }
        Commands::Constants {
            source,
            header_options,
            names,
        } => {
            let loaded = source.load(&header_options)?;
            let mut text = ffikit::headers::constants_report(&loaded, &names)?;
            if names.is_empty() {
                text.push_str(&loaded.skipped_report(header_options.skipped));
            }
            out(&text);
        }
        Commands::Check {
            library,
            source,
            header_options,
            strict,
            json,
        } => {
            let loaded = source.load(&header_options)?;
            // Read from the file, never loaded: checking runs none of the library's code.
            let path = ffikit::inspect::library_path(&library)?;
            let file = ffikit_inspect::LibraryFile::read(&path)?;
            let mut report = file.verify_declarations(&loaded.decls, loaded.scope.as_ref());
            if loaded.scope.is_some() && !strict {
                report = report.missing_as_absent();
            }
            if json {
                println!("{}", ffikit::inspect::check_json(&report));
            } else {
                println!("{report}");
                print!("{}", loaded.skipped_report(header_options.skipped));
            }
            if !report.is_ok() {
                std::process::exit(1);
            }
        }
        Commands::Call {
            library,
            declaration,
            args,
            cdef,
            header,
            header_options,
            errno,
            isolated,
            timeout_ms,
            json,
        } => {
            let mut declarations = cdef.unwrap_or_default();
            let mut preprocessed = None;
            if let Some(header) = header {
                if header_options.reads_as_is(&header) {
                    let text = ffikit::inspect::read_text(std::path::Path::new(&header))?;
                    declarations.push('\n');
                    declarations.push_str(&text);
                } else {
                    preprocessed = Some(header_options.header(&header));
                }
            }
            let request = ffikit::call::Request {
                library,
                declaration,
                args,
                cdef: (!declarations.trim().is_empty()).then_some(declarations),
                header: preprocessed,
                errno,
            };
            let outcome = if isolated {
                let mut options = ffikit_abi::IsolatedOptions::new();
                if let Some(ms) = timeout_ms {
                    options = options.timeout(std::time::Duration::from_millis(ms));
                }
                ffikit::call::run_isolated(&request, options)
            } else {
                // SAFETY: the user typed the library, the declaration (or header) and the
                // arguments: the command line is their promise (1 to 4 of ffikit-abi's safety
                // model).
                unsafe { ffikit::call::run(&request) }
            };
            match outcome {
                Ok(outcome) if json => println!("{}", outcome.to_json()),
                Ok(outcome) => print!("{}", outcome.to_text()),
                Err(error) => {
                    report(&error);
                    std::process::exit(EXIT_BAD_INPUT.into());
                }
            }
        }
        Commands::Compare {
            own,
            samples,
            sample_ms,
            filter,
            quick,
            json,
            svg,
            callgrind,
            python,
            count,
            calls,
        } => {
            use ffikit::compare::{self, callgrind as counting};
            if let (Some(pair), Some(calls)) = (count, calls) {
                let (workload, style) =
                    pair.split_once('/').ok_or("--count takes WORKLOAD/STYLE")?;
                counting::run_child(workload, style, calls)?;
                return Ok(());
            }
            let (samples, sample_ms) = if quick { (3, 5) } else { (samples, sample_ms) };
            let options = compare::Options {
                samples: samples.into(),
                sample_time: Duration::from_millis(sample_ms),
                filter,
            };
            if own.library.is_some() {
                let own = own_request(own, python)?;
                // SAFETY: the user typed the library, the declaration (or header) and the
                // arguments: the command line is their promise, as for `ffikit call`.
                let report = unsafe { compare::own::run(&own, &options) }?;
                let heading = format!(
                    "{} returns {}",
                    report.subject.as_deref().unwrap_or_default(),
                    report.result.as_deref().unwrap_or_default()
                );
                let footer = format!(
                    "  (harnesses cached in {})\n{}",
                    compare::own::cache_dir().display(),
                    compare::own::render_python(&report)
                );
                return print_comparison(
                    &report,
                    &options,
                    json,
                    svg.as_deref(),
                    &heading,
                    &footer,
                );
            }
            if python {
                let output = compare::python::run(&options, json, svg.as_deref(), callgrind)?;
                print!("{output}");
                return Ok(());
            }
            if callgrind {
                let exe = std::env::current_exe()?;
                let report = counting::run(&options, &exe)?;
                if json {
                    println!("{}", counting::render_json(&report));
                } else {
                    println!("instructions per call under callgrind (loop and dispatch included)");
                    print!("{}", counting::render_table(&report));
                }
                return Ok(());
            }
            let report = compare::run(&options)?;
            print_comparison(
                &report,
                &options,
                json,
                svg.as_deref(),
                &compare::describe_fixtures(),
                "",
            )?;
        }
    }
    Ok(())
}
