//! Resource quantities (`500m`, `2`, `1Gi`, `1.5k`) as exact milli-units, enough
//! to add up pod requests and print usage.

/// Parses a quantity into thousandths of a unit (rounded down); `None` when
/// malformed or too large.
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let negative = number.starts_with('-');
    let (whole, frac) =
        number.trim_start_matches(['+', '-']).split_once('.').unwrap_or((number.trim_start_matches(['+', '-']), ""));
    if (whole.is_empty() && frac.is_empty())
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
        || frac.len() > 9
    {
        return None;
    }
    // The number in billionths, so decimal fractions stay exact.
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let nanos = whole.checked_mul(1_000_000_000)? + format!("{frac:0<9}").parse::<i128>().ok()?;
    let (num, den): (i128, i128) = match suffix {
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1_000),
        "" => (1, 1),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        _ => return None,
    };
    let milli = nanos.checked_mul(num)? / den / 1_000_000;
    Some(if negative { -milli } else { milli })
}

/// Formats milli-units canonically: `250m`, `3`, or a binary suffix for
/// whole multiples of 1024 (`1Gi`), as upstream prints memory.
pub fn format_milli(milli: i128) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let units = milli / 1000;
    if units != 0 {
        for (suffix, size) in
            [("Ei", 1i128 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        {
            if units % size == 0 {
                return format!("{}{suffix}", units / size);
            }
        }
    }
    units.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_milli("500m"), Some(500));
        assert_eq!(parse_milli("2"), Some(2000));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("0.1"), Some(100));
        assert_eq!(parse_milli("1Gi"), Some(1000 << 30));
        assert_eq!(parse_milli("64Mi"), Some(64_000 << 20));
        assert_eq!(parse_milli("1k"), Some(1_000_000));
        assert_eq!(parse_milli("1M"), Some(1_000_000_000));
        assert_eq!(parse_milli("abc"), None);
        assert_eq!(parse_milli("1Q"), None);
        assert_eq!(format_milli(500), "500m");
        assert_eq!(format_milli(3000), "3");
        assert_eq!(format_milli(1000 << 30), "1Gi");
        assert_eq!(format_milli(96_000 << 20), "96Mi");
        assert_eq!(format_milli(0), "0");
    }
}
