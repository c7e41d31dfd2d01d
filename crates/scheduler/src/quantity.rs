//! Quantities as the scheduler counts them: cpu in milli-units, everything else in
//! whole units, both exact (`skiff_api::quantity`).

use std::fmt;

use skiff_api::quantity::parse_scaled;

/// Milli-units of a quantity (cpu). Invalid quantities count as zero: the API server
/// rejects them, so the scheduler never rejects a pod for one.
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
    fn cpu_in_milli_units_the_rest_in_whole_units() {
        assert_eq!(milli("100m"), 100);
        assert_eq!(milli("1.5"), 1500);
        assert_eq!(value("1500m"), 2);
        assert_eq!(value("2Gi"), 2 << 30);
        assert_eq!(milli("junk"), 0);
    }

    #[test]
    fn milli_cpu_display() {
        assert_eq!(MilliCpu(2000).to_string(), "2");
        assert_eq!(MilliCpu(250).to_string(), "250m");
    }
}
