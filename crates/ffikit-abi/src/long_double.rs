//! `long double` in C memory, in this target's format, to and from f64: x87's 80-bit extended
//! on x86-64, IEEE binary128 on aarch64 and riscv64 Linux; refused elsewhere.

/// Whether this target's `long double` format is known.
pub const SUPPORTED: bool = cfg!(any(target_arch = "x86_64", binary128_long_double));

/// Writes `value` into the 16 bytes of `dst`.
pub fn write(value: f64, dst: &mut [u8]) {
    dst.fill(0);
    #[cfg(target_arch = "x86_64")]
    dst[..10].copy_from_slice(&x87::from_f64(value));
    #[cfg(binary128_long_double)]
    dst[..16].copy_from_slice(&binary128::from_f64(value).to_ne_bytes());
    #[cfg(not(any(target_arch = "x86_64", binary128_long_double)))]
    let _ = value;
}

/// Reads the `long double` in the first 16 bytes of `src`, rounded to the nearest f64.
pub fn read(src: &[u8]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    return x87::to_f64(src[..10].try_into().expect("10 bytes"));
    #[cfg(binary128_long_double)]
    return binary128::to_f64(u128::from_ne_bytes(src[..16].try_into().expect("16 bytes")));
    #[cfg(not(any(target_arch = "x86_64", binary128_long_double)))]
    {
        let _ = src;
        f64::NAN
    }
}

/// Every kind of f64 (zeros, normals, the extremes, subnormals, infinities), which every
/// `long double` format holds exactly: each must come back bit for bit, through each format.
#[cfg(test)]
#[test]
fn every_kind_of_f64_round_trips() {
    for value in ROUND_TRIP_VALUES {
        let back = binary128::to_f64(binary128::from_f64(value));
        assert_eq!(back.to_bits(), value.to_bits(), "binary128: {value}");
        #[cfg(target_arch = "x86_64")]
        {
            let back = x87::to_f64(x87::from_f64(value));
            assert_eq!(back.to_bits(), value.to_bits(), "x87: {value}");
        }
    }
    assert!(binary128::to_f64(binary128::from_f64(f64::NAN)).is_nan());
    #[cfg(target_arch = "x86_64")]
    assert!(x87::to_f64(x87::from_f64(f64::NAN)).is_nan());
}

#[cfg(test)]
const ROUND_TRIP_VALUES: [f64; 12] = [
    0.0,
    -0.0,
    1.0,
    -2.5,
    std::f64::consts::PI,
    f64::MAX,
    f64::MIN_POSITIVE,
    5e-324,
    -1.5e-310,
    f64::INFINITY,
    f64::NEG_INFINITY,
    123456789.125,
];

/// `value >> shift`, rounded to nearest, ties to even: narrowing a wider significand to f64's
/// (x87's and binary128's alike).
#[cfg_attr(
    not(any(test, target_arch = "x86_64", binary128_long_double)),
    allow(dead_code)
)]
fn round_shift(value: u128, shift: u32) -> u128 {
    if shift == 0 {
        return value;
    }
    if shift >= 128 {
        return 0;
    }
    let kept = value >> shift;
    let rest = value & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rest > half || (rest == half && kept & 1 == 1) {
        kept + 1
    } else {
        kept
    }
}

/// The f64 nearest ±`significand` · 2^(`unbiased` − `top`), where `top` is the significand's
/// highest set bit (the two formats differ only in where it sits): ties to even, past f64's
/// range infinity, below its normal range a subnormal or zero.
#[cfg_attr(
    not(any(test, target_arch = "x86_64", binary128_long_double)),
    allow(dead_code)
)]
fn nearest_f64(sign: u64, significand: u128, top: u32, unbiased: i32) -> f64 {
    let infinity = f64::from_bits(sign | 0x7ff0_0000_0000_0000);
    let biased = unbiased + 1023;
    if biased >= 0x7ff {
        return infinity;
    }
    if biased >= 1 {
        // 53 significant bits; a carry out of rounding makes a new top bit.
        let mut kept = round_shift(significand, top - 52) as u64;
        let mut biased = biased as u64;
        if kept >> 53 != 0 {
            kept >>= 1;
            biased += 1;
            if biased >= 0x7ff {
                return infinity;
            }
        }
        return f64::from_bits(sign | biased << 52 | (kept & ((1 << 52) - 1)));
    }
    // Subnormal result: fewer significant bits. A carry into bit 52 makes the smallest
    // normal, which the same bits encode.
    let shift = top - 52 + (1 - biased) as u32;
    f64::from_bits(sign | round_shift(significand, shift) as u64)
}

/// IEEE 754 binary128 (`long double` on aarch64 and riscv64 Linux), to and from f64. Compiled
/// there, and for its tests everywhere.
#[cfg(any(test, binary128_long_double))]
pub(crate) mod binary128 {
    const FRACTION_BITS: u32 = 112;
    const EXPONENT_MASK: u128 = 0x7fff;

    /// Encodes exactly: every f64 is representable.
    pub fn from_f64(value: f64) -> u128 {
        let bits = value.to_bits();
        let sign = u128::from(bits >> 63) << 127;
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let fraction = u128::from(bits & ((1 << 52) - 1));
        let (exponent, fraction) = match exponent {
            0 if fraction == 0 => (0u128, 0u128),
            0 => {
                // Subnormal f64: normal in binary128's wider exponent range.
                let shift = fraction.leading_zeros() - (128 - 53); // top bit to bit 52
                let fraction = (fraction << shift) & ((1 << 52) - 1);
                ((1 - 1023 - shift as i32 + 16383) as u128, fraction << 60)
            }
            0x7ff => (EXPONENT_MASK, fraction << 60),
            e => ((e - 1023 + 16383) as u128, fraction << 60),
        };
        sign | exponent << FRACTION_BITS | fraction
    }

