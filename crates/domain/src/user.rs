//! User value types: e-mail address, skills and home base.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// An e-mail address, trimmed and lower-cased, so that look-ups are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("not a valid e-mail address")]
pub struct InvalidEmail;

impl Email {
    /// Accepts `local@domain.tld` with a non-empty local part, a dotted domain and no spaces;
    /// at most 254 characters (RFC 5321).
    pub fn parse(text: &str) -> Result<Self, InvalidEmail> {
        let email = text.trim().to_lowercase();
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidEmail);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(InvalidEmail)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@')
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(InvalidEmail);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A skill tag used by assignment rules (`glazing`, `electrical`): lowercase letters, digits,
/// `-` and `_`, 1 to 50 characters.
pub fn parse_skill(text: &str) -> Result<String, SkillError> {
    let skill = text.trim().to_lowercase();
    if skill.is_empty() || skill.len() > 50 {
        return Err(SkillError);
    }
    if !skill
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(SkillError);
    }
    Ok(skill)
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("skills have 1 to 50 characters: lowercase letters, digits, `-` and `_`")]
pub struct SkillError;

/// Normalises a skill list: each skill valid, duplicates removed, sorted; at most 50 skills.
pub fn parse_skills<S: AsRef<str>>(skills: &[S]) -> Result<Vec<String>, SkillError> {
    if skills.len() > 50 {
        return Err(SkillError);
    }
    let mut parsed = skills
        .iter()
        .map(|s| parse_skill(s.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort();
    parsed.dedup();
    Ok(parsed)
}

/// Where a field worker starts their day; used for travel and service-area rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeBase {
    pub postal_code: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HomeBaseError {
    #[error("postal code must have 1 to 16 letters, digits, spaces or hyphens")]
    PostalCode,
    #[error("latitude must be between -90 and 90")]
    Latitude,
    #[error("longitude must be between -180 and 180")]
    Longitude,
    #[error("latitude and longitude go together")]
    HalfCoordinates,
}

impl HomeBase {
    /// Returns the normalised home base or the first problem with it, tagged with the field
    /// name (`postal_code`, `latitude`, `longitude`).
    pub fn parse(
        postal_code: &str,
        latitude: Option<f64>,
        longitude: Option<f64>,
    ) -> Result<Self, (&'static str, HomeBaseError)> {
        let postal = postal_code.trim();
        if postal.is_empty()
            || postal.len() > 16
            || !postal
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        {
            return Err(("postal_code", HomeBaseError::PostalCode));
        }
        match (latitude, longitude) {
            (Some(lat), _) if !(-90.0..=90.0).contains(&lat) => {
                return Err(("latitude", HomeBaseError::Latitude));
            }
            (_, Some(lon)) if !(-180.0..=180.0).contains(&lon) => {
                return Err(("longitude", HomeBaseError::Longitude));
            }
            (Some(_), None) => return Err(("longitude", HomeBaseError::HalfCoordinates)),
            (None, Some(_)) => return Err(("latitude", HomeBaseError::HalfCoordinates)),
            _ => {}
        }
        Ok(Self {
            postal_code: postal.to_owned(),
            latitude,
            longitude,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Anna.Schmidt@Example.COM ").map(|e| e.as_str().to_owned()),
            Ok("anna.schmidt@example.com".to_owned())
        );
        for bad in [
            "",
            "anna",
            "anna@",
            "@example.com",
            "anna@example",
            "an na@example.com",
            "a@b..com",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(InvalidEmail),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn skills_are_normalised() {
        let skills = vec![
            "Glazing".to_owned(),
            "glazing".to_owned(),
            "electrical".to_owned(),
        ];
        assert_eq!(
            parse_skills(&skills),
            Ok(vec!["electrical".to_owned(), "glazing".to_owned()])
        );
        assert_eq!(parse_skills(&["two words".to_owned()]), Err(SkillError));
    }

    #[test]
    fn home_base() {
        assert!(HomeBase::parse("10115", Some(52.53), Some(13.38)).is_ok());
        assert!(HomeBase::parse("10115", None, None).is_ok());
        assert_eq!(
            HomeBase::parse("10115", Some(91.0), Some(0.0)),
            Err(("latitude", HomeBaseError::Latitude))
        );
        assert_eq!(
            HomeBase::parse("10115", Some(50.0), None),
            Err(("longitude", HomeBaseError::HalfCoordinates))
        );
        assert_eq!(
            HomeBase::parse("", None, None),
            Err(("postal_code", HomeBaseError::PostalCode))
        );
    }
}
