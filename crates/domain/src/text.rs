//! Text from requests: one type for a single line (names, titles, addresses, codes) and one
//! for several lines (notes, descriptions, comments, template bodies), each with a length
//! limit in characters.
//!
//! Both refuse what no person types and what breaks storage or display: NUL (PostgreSQL
//! cannot store it; SQLite would, and a search for it matches everything), the other C0
//! controls, DEL and the C1 controls. A multi-line text keeps tab, line feed and carriage
//! return. A single line refuses those too, the Unicode line and paragraph separators, and
//! the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) with which a
//! name or a file name can be made to read differently from what it is ("Trojan Source").

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

/// Why a text is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("must have at most {max} characters (has {len})")]
    TooLong { max: usize, len: usize },
    #[error("must not contain the control character U+{code:04X} (character {position})")]
    Control { code: u32, position: usize },
    #[error("must be a single line (line break at character {position})")]
    LineBreak { position: usize },
    #[error(
        "must not contain the bidirectional control U+{code:04X} (character {position}); it can make text read differently from what it is"
    )]
    Bidi { code: u32, position: usize },
}

/// A control character no request text may hold (tab, line feed and carriage return are
/// not counted here).
pub fn is_forbidden_control(c: char) -> bool {
    let code = u32::from(c);
    (code < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || (0x7f..=0x9f).contains(&code)
}

fn is_bidi_control(c: char) -> bool {
    matches!(u32::from(c), 0x202A..=0x202E | 0x2066..=0x2069)
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// Checks a single line.
pub fn check_line(text: &str, max: usize) -> Result<(), TextError> {
    check(text, max, true)
}

/// Checks a multi-line text.
pub fn check_text(text: &str, max: usize) -> Result<(), TextError> {
    check(text, max, false)
}

fn check(text: &str, max: usize, single_line: bool) -> Result<(), TextError> {
    let mut len = 0;
    for (index, c) in text.chars().enumerate() {
        len += 1;
        let position = index + 1;
        if is_forbidden_control(c) {
            return Err(TextError::Control {
                code: u32::from(c),
                position,
            });
        }
        if single_line {
            if is_line_break(c) {
                return Err(TextError::LineBreak { position });
            }
            if c == '\t' {
                return Err(TextError::Control {
                    code: u32::from(c),
                    position,
                });
            }
            if is_bidi_control(c) {
                return Err(TextError::Bidi {
                    code: u32::from(c),
                    position,
                });
            }
        }
    }
    if len > max {
        return Err(TextError::TooLong { max, len });
    }
    Ok(())
}

macro_rules! text_type {
    ($name:ident, $check:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
        #[serde(transparent)]
        pub struct $name<const MAX: usize>(String);

        impl<const MAX: usize> $name<MAX> {
            /// The largest number of characters.
            pub const MAX: usize = MAX;

            pub fn parse(text: &str) -> Result<Self, TextError> {
                $check(text, MAX)?;
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Text this server stored itself (shown back in a view that is also a request
            /// body): not checked again.
            pub fn trusted(text: String) -> Self {
                Self(text)
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl<const MAX: usize> Deref for $name<MAX> {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl<const MAX: usize> AsRef<str> for $name<MAX> {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<const MAX: usize> PartialEq<String> for $name<MAX> {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl<const MAX: usize> PartialEq<$name<MAX>> for String {
            fn eq(&self, other: &$name<MAX>) -> bool {
                self == &other.0
            }
        }

        impl<const MAX: usize> PartialEq<str> for $name<MAX> {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl<const MAX: usize> From<$name<MAX>> for String {
            fn from(text: $name<MAX>) -> String {
                text.0
            }
        }

        impl<const MAX: usize> fmt::Debug for $name<MAX> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl<const MAX: usize> fmt::Display for $name<MAX> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de, const MAX: usize> Deserialize<'de> for $name<MAX> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $check(&text, MAX).map_err(serde::de::Error::custom)?;
                Ok(Self(text))
            }
        }
    };
}

text_type!(
    Line,
    check_line,
    "A single line of text of at most `MAX` characters (see the module documentation)."
);
text_type!(
    Text,
    check_text,
    "A text of several lines of at most `MAX` characters (see the module documentation)."
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_refuse_controls_breaks_and_bidi_overrides() {
        assert!(Line::<10>::parse("Müller 12").is_ok());
        assert_eq!(
            Line::<10>::parse("a\0b"),
            Err(TextError::Control {
                code: 0,
                position: 2
            })
        );
        assert_eq!(
            Line::<10>::parse("a\nb"),
            Err(TextError::LineBreak { position: 2 })
        );
        assert!(Line::<10>::parse("a\tb").is_err());
        assert!(Line::<10>::parse("a\u{2028}b").is_err());
        assert_eq!(
            Line::<20>::parse("invoice\u{202E}fdp.exe"),
            Err(TextError::Bidi {
                code: 0x202E,
                position: 8
            })
        );
        assert!(Line::<20>::parse("x\u{2066}y").is_err());
        assert!(Line::<10>::parse("a\u{85}b").is_err(), "C1 control NEL");
        assert!(Line::<10>::parse("a\u{7f}b").is_err(), "DEL");
        // Right-to-left text itself is fine, and so are the implicit marks.
        assert!(Line::<20>::parse("שלום \u{200F}עולם").is_ok());
        assert_eq!(
            Line::<3>::parse("abcd"),
            Err(TextError::TooLong { max: 3, len: 4 })
        );
        assert!(Line::<3>::parse("äöü").is_ok(), "characters, not bytes");
    }

    #[test]
    fn texts_keep_lines_and_tabs_but_refuse_other_controls() {
        assert!(Text::<50>::parse("Zeile 1\r\nZeile 2\tmit Tab").is_ok());
        assert!(Text::<50>::parse("bidi \u{202E} is allowed in notes").is_ok());
        assert!(Text::<50>::parse("a\u{0}b").is_err());
        assert!(
            Text::<50>::parse("a\u{1b}[31mred").is_err(),
            "escape sequences"
        );
        let parsed: Result<Text<5>, _> = serde_json::from_str("\"ab\\u0000\"");
        assert!(parsed.is_err());
        let parsed: Line<5> = serde_json::from_str("\"abc\"").expect("valid");
        assert_eq!(parsed.as_str(), "abc");
        assert_eq!(serde_json::to_string(&parsed).expect("json"), "\"abc\"");
    }

    proptest! {
        /// Whatever is accepted as a line holds no control character, no line break and no
        /// bidi control, and is within the limit; every such string is accepted.
        #[test]
        fn a_line_is_exactly_what_the_rules_allow(text in "\\PC{0,12}|[\\x00-\\x1f\\x7f\u{202a}-\u{202e}\u{2066}-\u{2069}a ]{0,12}") {
            let allowed = text.chars().count() <= 10
                && !text.chars().any(|c| c.is_control() || is_bidi_control(c) || is_line_break(c));
            prop_assert_eq!(Line::<10>::parse(&text).is_ok(), allowed);
        }
    }
}
