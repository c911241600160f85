//! Dynamic callbacks for generated signatures: 0 to 16 parameters of every scalar type
//! (integers of each width and signedness, `_Bool`, `float`, `double`, pointers), with every
//! scalar result. Those whose parameters all arrive in registers (at most 6 integer and 8 SSE
//! ones) are entered through ffikit's register-file slots, the rest through libffi closures;
//! both must see what C passed. The C side is generated from the same table and compiled by
//! the system compiler: a driver calls the callback with literal arguments and returns its
//! result, which comes back through a dynamic call.

mod support;
use support::compile;

use ffikit_abi::Value;

/// A scalar C type, and the literal of its k-th sample value in C and as the value a
/// callback receives.
#[derive(Debug, Clone, Copy)]
enum Scalar {
    SChar,
    UChar,
    Short,
    UShort,
    Int,
    UInt,
    Long,
    ULong,
    Bool,
    Float,
    Double,
    Pointer,
}

const SCALARS: [Scalar; 12] = [
    Scalar::SChar,
    Scalar::UChar,
    Scalar::Short,
    Scalar::UShort,
    Scalar::Int,
    Scalar::UInt,
    Scalar::Long,
    Scalar::ULong,
    Scalar::Bool,
    Scalar::Float,
    Scalar::Double,
    Scalar::Pointer,
];

impl Scalar {
    fn c(self) -> &'static str {
        match self {
            Scalar::SChar => "signed char",
            Scalar::UChar => "unsigned char",
            Scalar::Short => "short",
            Scalar::UShort => "unsigned short",
            Scalar::Int => "int",
            Scalar::UInt => "unsigned int",
            Scalar::Long => "long",
            Scalar::ULong => "unsigned long",
            Scalar::Bool => "_Bool",
            Scalar::Float => "float",
            Scalar::Double => "double",
            Scalar::Pointer => "void *",
        }
    }

    /// Sample `n`: negative for signed types, with the top bit set for unsigned ones (so a
    /// missing sign or zero extension shows), exact in binary for floating ones.
    fn sample(self, n: u64) -> (String, Value) {
        let i = n as i64;
        match self {
            Scalar::SChar => (
                format!("(signed char){}", -(i % 120)),
                Value::Int(-(i % 120)),
            ),
            Scalar::UChar => (
                format!("(unsigned char){}", 200 + n % 50),
                Value::UInt(200 + n % 50),
            ),
            Scalar::Short => (format!("(short){}", -30000 + i), Value::Int(-30000 + i)),
            Scalar::UShort => (
                format!("(unsigned short){}", 60000 + n),
                Value::UInt(60000 + n),
            ),
            Scalar::Int => (
                format!("{}", -2_000_000_000 + i),
                Value::Int(-2_000_000_000 + i),
            ),
            Scalar::UInt => (
                format!("{}u", 4_000_000_000 + n),
                Value::UInt(4_000_000_000 + n),
            ),
            Scalar::Long => (
                format!("{}L", -(1i64 << 40) - i),
                Value::Int(-(1i64 << 40) - i),
            ),
            Scalar::ULong => (
                format!("{}UL", (1u64 << 63) + n),
                Value::UInt((1u64 << 63) + n),
            ),
            Scalar::Bool => (format!("{}", n % 2), Value::Bool(n % 2 == 1)),
            Scalar::Float => (format!("{}.5f", n), Value::Float(n as f64 + 0.5)),
            Scalar::Double => (format!("{}.25", -i), Value::Float(-(i as f64) - 0.25)),
            Scalar::Pointer => (
                format!("(void *){}UL", 0x1000 + 16 * n),
                Value::Pointer(0x1000 + 16 * n as usize),
            ),
        }
    }

    fn is_sse(self) -> bool {
        matches!(self, Scalar::Float | Scalar::Double)
    }
}

/// A generated signature: its result (None: void) and parameters.
struct Signature {
    result: Option<Scalar>,
    params: Vec<Scalar>,
}

impl Signature {
    /// Whether every parameter arrives in a register (what a register-file slot takes).
    fn in_registers(&self) -> bool {
        let sse = self.params.iter().filter(|p| p.is_sse()).count();
        sse <= 8 && self.params.len() - sse <= 6
    }

    fn pointer_type(&self) -> String {
        let params: Vec<&str> = self.params.iter().map(|p| p.c()).collect();
        format!(
            "{} (*)({})",
            self.result.map_or("void", Scalar::c),
            if params.is_empty() {
                "void".to_owned()
            } else {
                params.join(", ")
            }
        )
    }
}

