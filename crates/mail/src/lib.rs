//! Outgoing e-mail: SMTP delivery (lettre, async on tokio) and customer-facing
//! mail templates.
//!
//! * [`Mailer`] sends one [`Mail`] (plain-text UTF-8 body plus attachments) and
//!   classifies failures as [`SendError::Permanent`] (do not retry) or
//!   [`SendError::Transient`] (retry later, with the same `message_id`).
//! * [`templates`] holds the default German/English texts and `{{placeholder}}`
//!   validation and rendering.
//! * `testing` (cargo feature `testing`) starts a real SMTP server for tests.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment as MimeAttachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub mod templates;

#[cfg(feature = "testing")]
pub mod testing;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsMode {
    /// Plain text (local relays and tests only).
    None,
    /// Plain connection upgraded with STARTTLS; the upgrade is required (port 587).
    #[default]
    StartTls,
    /// Implicit TLS from the first byte ("SMTPS", port 465).
    Tls,
}

impl TlsMode {
    /// `"none"`, `"starttls"` or `"tls"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Tls => "tls",
        }
    }

    /// The usual port for this mode: 25, 587 or 465.
    pub const fn default_port(self) -> u16 {
        match self {
            TlsMode::None => 25,
            TlsMode::StartTls => 587,
            TlsMode::Tls => 465,
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TlsMode {
    type Err = ConfigError;

    /// Case-insensitive `none` | `starttls` | `tls`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::StartTls),
            "tls" => Ok(TlsMode::Tls),
            _ => Err(ConfigError::UnknownTlsMode(s.to_owned())),
        }
    }
}

/// Connection settings for the outgoing SMTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Sender, `"Name <addr>"` or a bare address.
    pub from: String,
    /// TCP connect timeout. The whole SMTP exchange of one `send` (greeting to
    /// QUIT, including the upload) is limited to [`SEND_TIMEOUT_FACTOR`] × this.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field(
                "password",
                &self.password.as_ref().map(|_| Redacted).as_ref(),
            )
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// The whole SMTP exchange of [`Mailer::send`] may take at most this many
/// times [`SmtpSettings::timeout`].
pub const SEND_TIMEOUT_FACTOR: u32 = 4;

/// A file attached to a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// Full MIME type including parameters, e.g. `application/pdf` or
    /// `text/calendar; method=REQUEST; charset=utf-8`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One outgoing mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Message-ID without angle brackets, e.g. `"0190…@workorders"`. Keep it the
    /// same on every retry so receivers can de-duplicate.
    pub message_id: String,
    /// Recipient address (bare address).
    pub to: String,
    /// Recipient display name.
    pub to_name: Option<String>,
    /// Reply-To: `"Name <addr>"` or a bare address.
    pub reply_to: Option<String>,
    pub subject: String,
    /// Plain-text body (sent as `text/plain; charset=utf-8`).
    pub text: String,
    pub attachments: Vec<Attachment>,
}

/// Why a mail could not be sent. Messages never contain the SMTP password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Retrying will not help: SMTP 5xx, invalid address, malformed mail.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
    /// Retry later: SMTP 4xx, connection refused/reset, timeout, TLS trouble.
    #[error("transient mail failure: {0}")]
    Transient(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }

    pub fn message(&self) -> &str {
        match self {
            SendError::Permanent(m) | SendError::Transient(m) => m,
        }
    }
}

/// Invalid [`SmtpSettings`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown SMTP TLS mode {0:?} (expected none, starttls or tls)")]
    UnknownTlsMode(String),
    #[error("SMTP host is empty")]
    EmptyHost,
    #[error("SMTP port must not be 0")]
    ZeroPort,
    #[error("SMTP timeout must be greater than zero")]
    ZeroTimeout,
    #[error("invalid sender address {0:?}: {1}")]
    InvalidFrom(String, String),
    #[error("SMTP password given without a username")]
    PasswordWithoutUsername,
    #[error("SMTP TLS setup failed: {0}")]
    Tls(String),
}

