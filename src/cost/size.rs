use std::fmt;
use std::str::FromStr;

use super::error::CostError;

const GIB: f64 = 1_073_741_824.0;

/// Units a size may be written in, as `(name, bytes)`. GB and TB mean what they mean on every
/// AWS price, console and calculator: 2^30 and 2^40 bytes, the same as GiB and TiB.
const UNITS: [(&str, f64); 4] = [
    ("GB", GIB),
    ("GiB", GIB),
    ("TB", GIB * 1024.0),
    ("TiB", GIB * 1024.0),
];

/// What the output says, once, about units.
pub(crate) const UNITS_NOTE: &str = "GB and TB are AWS's: 1 GB = 2^30 bytes (GiB) and 1 TB = \
     1,024 GB, in sizes, prices and --read-gb/--write-gb alike";

/// An amount of stored data. AWS bills storage per "GB-month" where a GB is binary (2^30
/// bytes), so the estimator works in GiB; the unit the user wrote is kept for display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    bytes: f64,
    unit: &'static str,
}

impl Size {
    pub fn from_gib(gib: f64) -> Self {
        Self {
            bytes: gib * GIB,
            unit: "GiB",
        }
    }

    /// Binary gigabytes: the unit of AWS's "GB-month".
    pub fn gib(self) -> f64 {
        self.bytes / GIB
    }
}

impl FromStr for Size {
    type Err = CostError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| CostError::InvalidSize {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = input.trim();
        // The unit is the trailing letters, so exponents ("1e6GB") stay in the number.
        let split = trimmed
            .trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .len();
        let (number, unit) = trimmed.split_at(split);
        let (number, unit) = (number.trim(), unit.trim());
        let not_a_number = || invalid("expected a number followed by a unit, e.g. 100GB or 1.5TiB");
        if number.is_empty() {
            return Err(not_a_number());
        }
        if unit.is_empty() {
            return Err(invalid("add a unit: GB, GiB, TB or TiB (e.g. 100GB)"));
        }
        let (unit, unit_bytes) = UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .ok_or_else(|| invalid(&format!("unknown unit {unit:?}; use GB, GiB, TB or TiB")))?;
        let amount: f64 = number.parse().map_err(|_| not_a_number())?;
        if amount <= 0.0 {
            return Err(invalid("the size must be greater than zero"));
        }
        if !(amount * unit_bytes).is_finite() {
            return Err(invalid("the size is too large to compute with"));
        }
        Ok(Self {
            bytes: amount * unit_bytes,
            unit,
        })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes_per_unit = UNITS
            .iter()
            .find(|(name, _)| *name == self.unit)
            .map_or(GIB, |(_, bytes)| *bytes);
        write!(
            f,
            "{} {}",
            trim_number(self.bytes / bytes_per_unit),
            self.unit
        )
    }
}

impl serde::Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.gib())
    }
}

/// A fraction of the stored data, written as a percentage ("50%" or "50").
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Share(f64);

impl Share {
    pub const ALL: Share = Share(1.0);
    pub const NONE: Share = Share(0.0);

    pub fn from_fraction(fraction: f64) -> Option<Self> {
        (0.0..=1.0).contains(&fraction).then_some(Self(fraction))
    }

    pub fn fraction(self) -> f64 {
        self.0
    }

    pub fn percent(self) -> f64 {
        self.0 * 100.0
    }
}

impl FromStr for Share {
    type Err = CostError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let number = input.trim().trim_end_matches('%').trim();
        number
            .parse::<f64>()
            .ok()
            .and_then(|percent| Share::from_fraction(percent / 100.0))
            .ok_or_else(|| CostError::InvalidShare {
                input: input.to_string(),
            })
    }
}

/// Up to two decimals, without trailing zeros: 100, 1.5, 93.13.
pub(crate) fn trim_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_are_exact_gib() {
        assert_eq!("100GiB".parse::<Size>().unwrap().gib(), 100.0);
        assert_eq!("1.5 TiB".parse::<Size>().unwrap().gib(), 1536.0);
    }

    /// AWS's "100 GB" of gp3 costs 100 × the GB-month price: its GB is 2^30 bytes.
    #[test]
    fn gb_and_tb_are_aws_binary_units() {
        assert_eq!("100GB".parse::<Size>().unwrap().gib(), 100.0);
        assert_eq!("1TB".parse::<Size>().unwrap().gib(), 1024.0);
        assert_eq!("1e3GB".parse::<Size>().unwrap().gib(), 1000.0);
        assert_eq!("2.5e-1 TB".parse::<Size>().unwrap().gib(), 256.0);
    }

    #[test]
    fn units_are_case_insensitive_and_display_canonically() {
        assert_eq!("10gib".parse::<Size>().unwrap().to_string(), "10 GiB");
        assert_eq!("2.5tb".parse::<Size>().unwrap().to_string(), "2.5 TB");
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        let message = |input: &str| input.parse::<Size>().unwrap_err().to_string();
        assert!(message("100").contains("add a unit"));
        assert!(message("100MB").contains("unknown unit \"MB\""));
        assert!(message("GB").contains("expected a number"));
        assert!(message("1.2.3GB").contains("expected a number"));
        assert!(message("0GB").contains("greater than zero"));
        assert!(message("-5GB").contains("greater than zero"));
        assert!(message("1e999GB").contains("too large"));
        assert!(message("inf GB").contains("too large"));
    }

    #[test]
    fn shares_are_percentages() {
        assert_eq!("50%".parse::<Share>().unwrap().fraction(), 0.5);
        assert_eq!("25".parse::<Share>().unwrap().fraction(), 0.25);
        assert!("150%".parse::<Share>().is_err());
        assert!("half".parse::<Share>().is_err());
    }
}