/// Deterministic signatures: the edges by hand (the most registers a slot takes, one past
/// each class, nothing at all), then pseudo-random ones of 0 to 16 parameters.
fn signatures() -> Vec<Signature> {
    use Scalar::*;
    let mut out = vec![
        Signature {
            result: None,
            params: vec![],
        },
        Signature {
            result: Some(Int),
            params: vec![Pointer, Pointer],
        },
        Signature {
            result: Some(Double),
            params: vec![
                Int, Double, Long, Float, Pointer, UChar, Double, Short, Float, Double, Double,
                Float, ULong, Double,
            ],
        },
        Signature {
            result: Some(Long),
            params: vec![Int, Int, Int, Int, Int, Int, Int],
        },
        Signature {
            result: Some(Float),
            params: vec![Double; 9],
        },
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..120 {
        let count = (next() % 17) as usize;
        let params = (0..count)
            .map(|_| SCALARS[(next() % SCALARS.len() as u64) as usize])
            .collect();
        let result = match next() % 13 {
            12 => None,
            k => Some(SCALARS[k as usize]),
        };
        out.push(Signature { result, params });
    }
    out
}

#[test]
fn generated_signatures_receive_their_arguments_and_return_their_result() {
    let signatures = signatures();
    let mut source = String::from("#include <stdint.h>\n");
    for (s, signature) in signatures.iter().enumerate() {
        let args: Vec<String> = signature
            .params
            .iter()
            .enumerate()
            .map(|(k, p)| p.sample((s * 17 + k) as u64).0)
            .collect();
        let result = signature.result.map_or("void", Scalar::c);
        let params: Vec<&str> = signature.params.iter().map(|p| p.c()).collect();
        let params = if params.is_empty() {
            "void".to_owned()
        } else {
            params.join(", ")
        };
        source += &format!(
            "{result} drive_{s}({result} (*f)({params})) {{ return f({}); }}\n",
            args.join(", ")
        );
    }
    let (_dir, library) = compile(&source);
    let (mut slots, mut closures) = (0, 0);
    for (s, signature) in signatures.iter().enumerate() {
        let expected: Vec<Value> = signature
            .params
            .iter()
            .enumerate()
            .map(|(k, p)| p.sample((s * 17 + k) as u64).1)
            .collect();
        let result = signature.result.map(|r| r.sample(1000 + s as u64));
        let (answer, wanted) = match &result {
            Some((_, value)) => (value.clone(), value.clone()),
            None => (Value::Void, Value::Void),
        };
        let seen = expected.clone();
        let callback = library
            .callback(
                &format!("generated_{s}"),
                &signature.pointer_type(),
                move |args| {
                    if args != seen.as_slice() {
                        return Err(format!("received {args:?}, C passed {seen:?}").into());
                    }
                    Ok(answer.clone())
                },
            )
            .unwrap();
        let declaration = format!(
            "{} drive_{s}(void *)",
            signature.result.map_or("void", Scalar::c)
        );
        // SAFETY: drive_s is generated above with this declaration; it calls the callback
        // once, while the callback is alive.
        let drive = unsafe { library.function(&declaration) }.unwrap();
        // SAFETY: as above.
        let got = unsafe { drive.call(&[callback.address()]) }
            .unwrap_or_else(|e| panic!("signature {s} `{}`: {e}", signature.pointer_type()));
        // A void* result of 0x1000+ comes back as a pointer, a _Bool as a bool.
        assert_eq!(got, wanted, "signature {s} `{}`", signature.pointer_type());
        if signature.in_registers() {
            slots += 1;
        } else {
            closures += 1;
        }
    }
    // Both entries are exercised.
    assert!(
        slots > 40 && closures > 20,
        "{slots} slot, {closures} closure signatures"
    );
}

#[test]
fn a_failing_slot_callback_gives_c_its_error_result_and_fails_the_call() {
    let (_dir, library) = compile(
        "static int last;\n\
         int twice(int (*f)(int, double), int x) { last = f(x, 0.5) + f(x, 0.5); return last; }\n\
         int last_sum(void) { return last; }\n",
    );
    let callback = library
        .callback("out_of_range", "int (*)(int, double)", |args| match args {
            [Value::Int(x), Value::Float(h)] if *h == 0.5 => Ok(Value::Int(x << 40)),
            _ => Err("unexpected arguments".into()),
        })
        .unwrap()
        .on_error(&Value::Int(-7))
        .unwrap();
    // SAFETY: twice and last_sum are defined above as declared; the callback outlives the
    // call.
    let (twice, last_sum) = unsafe {
        (
            library.function("int twice(void *, int)").unwrap(),
            library.function("int last_sum(void)").unwrap(),
        )
    };
    // SAFETY: as above.
    let error = unsafe { twice.call(&[callback.address(), Value::Int(3)]) }.unwrap_err();
    assert_eq!(
        error.kind(),
        ffikit_abi::ErrorKind::CallbackFailed,
        "{error}"
    );
    assert!(error.to_string().contains("out_of_range"), "{error}");
    // C got the error result from both invocations.
    // SAFETY: as above.
    assert_eq!(unsafe { last_sum.call(&[]) }.unwrap(), Value::Int(-14));
    let fine = library
        .callback("fine", "int (*)(int, double)", |args| match args {
            [Value::Int(x), Value::Float(h)] => Ok(Value::Int(x + (*h * 2.0) as i64)),
            _ => Err("unexpected arguments".into()),
        })
        .unwrap();
    // SAFETY: as above.
    let got = unsafe { twice.call(&[fine.address(), Value::Int(3)]) }.unwrap();
    assert_eq!(got, Value::Int(8));
}
