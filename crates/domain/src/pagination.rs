//! Page size rules shared by every list endpoint.

use thiserror::Error;

/// Default number of items per page.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page a client may ask for.
pub const MAX_LIMIT: u32 = 200;

/// A validated page size (1..=200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("limit must be between 1 and {MAX_LIMIT}")]
pub struct InvalidLimit;

impl PageLimit {
    pub fn parse(requested: Option<i64>) -> Result<Self, InvalidLimit> {
        match requested {
            None => Ok(Self(DEFAULT_LIMIT)),
            Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => {
                u32::try_from(n).map(Self).map_err(|_| InvalidLimit)
            }
            Some(_) => Err(InvalidLimit),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_limit_applies_when_absent() {
        assert_eq!(
            PageLimit::parse(None).map(PageLimit::get),
            Ok(DEFAULT_LIMIT)
        );
    }

    proptest! {
        #[test]
        fn limit_accepted_exactly_in_range(n in -1000i64..1000) {
            let parsed = PageLimit::parse(Some(n));
            prop_assert_eq!(parsed.is_ok(), (1..=200).contains(&n));
        }
    }
}
