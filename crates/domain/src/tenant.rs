//! Tenant value types: the URL-safe slug, the company name and the time zone.

use chrono_tz::Tz;
use std::fmt;
use thiserror::Error;

/// A tenant's unique, URL-safe short name (`acme-fenster`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SlugError {
    #[error("slug must have 3 to 63 characters")]
    Length,
    #[error("slug may contain only lowercase letters, digits and hyphens")]
    Characters,
    #[error("slug must start and end with a letter or digit")]
    Edges,
    #[error("slug is reserved")]
    Reserved,
}

const RESERVED_SLUGS: [&str; 8] = [
    "admin", "api", "public", "www", "static", "docs", "system", "root",
];

impl Slug {
    pub fn parse(text: &str) -> Result<Self, SlugError> {
        let len = text.len();
        if !(3..=63).contains(&len) {
            return Err(SlugError::Length);
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(SlugError::Characters);
        }
        if text.starts_with('-') || text.ends_with('-') {
            return Err(SlugError::Edges);
        }
        if RESERVED_SLUGS.contains(&text) {
            return Err(SlugError::Reserved);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone the tenant works in; local times are computed in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(Tz);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown IANA time zone `{0}`")]
pub struct UnknownTimeZone(pub String);

impl TimeZone {
    pub fn parse(text: &str) -> Result<Self, UnknownTimeZone> {
        text.parse::<Tz>()
            .map(Self)
            .map_err(|_| UnknownTimeZone(text.to_owned()))
    }

    pub fn tz(self) -> Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self(chrono_tz::Europe::Berlin)
    }
}

/// Trims and checks a display name (company or person): 1 to 200 characters, no control
/// characters.
pub fn parse_display_name(text: &str) -> Result<String, NameError> {
    let trimmed = text.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        Err(NameError::Empty)
    } else if chars > 200 {
        Err(NameError::TooLong)
    } else if trimmed.chars().any(char::is_control) {
        Err(NameError::Control)
    } else {
        Ok(trimmed.to_owned())
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("must not be empty")]
    Empty,
    #[error("must have at most 200 characters")]
    TooLong,
    #[error("must not contain control characters")]
    Control,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme-fenster").is_ok());
        assert_eq!(Slug::parse("ab"), Err(SlugError::Length));
        assert_eq!(Slug::parse("Acme"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("-acme"), Err(SlugError::Edges));
        assert_eq!(Slug::parse("admin"), Err(SlugError::Reserved));
    }

    #[test]
    fn time_zones() {
        assert_eq!(TimeZone::default().name(), "Europe/Berlin");
        assert!(TimeZone::parse("America/New_York").is_ok());
        assert!(TimeZone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_display_name("  Fenster Müller GmbH "),
            Ok("Fenster Müller GmbH".to_owned())
        );
        assert_eq!(parse_display_name("   "), Err(NameError::Empty));
        assert_eq!(parse_display_name("a\u{0}b"), Err(NameError::Control));
    }
}