/// Sends mails through one SMTP server. Cheap to clone; every `send` opens its
/// own connection.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    password: Option<String>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self, ConfigError> {
        let host = settings.host.trim();
        if host.is_empty() {
            return Err(ConfigError::EmptyHost);
        }
        if settings.port == 0 {
            return Err(ConfigError::ZeroPort);
        }
        if settings.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        let from = Mailbox::from_str(settings.from.trim())
            .map_err(|e| ConfigError::InvalidFrom(settings.from.clone(), e.to_string()))?;

        let tls = match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_parameters(host)?),
            TlsMode::Tls => Tls::Wrapper(tls_parameters(host)?),
        };

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));

        let username = settings.username.as_deref().filter(|u| !u.is_empty());
        let password = settings.password.clone().filter(|p| !p.is_empty());
        match (username, &password) {
            (Some(user), pass) => {
                builder = builder.credentials(Credentials::new(
                    user.to_owned(),
                    pass.clone().unwrap_or_default(),
                ));
            }
            (None, Some(_)) => return Err(ConfigError::PasswordWithoutUsername),
            (None, None) => {}
        }

        Ok(Mailer {
            transport: builder.build(),
            from,
            timeout: settings.timeout,
            password,
        })
    }

    /// The parsed sender.
    pub fn from_mailbox(&self) -> &Mailbox {
        &self.from
    }

    /// Builds the MIME message without sending it (also used by `send`).
    pub fn build_message(&self, mail: &Mail) -> Result<Message, SendError> {
        build_message(&self.from, mail)
    }

    /// Sends one mail. Safe to call again with the same `Mail` after a
    /// [`SendError::Transient`]; the Message-ID stays the same.
    pub async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = self.build_message(mail)?;
        // lettre's async transport applies its timeout to the TCP connect
        // only; bound the whole exchange so a server that accepts and then
        // stalls (or trickles bytes) cannot hold a worker forever.
        let overall = self.timeout.saturating_mul(SEND_TIMEOUT_FACTOR);
        match tokio::time::timeout(overall, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_elapsed) => Err(SendError::Transient(format!(
                "SMTP exchange did not finish within {overall:?}"
            ))),
        }
    }

    fn classify(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let message = self.scrub(error_chain(e));
        classify(e.is_permanent(), e.status().map(u16::from), message)
    }

    fn scrub(&self, message: String) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => message.replace(p.as_str(), "<redacted>"),
            _ => message,
        }
    }
}

/// Permanent = SMTP 5xx, except authentication failures (530, 534, 535, 538):
/// those are a configuration problem of ours, and mails must survive until the
/// credentials are fixed. Everything else (4xx, connection, timeout, TLS,
/// protocol errors) is transient.
fn classify(permanent: bool, code: Option<u16>, message: String) -> SendError {
    match code {
        Some(530 | 534 | 535 | 538) => SendError::Transient(format!(
            "SMTP authentication failed (check the SMTP credentials): {message}"
        )),
        _ if permanent => SendError::Permanent(message),
        _ => SendError::Transient(message),
    }
}

fn tls_parameters(host: &str) -> Result<TlsParameters, ConfigError> {
    TlsParameters::new(host.to_owned()).map_err(|e| ConfigError::Tls(e.to_string()))
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn build_message(from: &Mailbox, mail: &Mail) -> Result<Message, SendError> {
    let to_addr = parse_address(&mail.to, "recipient")?;
    let to_name = mail
        .to_name
        .as_deref()
        .map(single_line)
        .filter(|n| !n.is_empty());
    let to = Mailbox::new(to_name, to_addr);

    let message_id = normalize_message_id(&mail.message_id)?;

    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(single_line(&mail.subject))
        .message_id(Some(format!("<{message_id}>")))
        .date_now();
    if let Some(reply_to) = mail.reply_to.as_deref().filter(|r| !r.trim().is_empty()) {
        let mailbox = Mailbox::from_str(reply_to.trim()).map_err(|e| {
            SendError::Permanent(format!("invalid reply-to address {reply_to:?}: {e}"))
        })?;
        builder = builder.reply_to(mailbox);
    }

    let text_part = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone());

    let built = if mail.attachments.is_empty() {
        builder.singlepart(text_part)
    } else {
        let mut multipart = MultiPart::mixed().singlepart(text_part);
        for attachment in &mail.attachments {
            let content_type = ContentType::parse(&attachment.content_type).map_err(|e| {
                SendError::Permanent(format!(
                    "invalid content type {:?} for attachment {:?}: {e}",
                    attachment.content_type, attachment.filename
                ))
            })?;
            let filename = single_line(&attachment.filename);
            if filename.is_empty() {
                return Err(SendError::Permanent("attachment without filename".into()));
            }
            // Always base64: the bytes arrive unchanged whatever they contain.
            let body =
                Body::new_with_encoding(attachment.bytes.clone(), ContentTransferEncoding::Base64)
                    .map_err(|_| SendError::Permanent("cannot base64-encode attachment".into()))?;
            multipart =
                multipart.singlepart(MimeAttachment::new(filename).body(body, content_type));
        }
        builder.multipart(multipart)
    };
    built.map_err(|e| SendError::Permanent(format!("cannot build mail: {e}")))
}

