//! A company's branding on the customer's pages: its accent colour and the colours derived
//! from it so that text stays readable (WCAG 2.2 AA: 4.5:1 for text), its legal links, the
//! pages' fallback language and what its logo may be.

use std::fmt;

/// Contrast WCAG 2.2 AA asks of normal text.
pub const TEXT_CONTRAST: f64 = 4.5;

/// Largest logo (512 KiB).
pub const MAX_LOGO_BYTES: usize = 512 * 1024;

/// Longest imprint or privacy-policy link.
pub const MAX_LINK_CHARS: usize = 500;

/// The cache-busting version of a logo in links (`/{tenant}/logo?v=`): the first 12 hex
/// digits of its SHA-256.
pub fn logo_version(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// An sRGB colour, written `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Colour {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

/// White, the pages' background.
pub const WHITE: Colour = Colour {
    r: 0xff,
    g: 0xff,
    b: 0xff,
};

/// The pages' light panel background (`--soft`): buttons turn it on hover, so link-coloured
/// text must be readable on it too (it is darker than white, so that covers white as well).
pub const SOFT: Colour = Colour {
    r: 0xf3,
    g: 0xf6,
    b: 0xf9,
};

/// The near-black preferred for text on a light accent.
pub const NEAR_BLACK: Colour = Colour {
    r: 0x1a,
    g: 0x1a,
    b: 0x1a,
};

const BLACK: Colour = Colour { r: 0, g: 0, b: 0 };

impl Colour {
    /// `#rrggbb` (either case); nothing else (no `#rgb`, no names).
    pub fn parse(text: &str) -> Option<Colour> {
        let hex = text.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Colour {
            r: channel(0)?,
            g: channel(2)?,
            b: channel(4)?,
        })
    }

    /// WCAG relative luminance (0 black … 1 white).
    pub fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.r) + 0.7152 * linear(self.g) + 0.0722 * linear(self.b)
    }

    /// WCAG contrast ratio of two colours (1 … 21), in either order.
    pub fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (light, dark) = if a >= b { (a, b) } else { (b, a) };
        (light + 0.05) / (dark + 0.05)
    }

    /// The colour moved `percent` of the way to black.
    pub fn darken(self, percent: u8) -> Colour {
        let keep = |c: u8| {
            let scaled = u16::from(c) * u16::from(100 - percent.min(100)) / 100;
            u8::try_from(scaled).unwrap_or(u8::MAX)
        };
        Colour {
            r: keep(self.r),
            g: keep(self.g),
            b: keep(self.b),
        }
    }

    /// The colour moved `percent` of the way to white.
    pub fn lighten(self, percent: u8) -> Colour {
        let percent = u16::from(percent.min(100));
        let raise = |c: u8| {
            let c = u16::from(c);
            let raised = c + (255 - c) * percent / 100;
            u8::try_from(raised).unwrap_or(u8::MAX)
        };
        Colour {
            r: raise(self.r),
            g: raise(self.g),
            b: raise(self.b),
        }
    }

    /// The text colour on this colour as a background: white when that reads at 4.5:1,
    /// else near-black, else black (for the few mid tones where only black reaches 4.5:1).
    pub fn text_on(self) -> Colour {
        [WHITE, NEAR_BLACK]
            .into_iter()
            .find(|t| t.contrast(self) >= TEXT_CONTRAST)
            .unwrap_or(BLACK)
    }

    /// This colour as text (links, outlined buttons) on `background`: itself when it reads
    /// at 4.5:1, else darkened just enough.
    pub fn readable_on(self, background: Colour) -> Colour {
        (0..=100)
            .map(|p| self.darken(p))
            .find(|c| c.contrast(background) >= TEXT_CONTRAST)
            .unwrap_or(BLACK)
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// The colours the pages use for one accent colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// Fill of primary buttons and the skip link: the accent itself.
    pub fill: Colour,
    /// Text on the fill (white or near-black, ≥ 4.5:1).
    pub on_fill: Colour,
    /// The fill while hovered: further from the text colour, so still ≥ 4.5:1.
    pub fill_hover: Colour,
    /// Links, outlined buttons and the focus ring on the page (≥ 4.5:1 on white and on the
    /// light panels): the accent, darkened when it is too light.
    pub link: Colour,
    /// Links while hovered.
    pub link_hover: Colour,
}

impl Palette {
    pub fn of(accent: Colour) -> Palette {
        let on_fill = accent.text_on();
        let fill_hover = if on_fill == WHITE {
            accent.darken(15)
        } else {
            accent.lighten(15)
        };
        let link = accent.readable_on(SOFT);
        Palette {
            fill: accent,
            on_fill,
            fill_hover,
            link,
            link_hover: link.darken(20),
        }
    }
}

