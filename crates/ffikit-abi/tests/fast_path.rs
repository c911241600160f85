//! The fast path against libffi, bit for bit: generated C functions of 0 to 16 mixed
//! arguments (integers of every width, floats, doubles, pointers, structs of 1 to 64 bytes by
//! value) and struct results, compiled by the system compiler, each called through both.

use std::fmt::Write as _;
use std::process::Command;

use ffikit_abi::{Library, Value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SCALARS: &[&str] = &[
    "signed char",
    "unsigned char",
    "short",
    "unsigned short",
    "int",
    "unsigned int",
    "long",
    "unsigned long",
    "float",
    "double",
    "void *",
];
const FIELDS: &[(&str, usize)] = &[
    ("char", 1),
    ("short", 2),
    ("int", 4),
    ("long", 8),
    ("float", 4),
    ("double", 8),
];

/// A value of a scalar C type, within its range.
fn scalar_value(ty: &str, rng: &mut Rng) -> Value {
    let r = rng.next();
    match ty {
        "signed char" => Value::Int((r % 256) as i64 - 128),
        "unsigned char" => Value::UInt(r % 256),
        "short" => Value::Int((r % 65536) as i64 - 32768),
        "unsigned short" => Value::UInt(r % 65536),
        "int" => Value::Int(r as u32 as i32 as i64),
        "unsigned int" => Value::UInt(r as u32 as u64),
        "long" => Value::Int(r as i64),
        "unsigned long" => Value::UInt(r),
        "float" => Value::Float(((r % 100_000) as f32 / 7.0) as f64),
        "double" => Value::Float((r % 1_000_000) as f64 / 3.0),
        _ => Value::Pointer((r % 0xffff_ffff) as usize),
    }
}

fn struct_value(fields: &[(&str, usize)], rng: &mut Rng) -> Value {
    Value::Struct(
        fields
            .iter()
            .enumerate()
            .map(|(k, (ty, _))| {
                let value = match *ty {
                    "char" => Value::Int((rng.next() % 128) as i64),
                    "short" => Value::Int((rng.next() % 30000) as i64),
                    "int" => Value::Int((rng.next() % 1_000_000) as i64 - 500_000),
                    "long" => Value::Int(rng.next() as i64 >> 4),
                    "float" => Value::Float(((rng.next() % 1000) as f32 / 8.0) as f64),
                    _ => Value::Float((rng.next() % 100_000) as f64 / 16.0),
                };
                (format!("f{k}"), value)
            })
            .collect(),
    )
}

#[test]
fn fast_path_agrees_with_libffi_bit_for_bit() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut source = String::from("#include <stdint.h>\n");
    // Structs of every size from 1 to 64 bytes (fields drawn until the size is reached).
    let mut structs: Vec<Vec<(&str, usize)>> = Vec::new();
    for target in 1..=64usize {
        let mut fields = Vec::new();
        let mut size = 0;
        while size < target {
            let (ty, field_size) = FIELDS[rng.below(FIELDS.len())];
            if size + field_size > target && size > 0 {
                break;
            }
            fields.push((ty, field_size));
            size += field_size;
        }
        let _ = writeln!(
            source,
            "struct s{target} {{ {} }};",
            fields
                .iter()
                .enumerate()
                .map(|(k, (ty, _))| format!("{ty} f{k};"))
                .collect::<String>()
        );
        structs.push(fields);
    }
    let declarations = source.replace("#include <stdint.h>\n", "");

    // Functions of 0..=16 mixed arguments returning a weighted checksum, and struct makers.
    let mut functions: Vec<(String, Vec<String>)> = Vec::new();
    for index in 0..120 {
        let count = index % 17;
        let params: Vec<String> = (0..count)
            .map(|_| {
                if rng.below(4) == 0 {
                    format!("struct s{}", 1 + rng.below(64))
                } else {
                    SCALARS[rng.below(SCALARS.len())].to_owned()
                }
            })
            .collect();
        let name = format!("mix{index}");
        let list: Vec<String> = params
            .iter()
            .enumerate()
            .map(|(k, ty)| format!("{ty} a{k}"))
            .collect();
        let _ = write!(
            source,
            "double {name}({}) {{ double t = 0;",
            if list.is_empty() {
                "void".into()
            } else {
                list.join(", ")
            }
        );
        for (k, ty) in params.iter().enumerate() {
            if let Some(n) = ty.strip_prefix("struct s") {
                let fields = &structs[n.parse::<usize>().unwrap() - 1];
                for f in 0..fields.len() {
                    let _ = write!(source, " t += {}.0 * a{k}.f{f};", k + f + 1);
                }
            } else if ty == "void *" {
                let _ = write!(
                    source,
                    " t += {}.0 * (double)((uintptr_t)a{k} & 0xffff);",
                    k + 1
                );
            } else {
                let _ = write!(source, " t += {}.0 * a{k};", k + 1);
            }
        }
        source.push_str(" return t; }\n");
        functions.push((name, params));
    }
    for n in 1..=64 {
        let fields = &structs[n - 1];
        let _ = write!(
            source,
            "struct s{n} make{n}(int seed, double x) {{ struct s{n} r;"
        );
        for (f, (ty, _)) in fields.iter().enumerate() {
            let _ = write!(source, " r.f{f} = ({ty})(seed + {f} * x);");
        }
        source.push_str(" return r; }\n");
    }

    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("generated.c");
    let so = dir.path().join("libgenerated.so");
    std::fs::write(&c, &source).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .unwrap();
    assert!(status.success());
    let library = Library::open(so.to_str().unwrap()).unwrap();
    library.cdef(&declarations).unwrap();

    let same = |a: &Value, b: &Value| format!("{a:?}") == format!("{b:?}");
    let mut fast_calls = 0;
    for (name, params) in &functions {
        let list = if params.is_empty() {
            "void".to_owned()
        } else {
            params.join(", ")
        };
        let declaration = format!("double {name}({list})");
        let fast = library.function(&declaration).unwrap();
        let reference = library.function(&declaration).unwrap().use_libffi();
        fast_calls += usize::from(fast.is_fast());
        for _ in 0..3 {
            let args: Vec<Value> = params
                .iter()
                .map(|ty| match ty.strip_prefix("struct s") {
                    Some(n) => struct_value(&structs[n.parse::<usize>().unwrap() - 1], &mut rng),
                    None => scalar_value(ty, &mut rng),
                })
                .collect();
            let (a, b) = (fast.call(&args).unwrap(), reference.call(&args).unwrap());
            assert!(same(&a, &b), "{declaration}: fast {a:?}, libffi {b:?}");
        }
    }
    for n in 1..=64 {
        let declaration = format!("struct s{n} make{n}(int seed, double x)");
        let fast = library.function(&declaration).unwrap();
        let reference = library.function(&declaration).unwrap().use_libffi();
        assert!(fast.is_fast(), "{declaration}");
        let args = [Value::Int(n as i64 * 3 - 50), Value::Float(1.25)];
        let (a, b) = (fast.call(&args).unwrap(), reference.call(&args).unwrap());
        assert!(same(&a, &b), "{declaration}: fast {a:?}, libffi {b:?}");
    }
    assert_eq!(
        fast_calls,
        functions.len(),
        "every generated signature takes the fast path"
    );
}
