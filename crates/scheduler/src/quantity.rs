//! Kubernetes resource quantities (`100m`, `1.5`, `2Gi`, `1e3`) as integers, in exact
//! arithmetic: `0.1` cpu is 100 millicores, not 100.000001.

use std::fmt;

/// A quantity string that is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {0:?}")]
pub struct InvalidQuantity(pub String);

/// The value of a quantity times `10^scale`, rounded up (upstream's `ScaledValue`
/// rounds away from zero too). `scale` 3 gives milli-units (cpu), 0 whole units.
///
/// # Errors
/// [`InvalidQuantity`] when `s` is not `<sign><digits>[.<digits>]<suffix>`.
/// Values beyond `i64` saturate.
pub fn parse_scaled(s: &str, scale: u32) -> Result<i64, InvalidQuantity> {
    let bad = || InvalidQuantity(s.to_string());
    let t = s.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let number_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, suffix) = t.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(bad());
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // numerator / 10^frac_digits is the number; everything stays in i128.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return Ok(if negative { i64::MIN } else { i64::MAX });
    }
    let numerator: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| bad())? };
    let mut exp10: i32 = scale as i32 - frac_part.len() as i32;
    let mut mult: i128 = 1;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = "KMGTPE".find(&suffix[..1]).unwrap_or(0) as u32 + 1;
            mult = 1i128 << (10 * power);
        }
        e if e.starts_with(['e', 'E']) => exp10 += e[1..].parse::<i32>().map_err(|_| bad())?,
        _ => return Err(bad()),
    }
    let value = scale_by(numerator.saturating_mul(mult), exp10);
    let value = if negative { -value } else { value };
    Ok(value.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// `n * 10^exp`, rounding up (away from zero for positive n) when exp < 0.
fn scale_by(n: i128, exp: i32) -> i128 {
    if exp >= 0 {
        (0..exp).try_fold(n, |acc, _| acc.checked_mul(10)).unwrap_or(i128::MAX)
    } else if -exp > 38 {
        i128::from(n > 0)
    } else {
        let d = 10i128.pow((-exp) as u32);
        (n + d - 1) / d
    }
}

/// Milli-units of a quantity (cpu). Invalid quantities count as zero: the API server
/// validates them, so the scheduler never rejects a pod for one.
pub fn milli(q: &str) -> i64 {
    parse_scaled(q, 3).unwrap_or(0)
}

/// Whole units of a quantity (bytes, counts), rounded up.
pub fn value(q: &str) -> i64 {
    parse_scaled(q, 0).unwrap_or(0)
}

/// Formats milli-cpu like kubectl would (`100m`, `2`), for messages.
pub struct MilliCpu(pub i64);

impl fmt::Display for MilliCpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
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
            ("1m", 0, 1),
            ("1500m", 0, 2),
            ("0", 3, 0),
            ("-1", 0, -1),
            ("+3", 0, 3),
            ("250n", 3, 1),
            ("1.25Ki", 0, 1280),
            ("10k", 0, 10_000),
        ];
        for (q, scale, want) in cases {
            assert_eq!(parse_scaled(q, *scale), Ok(*want), "{q} at scale {scale}");
        }
    }

    #[test]
    fn invalid_quantities_are_errors() {
        for q in ["", "abc", "1.2.3", "1Xi", ".", "1e", "m"] {
            assert!(parse_scaled(q, 0).is_err(), "{q:?} should be invalid");
        }
        assert_eq!(milli("junk"), 0);
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(value("99999999999999999999999999999999999"), i64::MAX);
        assert_eq!(value("100E"), i64::MAX);
    }

    #[test]
    fn milli_cpu_display() {
        assert_eq!(MilliCpu(2000).to_string(), "2");
        assert_eq!(MilliCpu(250).to_string(), "250m");
    }
}