fn parse_address(s: &str, what: &str) -> Result<Address, SendError> {
    if !valid_address(s) {
        return Err(SendError::Permanent(format!(
            "invalid {what} address {s:?}"
        )));
    }
    Address::from_str(s.trim())
        .map_err(|e| SendError::Permanent(format!("invalid {what} address {s:?}: {e}")))
}

/// `"<id@host>"` or `"id@host"` → `"id@host"`; rejects ids that would break the header.
fn normalize_message_id(id: &str) -> Result<String, SendError> {
    let trimmed = id.trim();
    let inner = trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed);
    let ok = !inner.is_empty()
        && inner.len() <= 250
        && inner.contains('@')
        && !inner.starts_with('@')
        && !inner.ends_with('@')
        && inner
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
    if ok {
        Ok(inner.to_owned())
    } else {
        Err(SendError::Permanent(format!("invalid message id {id:?}")))
    }
}

/// Header values must not contain line breaks; collapse them to spaces.
fn single_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// Whether `s` is a plain e-mail address (`local@domain`, no display name, no
/// surrounding whitespace) that the mailer accepts.
pub fn valid_address(s: &str) -> bool {
    if s.is_empty() || s.len() > 254 || s.trim() != s {
        return false;
    }
    match Address::from_str(s) {
        Ok(addr) => {
            let domain = addr.domain();
            // Require a dot in the domain unless it is an address literal
            // ([127.0.0.1]); bare hostnames are not deliverable on the internet.
            addr.user().len() <= 64
                && (domain.starts_with('[') || (domain.contains('.') && !domain.ends_with('.')))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            tls: TlsMode::StartTls,
            username: Some("mailer".into()),
            password: Some("s3cr3t-Pa55".into()),
            from: "Müller Haustechnik <rechnung@mueller-haustechnik.de>".into(),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn tls_mode_round_trips() {
        for mode in [TlsMode::None, TlsMode::StartTls, TlsMode::Tls] {
            assert_eq!(mode.to_string().parse::<TlsMode>().unwrap(), mode);
        }
        assert_eq!(" STARTTLS ".parse::<TlsMode>().unwrap(), TlsMode::StartTls);
        assert!("ssl".parse::<TlsMode>().is_err());
    }

    #[test]
    fn addresses() {
        assert!(valid_address("kunde@example.de"));
        assert!(valid_address("a.b+tag@sub.example.co.uk"));
        assert!(!valid_address(""));
        assert!(!valid_address("kunde"));
        assert!(!valid_address("kunde@"));
        assert!(!valid_address("@example.de"));
        assert!(!valid_address(" kunde@example.de"));
        assert!(!valid_address("Kunde <kunde@example.de>"));
        assert!(!valid_address("kunde@localhost"));
        assert!(!valid_address("a b@example.de"));
        assert!(!valid_address("kunde@example.de\r\nBcc: x@y.de"));
    }

    #[test]
    fn mailer_config_errors() {
        assert!(Mailer::new(&settings()).is_ok());
        let mut s = settings();
        s.from = "not an address".into();
        assert!(matches!(Mailer::new(&s), Err(ConfigError::InvalidFrom(..))));
        let mut s = settings();
        s.host = " ".into();
        assert_eq!(Mailer::new(&s).unwrap_err(), ConfigError::EmptyHost);
        let mut s = settings();
        s.username = None;
        assert_eq!(
            Mailer::new(&s).unwrap_err(),
            ConfigError::PasswordWithoutUsername
        );
        let mut s = settings();
        s.timeout = Duration::ZERO;
        assert_eq!(Mailer::new(&s).unwrap_err(), ConfigError::ZeroTimeout);
        let mailer = Mailer::new(&settings()).unwrap();
        assert!(!format!("{mailer:?}").contains("s3cr3t"));
    }

    fn mail() -> Mail {
        Mail {
            message_id: "0190a0b4-7c1e-7a0e-9f00-000000000001@workorders".into(),
            to: "kunde@example.de".into(),
            to_name: Some("Jürgen Weiß".into()),
            reply_to: Some("Büro <buero@mueller-haustechnik.de>".into()),
            subject: "Ihre Rechnung für die Heizungswartung – Größe ÄÖÜ".into(),
            text: "Guten Tag,\nanbei die Rechnung.\n".into(),
            attachments: vec![Attachment {
                filename: "Rechnung RE-2024-001.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-1.7\n\x00\xff binary".to_vec(),
            }],
        }
    }

    #[test]
    fn message_headers() {
        let mailer = Mailer::new(&settings()).unwrap();
        let raw = mailer.build_message(&mail()).unwrap().formatted();
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            raw.contains("Message-ID: <0190a0b4-7c1e-7a0e-9f00-000000000001@workorders>"),
            "{raw}"
        );
        assert!(raw.contains("\r\nDate: "), "{raw}");
        assert!(
            raw.contains("\r\nSubject: Ihre Rechnung =?utf-8?b?"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(raw.contains("Content-Type: application/pdf"), "{raw}");
        assert!(raw.contains("Content-Transfer-Encoding: base64"), "{raw}");
        // headers are pure ASCII
        let header_end = raw.find("\r\n\r\n").unwrap();
        assert!(raw[..header_end].is_ascii(), "{raw}");
    }

    #[test]
    fn message_id_brackets_are_optional_and_stable() {
        let mailer = Mailer::new(&settings()).unwrap();
        let mut m = mail();
        m.message_id = "<abc@workorders>".into();
        let a = String::from_utf8(mailer.build_message(&m).unwrap().formatted()).unwrap();
        assert!(a.contains("Message-ID: <abc@workorders>\r\n"));
        for bad in ["", "no-at-sign", "a b@c", "a@b>x"] {
            m.message_id = bad.into();
            assert!(
                mailer.build_message(&m).unwrap_err().is_permanent(),
                "{bad}"
            );
        }
    }

    #[test]
    fn invalid_addresses_are_permanent() {
        let mailer = Mailer::new(&settings()).unwrap();
        let mut m = mail();
        m.to = "kein-empfaenger".into();
        assert!(mailer.build_message(&m).unwrap_err().is_permanent());
        let mut m = mail();
        m.reply_to = Some("kaputt@".into());
        assert!(mailer.build_message(&m).unwrap_err().is_permanent());
        let mut m = mail();
        m.attachments[0].content_type = "nonsense".into();
        assert!(mailer.build_message(&m).unwrap_err().is_permanent());
    }

    #[test]
    fn subject_line_breaks_do_not_inject_headers() {
        let mailer = Mailer::new(&settings()).unwrap();
        let mut m = mail();
        m.subject = "Hallo\r\nBcc: evil@example.com".into();
        m.to_name = Some("X\r\nBcc: evil@example.com".into());
        let raw = String::from_utf8(mailer.build_message(&m).unwrap().formatted()).unwrap();
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
    }

    #[test]
    fn classification() {
        assert!(classify(true, Some(550), "x".into()).is_permanent());
        assert!(classify(true, Some(552), "x".into()).is_permanent());
        assert!(classify(false, Some(451), "x".into()).is_transient());
        assert!(classify(true, Some(535), "x".into()).is_transient());
        assert!(classify(false, None, "connection refused".into()).is_transient());
    }

    #[test]
    fn scrub_removes_password() {
        let mailer = Mailer::new(&settings()).unwrap();
        assert_eq!(
            mailer.scrub("auth failed for s3cr3t-Pa55".into()),
            "auth failed for <redacted>"
        );
    }
}
