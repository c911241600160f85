//! The fast path against libffi, bit for bit: generated C functions of 0 to 16 mixed
//! arguments (integers of every width, floats, doubles, pointers, structs of 1 to 64 bytes by
//! value) and struct results, compiled by the system compiler, each called through both.

mod support;
use support::compile;

use std::fmt::Write as _;

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

    let (_dir, library) = compile(&source);
    library.cdef(&declarations).unwrap();

    let same = |a: &Value, b: &Value| format!("{a:?}") == format!("{b:?}");
    let mut fast_calls = 0;
    // Twice: the second time with a callback alive, when every route marks its call for a
    // callback failure (the struct lanes on their own guarded route).
    for round in 0..2 {
        let _alive = (round == 1).then(|| {
            library
                .callback("alive", "int (*)(int)", |args| Ok(args[0].clone()))
                .unwrap()
        });
        for (name, params) in &functions {
            let list = if params.is_empty() {
                "void".to_owned()
            } else {
                params.join(", ")
            };
            let declaration = format!("double {name}({list})");
            // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
            let fast = unsafe { library.function(&declaration) }.unwrap();
            // The reference: libffi with the general conversions (no lane, no struct plan).
            // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
            let reference = unsafe { library.function(&declaration) }
                .unwrap()
                .use_libffi()
                .use_general_path();
            // The lanes through libffi (structs in blocks of their own, C objects where they are).
            // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
            let lane_libffi = unsafe { library.function(&declaration) }
                .unwrap()
                .use_libffi();
            fast_calls += usize::from(fast.is_fast());
            for _ in 0..3 {
                let args: Vec<Value> = params
                    .iter()
                    .map(|ty| match ty.strip_prefix("struct s") {
                        Some(n) => {
                            struct_value(&structs[n.parse::<usize>().unwrap() - 1], &mut rng)
                        }
                        None => scalar_value(ty, &mut rng),
                    })
                    .collect();
                // SAFETY: live arguments of the types the function expects (promise 3).
                let (a, b) = (
                    unsafe { fast.call(&args) }.unwrap(),
                    unsafe { reference.call(&args) }.unwrap(),
                );
                assert!(same(&a, &b), "{declaration}: fast {a:?}, libffi {b:?}");
                // SAFETY: live arguments of the types the function expects (promise 3).
                let c = unsafe { lane_libffi.call(&args) }.unwrap();
                assert!(
                    same(&c, &b),
                    "{declaration}: lanes through libffi {c:?}, libffi {b:?}"
                );
                // The structs as C objects of their types: the same on every route.
                let objects: Vec<Value> = params
                    .iter()
                    .zip(&args)
                    .map(|(ty, arg)| match ty.starts_with("struct ") {
                        true => {
                            let mut object = library.new_value(ty).unwrap();
                            object.set(arg).unwrap();
                            Value::Data(object)
                        }
                        false => arg.clone(),
                    })
                    .collect();
                for route in [&fast, &lane_libffi, &reference] {
                    // SAFETY: live arguments of the types the function expects (promise 3).
                    let d = unsafe { route.call(&objects) }.unwrap();
                    assert!(same(&d, &b), "{declaration}: C objects {d:?}, libffi {b:?}");
                }
                // A C object of another struct type (one of another size: the generator makes
                // some structs alike, which are the same type to a C object): the same refusal on
                // every route.
                if let Some(k) = params.iter().position(|ty| ty.starts_with("struct s")) {
                    let size = library.new_value(&params[k]).unwrap().size();
                    let other = (1..=64)
                        .map(|m| library.new_value(&format!("struct s{m}")).unwrap())
                        .find(|object| object.size() != size)
                        .unwrap();
                    let mut wrong = objects.clone();
                    wrong[k] = Value::Data(other);
                    let errors: Vec<String> = [&fast, &lane_libffi, &reference]
                        .iter()
                        // SAFETY: refused before C runs.
                        .map(|route| unsafe { route.call(&wrong) }.unwrap_err().to_string())
                        .collect();
                    assert!(errors.iter().all(|e| *e == errors[0]), "{errors:?}");
                    assert!(errors[0].contains("expected a `struct s"), "{}", errors[0]);
                }
                // Struct values given otherwise — members reversed, one renamed, one missing, one
                // of the wrong kind; by position, whole, one short, one of the wrong kind — give
                // the same result or the same error on both paths.
                for variant in 0..7 {
                    let changed: Vec<Value> = args
                        .iter()
                        .map(|arg| match arg {
                            Value::Struct(fields) if variant >= 4 => {
                                let mut values: Vec<Value> =
                                    fields.iter().map(|(_, v)| v.clone()).collect();
                                match variant {
                                    4 => {}
                                    5 => drop(values.pop()),
                                    _ => values[0] = Value::Str("text".into()),
                                }
                                Value::Array(values)
                            }
                            Value::Struct(fields) => {
                                let mut fields = fields.clone();
                                match variant {
                                    0 => fields.reverse(),
                                    1 => fields[0].0 = "nope".into(),
                                    2 => drop(fields.pop()),
                                    _ => fields[0].1 = Value::Str("text".into()),
                                }
                                Value::Struct(fields)
                            }
                            other => other.clone(),
                        })
                        .collect();
                    let describe = |r: Result<Value, ffikit_abi::Error>| match r {
                        Ok(v) => format!("{v:?}"),
                        Err(e) => format!("{:?}: {e}", e.kind()),
                    };
                    let (a, b) = (
                        // SAFETY: live arguments of the types the function expects (promise 3).
                        describe(unsafe { fast.call(&changed) }),
                        // SAFETY: live arguments of the types the function expects (promise 3).
                        describe(unsafe { reference.call(&changed) }),
                    );
                    assert_eq!(a, b, "{declaration} with {changed:?}");
                    // SAFETY: live arguments of the types the function expects (promise 3).
                    let c = describe(unsafe { lane_libffi.call(&changed) });
                    assert_eq!(c, b, "{declaration} with {changed:?} through libffi");
                    // Members by position mean what they mean by name.
                    if variant == 4 {
                        // SAFETY: live arguments of the types the function expects (promise 3).
                        let named = unsafe { fast.call(&args) }.unwrap();
                        assert_eq!(a, format!("{named:?}"), "{declaration} by position");
                    }
                }
            }
        }
    }
    for n in 1..=64 {
        let declaration = format!("struct s{n} make{n}(int seed, double x)");
        // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
        let fast = unsafe { library.function(&declaration) }.unwrap();
        // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
        let reference = unsafe { library.function(&declaration) }
            .unwrap()
            .use_libffi();
        assert_eq!(fast.is_fast(), ffikit_abi::FAST_PATH, "{declaration}");
        let args = [Value::Int(n as i64 * 3 - 50), Value::Float(1.25)];
        // SAFETY: live arguments of the types the function expects (promise 3).
        let (a, b) = (
            unsafe { fast.call(&args) }.unwrap(),
            unsafe { reference.call(&args) }.unwrap(),
        );
        assert!(same(&a, &b), "{declaration}: fast {a:?}, libffi {b:?}");
    }
    // Every generated signature takes the fast path where there is one; without it (another
    // target, or `--no-default-features`) the same comparison is libffi with the lanes and
    // struct plans against libffi with the general conversions.
    let expected = if ffikit_abi::FAST_PATH {
        2 * functions.len()
    } else {
        0
    };
    assert_eq!(fast_calls, expected, "signatures on the fast path");
}