/// The language the customer's pages fall back to when neither the link nor the browser
/// names German or English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    De,
    En,
}

impl Language {
    pub fn parse(code: &str) -> Option<Language> {
        match code {
            "de" => Some(Language::De),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::De => "de",
            Language::En => "en",
        }
    }
}

/// An imprint or privacy-policy link: an absolute `https://` URL with a host, at most 500
/// characters, no spaces or control characters.
pub fn valid_https_link(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    url.chars().count() <= MAX_LINK_CHARS
        && !host.is_empty()
        && !host.contains('@')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"<>\\^`{|}".contains(c))
}

/// The type of a logo from its first bytes: PNG, JPEG or WebP; anything else (SVG, GIF,
/// HTML, ...) is none.
pub fn logo_type(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.len() > 12 && data.starts_with(b"RIFF") && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> Colour {
        Colour::parse(text).expect("a colour")
    }

    #[test]
    fn parses_only_six_digit_hex() {
        assert_eq!(c("#FFd400").to_string(), "#ffd400");
        for bad in ["ffd400", "#fd4", "#ffd4000", "#ggd400", "red", "", "#"] {
            assert_eq!(Colour::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn luminance_and_contrast_match_wcag() {
        assert!((WHITE.luminance() - 1.0).abs() < 1e-9);
        assert!(BLACK.luminance().abs() < 1e-9);
        assert!((WHITE.contrast(BLACK) - 21.0).abs() < 1e-9);
        // Known values: #767676 is the lightest grey with 4.5:1 on white.
        assert!(c("#767676").contrast(WHITE) >= 4.5);
        assert!(c("#777777").contrast(WHITE) < 4.5);
        assert!((c("#0b5cab").contrast(WHITE) - c("#ffffff").contrast(c("#0b5cab"))).abs() < 1e-12);
    }

    #[test]
    fn text_on_the_accent_always_reads() {
        assert_eq!(c("#0b5cab").text_on(), WHITE);
        assert_eq!(c("#ffd400").text_on(), NEAR_BLACK);
        // A mid tone where near-black is not enough.
        assert_eq!(c("#7b7b7b").text_on(), BLACK);
        for r in (0..=255).step_by(15) {
            for g in (0..=255).step_by(15) {
                for b in (0..=255).step_by(15) {
                    let accent = Colour { r, g, b };
                    assert!(
                        accent.text_on().contrast(accent) >= TEXT_CONTRAST,
                        "{accent}"
                    );
                }
            }
        }
    }

    #[test]
    fn light_accents_are_darkened_for_links() {
        let yellow = Palette::of(c("#ffd400"));
        assert_eq!(yellow.fill, c("#ffd400"));
        assert_ne!(yellow.link, yellow.fill);
        assert!(yellow.link.contrast(WHITE) >= TEXT_CONTRAST);
        assert!(yellow.link.contrast(SOFT) >= TEXT_CONTRAST);
        assert!(yellow.link_hover.contrast(WHITE) >= TEXT_CONTRAST);
        assert!(yellow.on_fill.contrast(yellow.fill_hover) >= TEXT_CONTRAST);
        // Dark enough already: kept as it is.
        let blue = Palette::of(c("#0b5cab"));
        assert_eq!(blue.link, c("#0b5cab"));
        assert_eq!(blue.on_fill, WHITE);
        assert!(blue.on_fill.contrast(blue.fill_hover) >= TEXT_CONTRAST);
        // White as an accent still gives readable links.
        assert!(Palette::of(WHITE).link.contrast(SOFT) >= TEXT_CONTRAST);
    }

    #[test]
    fn links_must_be_https_and_short() {
        assert!(valid_https_link("https://www.example.de/impressum"));
        assert!(valid_https_link("https://example.de"));
        for bad in [
            "http://example.de/impressum",
            "https://",
            "https:///path",
            "javascript:alert(1)",
            "https://exa mple.de",
            "https://user@example.de/",
            "https://example.de/\"><script>",
            "/impressum",
        ] {
            assert!(!valid_https_link(bad), "{bad}");
        }
        let long = format!("https://example.de/{}", "a".repeat(490));
        assert!(!valid_https_link(&long));
    }

    #[test]
    fn logos_are_sniffed() {
        assert_eq!(
            logo_type(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]),
            Some("image/png")
        );
        assert_eq!(logo_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(logo_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            logo_type(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(logo_type(b"GIF89a"), None);
        assert_eq!(logo_type(b""), None);
    }
}
