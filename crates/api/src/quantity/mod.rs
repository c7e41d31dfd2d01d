//! Kubernetes resource quantities (`100m`, `1.5`, `2Gi`, `1e3`): upstream's grammar,
//! exact integer values, and the canonical text upstream prints.
//!
//! The grammar is upstream's `ParseQuantity` (after `UnmarshalJSON` trims the text), so
//! what it accepts, and which of its two errors it gives, is what the API server answers
//! when a body holds a quantity: `1.G` and `m` are accepted (as 1G and 0), `1e` and `1ki`
//! have a bad suffix, `abc` and `1.2.3` are malformed.

mod canonical;

pub use canonical::canonical;

/// Why a text is not a quantity, in upstream's words (`resource.ErrFormatWrong`,
/// `resource.ErrSuffix`): the API server puts these in its 400 for a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// What a quantity's suffix multiplies its number by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suffix {
    /// `n` … `E` and no suffix: a power of ten.
    Decimal(i32),
    /// `Ki` … `Ei`: a power of 1024.
    Binary(u32),
    /// `e3`, `E-2`: a power of ten written as an exponent.
    Exponent(i32),
}

/// A quantity split into its parts; `int` and `frac` are ASCII digits (either may be
/// empty: upstream reads `.5`, `5.` and even `.` as numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub negative: bool,
    pub int: &'a str,
    pub frac: &'a str,
    pub suffix: Suffix,
}

/// Splits `s` as upstream's `parseQuantityString` and `interpret` do.
pub(crate) fn parts(s: &str) -> Result<Parts<'_>, QuantityError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(QuantityError::Format);
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (int, rest) = rest.split_at(digits(rest));
    let (frac, suffix) = match rest.strip_prefix('.') {
        Some(after) => after.split_at(digits(after)),
        None => ("", rest),
    };
    // The suffix is `[eEinumkKMGTP]*[-+]?[0-9]*`; anything else is malformed.
    let letters = suffix.find(|c: char| !"eEinumkKMGTP".contains(c)).unwrap_or(suffix.len());
    let tail = &suffix[letters..];
    let tail = tail.strip_prefix(['-', '+']).unwrap_or(tail);
    if !tail.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QuantityError::Format);
    }
    let suffix = interpret(suffix).ok_or(QuantityError::Suffix)?;
    Ok(Parts { negative, int, frac, suffix })
}

fn interpret(suffix: &str) -> Option<Suffix> {
    let decimal = |p| Some(Suffix::Decimal(p));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => Some(Suffix::Binary(1)),
        "Mi" => Some(Suffix::Binary(2)),
        "Gi" => Some(Suffix::Binary(3)),
        "Ti" => Some(Suffix::Binary(4)),
        "Pi" => Some(Suffix::Binary(5)),
        "Ei" => Some(Suffix::Binary(6)),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E']).filter(|e| !e.is_empty())?;
            exponent.parse().ok().map(Suffix::Exponent)
        }
    }
}

/// Checks that `s` is a quantity upstream would decode.
///
/// # Errors
/// [`QuantityError`] saying why it is not.
pub fn check(s: &str) -> Result<(), QuantityError> {
    parts(s).map(|_| ())
}