/// Scalar types with their ranges, for the lane test: (C type, min, max) for integers.
const INTEGERS: &[(&str, i128, i128)] = &[
    ("signed char", -128, 127),
    ("unsigned char", 0, 255),
    ("short", -32768, 32767),
    ("unsigned short", 0, 65535),
    ("int", i32::MIN as i128, i32::MAX as i128),
    ("unsigned int", 0, u32::MAX as i128),
    ("long", i64::MIN as i128, i64::MAX as i128),
    ("unsigned long", 0, u64::MAX as i128),
    ("_Bool", 0, 1),
];

/// Values at and past the edges of a C integer type, and of every other kind.
fn edge_values(min: i128, max: i128) -> Vec<Value> {
    let mut values = Vec::new();
    for v in [min - 1, min, min + 1, 0, 1, max - 1, max, max + 1] {
        if let Ok(i) = i64::try_from(v) {
            values.push(Value::Int(i));
        }
        if let Ok(u) = u64::try_from(v) {
            values.push(Value::UInt(u));
        }
    }
    values.extend([
        Value::Bool(true),
        Value::Bool(false),
        Value::Float(2.5),
        Value::Float(-0.0),
        Value::Float(1e300),
        Value::Null,
        Value::Pointer(0x1234),
        Value::Str("text".into()),
        Value::Bytes(vec![1, 2, 3]),
        Value::Void,
    ]);
    values
}

