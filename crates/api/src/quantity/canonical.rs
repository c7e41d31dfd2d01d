//! The canonical text of a quantity, as upstream prints it (`Quantity.String()`): the
//! API server canonicalizes `1024Mi` to `1Gi` and `1000m` to `1` when it decodes an
//! object, while skiff keeps what the client sent, so printers and messages
//! canonicalize.

use super::{parts, Suffix};

/// How a quantity was written, which decides how it is printed back.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Format {
    /// `Ki`, `Mi`, ... (powers of 1024).
    BinarySi,
    /// `m`, `k`, `M`, ... or no suffix (powers of 1000).
    DecimalSi,
    /// `1e3`.
    DecimalExponent,
}

const NANO: i128 = 1_000_000_000;

/// The canonical text of `quantity`; text that does not parse (or is out of the
/// range handled here) is returned unchanged.
pub fn canonical(quantity: &str) -> String {
    nanos(quantity).map(|(nanos, format)| print(nanos, format)).unwrap_or_else(|| quantity.to_string())
}

/// The value in units of 10^-9 (rounded away from zero, as upstream rounds to
/// nano precision) and the format.
pub(super) fn nanos(s: &str) -> Option<(i128, Format)> {
    let p = parts(s).ok()?;
    let digits = format!("{}{}", p.int, p.frac);
    let digits: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    let (format, pow10, pow1024) = match p.suffix {
        Suffix::Binary(power) => (Format::BinarySi, 0, power),
        Suffix::Decimal(e) => (Format::DecimalSi, e, 0),
        Suffix::Exponent(e) if e.abs() <= 30 => (Format::DecimalExponent, e, 0),
        Suffix::Exponent(_) => return None,
    };
    let mut value = digits.checked_mul(1024i128.checked_pow(pow1024)?)?;
    let shift = 9 + pow10 - p.frac.len() as i32;
    if shift >= 0 {
        value = value.checked_mul(10i128.checked_pow(shift as u32)?)?;
    } else {
        let div = 10i128.checked_pow(shift.unsigned_abs())?;
        value = value / div + i128::from(value % div != 0);
    }
    Some((if p.negative { -value } else { value }, format))
}

fn print(nanos: i128, format: Format) -> String {
    if nanos == 0 {
        return "0".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.abs();
    // Small or fractional binary quantities print as decimal, so no precision is lost.
    if format == Format::BinarySi && magnitude >= 1024 * NANO && magnitude % NANO == 0 {
        let (mut units, mut power) = (magnitude / NANO, 0);
        while units % 1024 == 0 && power < 6 {
            units /= 1024;
            power += 1;
        }
        return format!("{sign}{units}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power]);
    }
    // Strip trailing zeros, then lower the exponent to a multiple of three.
    let (mut mantissa, mut exp): (i128, i32) = (magnitude, -9);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    while exp.rem_euclid(3) != 0 {
        mantissa *= 10;
        exp -= 1;
    }
    let suffix = match (format, exp) {
        (Format::DecimalExponent, 0) => String::new(),
        (Format::DecimalExponent, e) => format!("e{e}"),
        (_, -9) => "n".into(),
        (_, -6) => "u".into(),
        (_, -3) => "m".into(),
        (_, 0) => String::new(),
        (_, 3) => "k".into(),
        (_, 6) => "M".into(),
        (_, 9) => "G".into(),
        (_, 12) => "T".into(),
        (_, 15) => "P".into(),
        (_, 18) => "E".into(),
        (_, e) => format!("e{e}"),
    };
    format!("{sign}{mantissa}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn quantities_print_in_canonical_form() {
        for (input, want) in [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("1500Ki", "1500Ki"),
            ("0.5Ki", "512"),
            ("1000m", "1"),
            ("0.5", "500m"),
            ("1500", "1500"),
            ("2000", "2k"),
            ("250m", "250m"),
            ("1e3", "1e3"),
            ("1000e0", "1e3"),
            ("0", "0"),
            ("0Gi", "0"),
            ("-2Gi", "-2Gi"),
            ("10G", "10G"),
            ("0.1n", "1n"),
            ("bogus", "bogus"),
        ] {
            assert_eq!(canonical(input), want, "{input}");
        }
    }
}