    /// Decodes, rounding to the nearest f64 (ties to even).
    pub fn to_f64(bits: u128) -> f64 {
        let sign = ((bits >> 127) as u64) << 63;
        let exponent = ((bits >> FRACTION_BITS) & EXPONENT_MASK) as i32;
        let fraction = bits & ((1 << FRACTION_BITS) - 1);
        let infinity = f64::from_bits(sign | 0x7ff0_0000_0000_0000);
        if exponent == EXPONENT_MASK as i32 {
            return if fraction == 0 { infinity } else { f64::NAN };
        }
        if exponent == 0 && fraction == 0 {
            return f64::from_bits(sign);
        }
        // value = significand / 2^112 * 2^(exponent - 16383), with the hidden bit for
        // normal numbers (binary128 subnormals use exponent 1).
        let significand = if exponent == 0 {
            fraction
        } else {
            fraction | 1 << FRACTION_BITS
        };
        let leading = significand.leading_zeros() - (127 - FRACTION_BITS);
        let unbiased = exponent.max(1) - 16383 - leading as i32;
        super::nearest_f64(sign, significand << leading, FRACTION_BITS, unbiased)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn known_encodings_from_the_standard() {
            // IEEE 754-2008 binary128: 1.0 is 0x3fff_0000..., -2.0 is 0xc000_0000...
            assert_eq!(from_f64(1.0), 0x3fff_u128 << 112);
            assert_eq!(from_f64(-2.0), 0xc000_u128 << 112);
            assert_eq!(from_f64(0.5), 0x3ffe_u128 << 112);
            // The smallest binary128 subnormal is far below f64: it rounds to zero.
            assert_eq!(to_f64(1).to_bits(), 0);
            // 1 + 2^-53 exactly between two f64s rounds to even (1.0); a hair more rounds up.
            let one = 0x3fff_u128 << 112;
            assert_eq!(to_f64(one | 1 << 59), 1.0);
            assert_eq!(to_f64(one | 1 << 59 | 1), 1.0 + f64::EPSILON);
            // The largest binary128 is past f64: infinity.
            assert_eq!(
                to_f64((0x7ffe_u128 << 112) | ((1 << 112) - 1)),
                f64::INFINITY
            );
        }
    }
}

/// The x87 80-bit extended format (`long double` on x86-64), to and from f64.
#[cfg(target_arch = "x86_64")]
pub(crate) mod x87 {
    /// Encodes exactly: every f64 is representable.
    pub fn from_f64(value: f64) -> [u8; 10] {
        let bits = value.to_bits();
        let sign = ((bits >> 63) as u16) << 15;
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        let (exponent, mantissa) = match exponent {
            0 if fraction == 0 => (0u16, 0u64),
            0 => {
                // Subnormal f64: normal in x87's wider exponent range.
                let shift = fraction.leading_zeros() - 11; // bring the top bit to bit 52
                let mantissa = (fraction << shift) << 11;
                ((1 - 1023 - shift as i32 + 16383) as u16, mantissa)
            }
            0x7ff => (0x7fff, (1 << 63) | (fraction << 11)),
            e => ((e - 1023 + 16383) as u16, (1 << 63) | (fraction << 11)),
        };
        let mut out = [0u8; 10];
        out[..8].copy_from_slice(&mantissa.to_le_bytes());
        out[8..].copy_from_slice(&(sign | exponent).to_le_bytes());
        out
    }

    /// Decodes, rounding to the nearest f64 (ties to even).
    pub fn to_f64(bytes: [u8; 10]) -> f64 {
        let mantissa = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let sign_exponent = u16::from_le_bytes([bytes[8], bytes[9]]);
        let sign = u64::from(sign_exponent >> 15) << 63;
        let exponent = i32::from(sign_exponent & 0x7fff);
        if exponent == 0x7fff {
            return if mantissa << 1 == 0 {
                f64::from_bits(sign | 0x7ff0_0000_0000_0000)
            } else {
                f64::NAN
            };
        }
        if mantissa == 0 {
            return f64::from_bits(sign);
        }
        // value = mantissa / 2^63 * 2^(exponent - 16383); x87 denormals use exponent 1.
        let leading = mantissa.leading_zeros();
        let unbiased = exponent.max(1) - 16383 - leading as i32;
        super::nearest_f64(sign, u128::from(mantissa << leading), 63, unbiased)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn encodes_as_the_intel_manual_says() {
            // 1.0: exponent 16383, integer bit set.
            assert_eq!(from_f64(1.0), [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
            // -2.0: sign set, exponent 16384.
            assert_eq!(from_f64(-2.0), [0, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0xc0]);
        }

        #[test]
        fn rounds_extended_precision_to_nearest() {
            // 1 + 2^-60 rounds to 1; 1 + 2^-52 + 2^-53 (a tie) rounds to even 1 + 2^-51.
            let mut bytes = from_f64(1.0);
            bytes[0] = 0b1000; // 2^-60 in the 64-bit mantissa
            assert_eq!(to_f64(bytes), 1.0);
            let tie = (1u64 << 63) | (1 << 11) | (1 << 10);
            let mut bytes = from_f64(1.0);
            bytes[..8].copy_from_slice(&tie.to_le_bytes());
            assert_eq!(to_f64(bytes), 1.0 + 2f64.powi(-51));
            // LDBL_MAX is beyond f64: infinity.
            let mut max = [0xffu8; 10];
            max[8] = 0xfe;
            max[9] = 0x7f;
            assert_eq!(to_f64(max), f64::INFINITY);
        }
    }
}