/// What a call gave, comparable across paths: the value, or the error's kind and text. (A
/// pointer result from a call given copied bytes may point into the copy: not compared.)
fn outcome(result: Result<Value, ffikit_abi::Error>, args: &[Value]) -> String {
    let copied = args
        .iter()
        .any(|a| matches!(a, Value::Str(_) | Value::Bytes(_)));
    match result {
        Ok(Value::Pointer(_)) if copied => "a pointer into a copy".into(),
        Ok(Value::Float(f)) => format!("Float({:#x})", f.to_bits()),
        Ok(value) => format!("{value:?}"),
        Err(error) => format!("{:?}: {error}", error.kind()),
    }
}

#[test]
fn scalar_lanes_agree_with_the_general_conversions() {
    // Identity functions of every scalar type, and functions of 0 to 16 mixed scalar
    // arguments (past 6 integer or 8 floating ones, the rest on the stack).
    let mut source = String::from("#include <stdint.h>\n");
    let mut identities = Vec::new();
    let scalar_types = INTEGERS
        .iter()
        .map(|(ty, ..)| *ty)
        .chain(["float", "double", "void *"]);
    for (k, ty) in scalar_types.enumerate() {
        let _ = writeln!(source, "{ty} id{k}({ty} x) {{ return x; }}");
        identities.push((format!("{ty} id{k}({ty} x)"), ty));
    }
    let mut rng = Rng(0x5eed_1a9e_0fc0_de01);
    let results = [
        "int",
        "unsigned char",
        "short",
        "long",
        "double",
        "float",
        "_Bool",
    ];
    let mut mixed = Vec::new();
    for index in 0..119 {
        let count = index % 17;
        let params: Vec<&str> = (0..count)
            .map(|_| match rng.below(4) {
                0 => "double",
                1 => "float",
                2 => "void *",
                _ => INTEGERS[rng.below(INTEGERS.len())].0,
            })
            .collect();
        let result = results[index % results.len()];
        let list: Vec<String> = params
            .iter()
            .enumerate()
            .map(|(k, ty)| format!("{ty} a{k}"))
            .collect();
        let list = if list.is_empty() {
            "void".to_owned()
        } else {
            list.join(", ")
        };
        let _ = write!(source, "{result} lane{index}({list}) {{ double t = 0;");
        for (k, ty) in params.iter().enumerate() {
            match *ty {
                "void *" => {
                    let _ = write!(
                        source,
                        " t += {}.0 * (double)((uintptr_t)a{k} & 0xff);",
                        k + 1
                    );
                }
                _ => {
                    let _ = write!(source, " t += {}.0 * a{k};", k + 1);
                }
            }
        }
        let _ = writeln!(source, " return ({result})(t / 3); }}");
        mixed.push((format!("{result} lane{index}({list})"), params));
    }

    let (_dir, library) = compile(&source);

    // The four paths: lane in registers (or lane through libffi past the registers), lane
    // through libffi, general conversions with the classified fast path, general
    // conversions through libffi.
    let paths = |declaration: &str| {
        [
            // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
            unsafe { library.function(declaration) }.unwrap(),
            // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
            unsafe { library.function(declaration) }
                .unwrap()
                .use_libffi(),
            // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
            unsafe { library.function(declaration) }
                .unwrap()
                .use_general_path(),
            // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
            unsafe { library.function(declaration) }
                .unwrap()
                .use_general_path()
                .use_libffi(),
        ]
    };
    let agree = |declaration: &str, functions: &[ffikit_abi::Function<'_>], args: &[Value]| {
        let outcomes: Vec<String> = functions
            .iter()
            // SAFETY: live arguments of the types the function expects (promise 3).
            .map(|f| outcome(unsafe { f.call(args) }, args))
            .collect();
        for other in &outcomes[1..] {
            assert_eq!(&outcomes[0], other, "{declaration} with {args:?}");
        }
        outcomes[0].clone()
    };

    let mut checked = 0;
    for (declaration, ty) in &identities {
        let functions = paths(declaration);
        let (min, max) = INTEGERS
            .iter()
            .find(|(name, ..)| name == ty)
            .map_or((-3, 3), |(_, min, max)| (*min, *max));
        for value in edge_values(min, max) {
            agree(declaration, &functions, std::slice::from_ref(&value));
            checked += 1;
        }
        // The wrong number of arguments: the same error on every path.
        agree(declaration, &functions, &[]);
        agree(declaration, &functions, &[Value::Int(1), Value::Int(2)]);
    }
    // An identity gives back what it was given, through the lane.
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let int = unsafe { library.function("int id4(int x)") }.unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { int.call(&[Value::Int(-7)]) }.unwrap(),
        Value::Int(-7)
    );
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { int.call(&[Value::UInt(7)]) }.unwrap(),
        Value::Int(7)
    );
    assert_eq!(int.is_fast(), ffikit_abi::FAST_PATH);

    for (declaration, params) in &mixed {
        let functions = paths(declaration);
        for round in 0..6 {
            let args: Vec<Value> = params
                .iter()
                .map(|ty| {
                    let r = rng.next();
                    match (*ty, round) {
                        // Mostly in-range values of the expected kind, sometimes another kind.
                        ("double" | "float", 0..=3) => Value::Float((r % 1000) as f64 / 8.0),
                        ("void *", 0..=3) => Value::Pointer((r % 0xffff) as usize),
                        (_, 0..=2) => Value::Int((r % 100) as i64),
                        (_, 3) => Value::UInt(r % 100),
                        _ => edge_values(-1, 1)[rng.below(20)].clone(),
                    }
                })
                .collect();
            agree(declaration, &functions, &args);
            checked += 1;
        }
    }
    assert!(checked > 400, "{checked} calls compared");
}

