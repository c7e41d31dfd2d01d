//! Resource quantities as exact milli-units, enough to add up pod requests and print
//! usage.

use skiff_api::quantity::parse_scaled;

/// A quantity in thousandths of a unit (rounded up, as upstream's `MilliValue`);
/// `None` when malformed.
pub fn parse_milli(s: &str) -> Option<i128> {
    parse_scaled(s, 3).ok().map(i128::from)
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