/// The value of a quantity times `10^scale`, rounded up (upstream's `ScaledValue`
/// rounds away from zero too), in exact arithmetic: `0.1` cpu at scale 3 is 100
/// millicores, not 100.000001. Values beyond `i64` saturate.
///
/// # Errors
/// [`QuantityError`] when `s` is not a quantity.
pub fn parse_scaled(s: &str, scale: u32) -> Result<i64, QuantityError> {
    let p = parts(s)?;
    let digits = format!("{}{}", p.int, p.frac);
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return Ok(if p.negative { i64::MIN } else { i64::MAX });
    }
    // numerator / 10^frac_digits is the number; everything stays in i128.
    let numerator: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| QuantityError::Format)? };
    let mut exp10 = scale as i32 - p.frac.len() as i32;
    let mut mult: i128 = 1;
    match p.suffix {
        Suffix::Decimal(e) | Suffix::Exponent(e) => exp10 = exp10.saturating_add(e),
        Suffix::Binary(power) => mult = 1i128 << (10 * power),
    }
    let value = scale_by(numerator.saturating_mul(mult), exp10);
    let value = if p.negative { -value } else { value };
    Ok(value.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// The exact value of a quantity in units of 10^-9 (rounded away from zero, as
/// upstream rounds to nano precision), for comparing quantities as upstream's `Cmp`
/// does; `None` when `s` is not a quantity or is beyond what 128 bits hold.
pub fn nanos(s: &str) -> Option<i128> {
    canonical::nanos(s).map(|(n, _)| n)
}

/// `n * 10^exp`, rounding up (away from zero for positive n) when exp < 0.
fn scale_by(n: i128, exp: i32) -> i128 {
    if exp >= 0 {
        (0..exp).try_fold(n, |acc, _| acc.checked_mul(10)).unwrap_or(i128::MAX)
    } else if exp < -38 {
        i128::from(n > 0)
    } else {
        let d = 10i128.pow(exp.unsigned_abs());
        (n + d - 1) / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_exactly() {
        let cases: &[(&str, u32, i64)] = &[
            ("100m", 3, 100),
            ("0.1", 3, 100),
            ("1", 3, 1000),
            ("1.5", 3, 1500),
            ("2", 0, 2),
            ("1Ki", 0, 1024),
            ("2Gi", 0, 2 << 30),
            ("500M", 0, 500_000_000),
            ("1e3", 0, 1000),
            ("1E3", 3, 1_000_000),
            ("1e-3", 3, 1),
            ("1E", 0, 1_000_000_000_000_000_000),
            ("1m", 0, 1),
            ("1500m", 0, 2),
            ("0", 3, 0),
            ("-1", 0, -1),
            ("+3", 0, 3),
            ("250n", 3, 1),
            ("1.25Ki", 0, 1280),
            ("10k", 0, 10_000),
            (" 2 ", 0, 2),
            // Upstream's parser reads these too.
            (".5", 3, 500),
            ("1.G", 0, 1_000_000_000),
            ("m", 3, 0),
            (".", 0, 0),
            ("-", 0, 0),
        ];
        for (q, scale, want) in cases {
            assert_eq!(parse_scaled(q, *scale), Ok(*want), "{q} at scale {scale}");
        }
    }

    #[test]
    fn invalid_quantities_say_why_as_upstream_does() {
        for q in ["", "  ", "abc", "1.2.3", "1Xi", "1 Gi", "1e3.5", "1Gi!", "0x10", "1KiB"] {
            assert_eq!(check(q), Err(QuantityError::Format), "{q:?}");
        }
        for q in ["1e", "1ki", "1Ki3", "1mm", "1e+", "--1"] {
            assert_eq!(check(q), Err(QuantityError::Suffix), "{q:?}");
        }
        assert_eq!(
            QuantityError::Format.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }

    #[test]
    fn nanos_compare_exactly() {
        assert_eq!(nanos("1Gi"), nanos("1024Mi"));
        assert!(nanos("1G") < nanos("1Gi"));
        assert_eq!(nanos("1n"), Some(1));
        assert_eq!(nanos("-1.5"), Some(-1_500_000_000));
        assert_eq!(nanos("100E"), Some(100_000_000_000_000_000_000_000_000_000));
        assert_eq!(nanos("abc"), None);
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(parse_scaled("99999999999999999999999999999999999", 0), Ok(i64::MAX));
        assert_eq!(parse_scaled("100E", 0), Ok(i64::MAX));
        assert_eq!(parse_scaled("-100E", 0), Ok(i64::MIN));
        assert_eq!(parse_scaled("1e999999", 0), Ok(i64::MAX));
        assert_eq!(parse_scaled("1e-999999", 0), Ok(1));
    }
}