#[test]
fn dynamic_callbacks_receive_every_scalar_type_as_a_call_returns_it() {
    // For each scalar type T: `T pass_T(T (*f)(T, T), T x, T y) { return f(x, y); }` and
    // `T id_T(T x) { return x; }`. C hands x and y to the callback; the callback must see the
    // same Values a call of id_T gives back for them (the general result reading).
    let types = INTEGERS
        .iter()
        .map(|(ty, ..)| *ty)
        .chain(["float", "double", "void *"])
        .collect::<Vec<_>>();
    let mut source = String::new();
    for (k, ty) in types.iter().enumerate() {
        let _ = writeln!(
            source,
            "{ty} pass{k}({ty} (*f)({ty}, {ty}), {ty} x, {ty} y) {{ return f(x, y); }}\n\
             {ty} id{k}({ty} x) {{ return x; }}"
        );
    }
    let (_dir, library) = compile(&source);

    for (k, ty) in types.iter().enumerate() {
        let (min, max) = INTEGERS
            .iter()
            .find(|(name, ..)| name == ty)
            .map_or((-3, 3), |(_, min, max)| (*min, *max));
        // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
        let id = unsafe { library.function(&format!("{ty} id{k}({ty} x)")) }
            .unwrap()
            .use_general_path();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        let callback = library
            .callback(
                "pair",
                &format!("{ty} (*)({ty}, {ty})"),
                move |args: &[Value]| {
                    log.lock().unwrap().push(args.to_vec());
                    Ok(args[1].clone())
                },
            )
            .unwrap();
        // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
        let pass = unsafe {
            library.function(&format!(
                "{ty} pass{k}({ty} (*f)({ty}, {ty}), {ty} x, {ty} y)"
            ))
        }
        .unwrap();
        let inputs: Vec<Value> = edge_values(min, max)
            .into_iter()
            // SAFETY: live arguments of the types the function expects (promise 3).
            .filter(|v| unsafe { id.call(std::slice::from_ref(v)) }.is_ok())
            .filter(|v| !matches!(v, Value::Str(_) | Value::Bytes(_)))
            .collect();
        assert!(inputs.len() >= 2, "{ty}: {inputs:?}");
        for pair in inputs.windows(2) {
            seen.lock().unwrap().clear();
            // SAFETY: live arguments of the types the function expects (promise 3).
            let returned =
                unsafe { pass.call(&[callback.address(), pair[0].clone(), pair[1].clone()]) }
                    .unwrap();
            let expected: Vec<Value> = pair
                .iter()
                // SAFETY: live arguments of the types the function expects (promise 3).
                .map(|v| unsafe { id.call(std::slice::from_ref(v)) }.unwrap())
                .collect();
            assert_eq!(
                *seen.lock().unwrap(),
                vec![expected.clone()],
                "{ty} {pair:?}"
            );
            assert_eq!(returned, expected[1], "{ty} {pair:?}");
        }
    }
}

/// A libc function (declared as its header does) bound three ways: the lanes, the general
/// conversions, libffi.
fn three_routes<'a>(libc: &'a Library, declaration: &str) -> [ffikit_abi::Function<'a>; 3] {
    // SAFETY: every declaration these tests pass is <string.h>'s or <stdlib.h>'s.
    let bind = || unsafe { libc.function(declaration) }.unwrap();
    [bind(), bind().use_general_path(), bind().use_libffi()]
}

/// Strings for `char *` parameters through the lanes (a copy on the stack), the general
/// conversions and libffi: the same results, and the same errors for a NUL inside, NULL,
/// and strings too long for the stack copy (which take the general path).
#[test]
fn strings_through_every_route_agree() {
    let libc = Library::this();
    // SAFETY: the declarations are <string.h>'s and <stdlib.h>'s.
    let bind = |declaration: &str| unsafe { libc.function(declaration) }.unwrap();
    let routes = |declaration: &str| three_routes(&libc, declaration);
    let texts: Vec<String> = [0, 1, 34, 200, 254, 255, 256, 300, 5000]
        .iter()
        .map(|&n| (0..n).map(|k| char::from(b'a' + (k % 26) as u8)).collect())
        .collect();
    for text in &texts {
        let results: Vec<Value> = routes("size_t strlen(const char *)")
            .iter()
            // SAFETY: strlen reads the NUL-terminated copy ffikit makes (promise 3).
            .map(|f| unsafe { f.call(&[Value::Str(text.clone())]) }.unwrap())
            .collect();
        assert!(
            results.iter().all(|r| *r == Value::UInt(text.len() as u64)),
            "{results:?}"
        );
        for other in &texts {
            let compared: Vec<Value> = routes("int strcmp(const char *, const char *)")
                .iter()
                .map(|f| {
                    let args = [Value::Str(text.clone()), Value::Str(other.clone())];
                    // SAFETY: strcmp reads two NUL-terminated copies (promise 3).
                    unsafe { f.call(&args) }.unwrap()
                })
                .collect();
            let sign = |v: &Value| v.as_i128().unwrap().signum();
            let expected = text.as_str().cmp(other.as_str()) as i128;
            assert!(compared.iter().all(|r| sign(r) == expected), "{compared:?}");
        }
    }
    let refusals = |args: Vec<Value>| -> Vec<String> {
        routes("int atoi(const char *)")
            .iter()
            // SAFETY: each call is refused before C runs.
            .map(|f| unsafe { f.call(&args) }.unwrap_err())
            .map(|e| format!("{:?}: {e}", e.kind()))
            .collect()
    };
    for bad in [
        vec![Value::Str("12\0x3".into())],
        vec![Value::Null],
        vec![Value::Pointer(0)],
        vec![Value::Float(1.5)],
    ] {
        let errors = refusals(bad.clone());
        assert!(
            errors.iter().all(|e| *e == errors[0]),
            "{bad:?}: {errors:?}"
        );
    }
    // atoi through the lane reads the copy.
    // SAFETY: atoi reads the NUL-terminated copy.
    let parsed = unsafe { bind("int atoi(const char *)").call(&[Value::Str("-4711".into())]) };
    assert_eq!(parsed.unwrap(), Value::Int(-4711));
}

#[test]
fn c_strings_pass_as_they_are_to_const_and_as_copies_to_writable_parameters() {
    use std::ffi::CString;
    let libc = Library::this();
    let routes = |declaration: &str| three_routes(&libc, declaration);
    for n in [0usize, 1, 34, 255, 256, 5000] {
        let text: String = (0..n).map(|k| char::from(b'a' + (k % 26) as u8)).collect();
        let c_string = || Value::CString(CString::new(text.clone()).unwrap());
        for f in routes("size_t strlen(const char *)") {
            // SAFETY: strlen reads the C string (promise 3).
            let length = unsafe { f.call(&[c_string()]) }.unwrap();
            assert_eq!(length, Value::UInt(n as u64));
        }
        // A `const char *` gets the C string's own address: strchr finds its terminator
        // there.
        for f in routes("void *strchr(const char *, int)") {
            let args = [c_string(), Value::Int(0)];
            let Value::CString(own) = &args[0] else {
                unreachable!()
            };
            // SAFETY: strchr reads the C string and returns an address inside it.
            let end = unsafe { f.call(&args) }.unwrap();
            assert_eq!(end, Value::Pointer(own.as_ptr() as usize + n));
        }
        // A writable `char *` gets a copy: C writes into it, the value stays as it was.
        for f in routes("char *strcpy(char *, const char *)") {
            let args = [
                c_string(),
                Value::CString(CString::new("x".repeat(n)).unwrap()),
            ];
            // SAFETY: strcpy writes n + 1 bytes into the n + 1 byte copy of the target.
            let copied = unsafe { f.call(&args) }.unwrap();
            assert_eq!(copied.as_text().unwrap(), "x".repeat(n));
            let Value::CString(own) = &args[0] else {
                unreachable!()
            };
            assert_ne!(copied.as_address(), Some(own.as_ptr() as usize));
            assert_eq!(args[0], c_string());
        }
    }
}
