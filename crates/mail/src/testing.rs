//! A real SMTP server for tests: Python's aiosmtpd writing into a Maildir in a
//! temporary directory. Enabled with the cargo feature `testing`.
//!
//! The server accepts every recipient except:
//! * `…@bounce.invalid` → `550 5.1.1` (permanent rejection),
//! * `…@later.invalid`  → `451 4.3.0` (temporary rejection).
//!
//! Python interpreter: `$WORKORDERS_TEST_PYTHON`, else `<workspace>/.venv/bin/python`,
//! else `python3`. It needs the `aiosmtpd` package.
//!
//! ```ignore
//! let server = SmtpServer::start();
//! let mailer = Mailer::new(&server.settings())?;
//! mailer.send(&mail).await?;
//! let received = server.wait_for(1, Duration::from_secs(5));
//! ```

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::{Attachment, SmtpSettings, TlsMode};

/// Recipients at this domain are rejected with `550`.
pub const BOUNCE_DOMAIN: &str = "bounce.invalid";
/// Recipients at this domain are rejected with `451`.
pub const LATER_DOMAIN: &str = "later.invalid";

const HANDLER_MODULE: &str = "workorders_smtp_handler";

const HANDLER_PY: &str = r#"
from aiosmtpd.handlers import Mailbox


class Handler(Mailbox):
    """Maildir handler that rejects some recipients, for tests."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rsplit("@", 1)[-1].lower()
        if domain == "bounce.invalid":
            return "550 5.1.1 <%s>: Recipient address rejected: mailbox unavailable" % address
        if domain == "later.invalid":
            return "451 4.3.0 <%s>: Recipient temporarily unavailable, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

const READER_PY: &str = r#"
import json
import os
import re
import sys
from email import policy
from email.parser import BytesParser

def raw_header(part, name):
    for key, value in part.raw_items():
        if key.lower() == name.lower():
            return re.sub(r"\r?\n[ \t]+", " ", str(value)).strip()
    return ""


maildir = sys.argv[1]
files = []
for sub in ("new", "cur"):
    d = os.path.join(maildir, sub)
    if os.path.isdir(d):
        for name in os.listdir(d):
            p = os.path.join(d, name)
            files.append((os.stat(p).st_mtime_ns, name, p))
files.sort()

out = []
for _, _, path in files:
    with open(path, "rb") as f:
        msg = BytesParser(policy=policy.default).parse(f)
    rcpt = msg.get("X-RcptTo")
    if rcpt:
        to = [a.strip() for a in str(rcpt).split(",") if a.strip()]
    else:
        to = [a.addr_spec for a in msg["To"].addresses] if msg["To"] else []
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    attachments = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        attachments.append({
            "filename": part.get_filename() or "",
            "content_type": raw_header(part, "Content-Type"),
            "hex": data.hex(),
        })
    out.append({
        "to": to,
        "to_header": str(msg.get("To", "")),
        "from": str(msg.get("From", "")),
        "envelope_from": str(msg.get("X-MailFrom", "")),
        "reply_to": str(msg["Reply-To"]) if msg["Reply-To"] is not None else None,
        "subject": str(msg.get("Subject", "")),
        "message_id": str(msg.get("Message-ID", "")).strip().lstrip("<").rstrip(">"),
        "date": str(msg.get("Date", "")),
        "text": text,
        "attachments": attachments,
    })
json.dump(out, sys.stdout)
"#;

/// One mail as stored by the test server, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Envelope recipients (RCPT TO).
    pub to: Vec<String>,
    /// The decoded `To:` header, e.g. `Jürgen Weiß <kunde@example.de>`.
    pub to_header: String,
    /// The decoded `From:` header.
    pub from: String,
    /// Envelope sender (MAIL FROM).
    pub envelope_from: String,
    pub reply_to: Option<String>,
    /// Decoded subject.
    pub subject: String,
    /// Without angle brackets.
    pub message_id: String,
    /// The raw `Date:` header.
    pub date: String,
    /// Decoded `text/plain` body with `\n` line endings and trailing line
    /// breaks removed (MIME framing adds some; compare with `sent.trim_end()`).
    pub text: String,
    /// Decoded attachments; `content_type` is the full header value as sent.
    pub attachments: Vec<Attachment>,
}

#[derive(Deserialize)]
struct RawMail {
    to: Vec<String>,
    to_header: String,
    from: String,
    envelope_from: String,
    reply_to: Option<String>,
    subject: String,
    message_id: String,
    date: String,
    text: String,
    attachments: Vec<RawAttachment>,
}

#[derive(Deserialize)]
struct RawAttachment {
    filename: String,
    content_type: String,
    hex: String,
}

/// The Python interpreter used for the test server.
pub fn python_interpreter() -> PathBuf {
    workorders_testkit::python()
}

/// A running aiosmtpd; killed (and its Maildir removed) on drop.
pub struct SmtpServer {
    child: Child,
    port: u16,
    python: PathBuf,
    maildir: PathBuf,
    reader: PathBuf,
    log: PathBuf,
    // Dropped after the child is killed (see Drop).
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("port", &self.port)
            .field("maildir", &self.maildir)
            .finish_non_exhaustive()
    }
}

impl SmtpServer {
    /// Starts the server; panics if that is impossible.
    pub fn start() -> SmtpServer {
        let python = python_interpreter();
        let mut last_error = String::new();
        // A free port can be taken between probing and binding: retry a few times.
        for _ in 0..5 {
            match Self::start_once(&python) {
                Ok(server) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!(
            "could not start the test SMTP server with {}: {last_error}",
            python.display()
        );
    }

    fn start_once(python: &Path) -> Result<SmtpServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("workorders-smtp-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        std::fs::write(dir.path().join(format!("{HANDLER_MODULE}.py")), HANDLER_PY)
            .map_err(|e| format!("write handler: {e}"))?;
        let reader = dir.path().join("read_maildir.py");
        std::fs::write(&reader, READER_PY).map_err(|e| format!("write reader: {e}"))?;
        // aiosmtpd creates the Maildir itself; it must not exist beforehand.
        let maildir = dir.path().join("maildir");
        let log = dir.path().join("aiosmtpd.log");
        let log_file = std::fs::File::create(&log).map_err(|e| format!("log file: {e}"))?;
        let log_file2 = log_file.try_clone().map_err(|e| format!("log file: {e}"))?;

        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let mut child = Command::new(python)
            .arg("-m")
            .arg("aiosmtpd")
            .arg("-n")
            .arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-c")
            .arg(format!("{HANDLER_MODULE}.Handler"))
            .arg(&maildir)
            .env("PYTHONPATH", dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_file2)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", python.display()))?;

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("aiosmtpd exited with {status}: {}", read_log(&log)));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "aiosmtpd did not accept connections on {addr}: {}",
                    read_log(&log)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }

        Ok(SmtpServer {
            child,
            port,
            python: python.to_owned(),
            maildir,
            reader,
            log,
            _dir: dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Maildir the server writes to.
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// Settings for a [`Mailer`](crate::Mailer) talking to this server
    /// (plain SMTP, no authentication).
    pub fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: TlsMode::None,
            username: None,
            password: None,
            from: "Müller Haustechnik GmbH <service@mueller-haustechnik.example>".into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// All mails received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        read_messages(&self.python, &self.reader, &self.maildir)
    }

    /// Removes all stored mails.
    pub fn clear(&self) {
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                for entry in entries.flatten() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Blocks until at least `n` mails arrived and returns all of them; panics
    /// after `timeout`. In async tests where the mail is sent by a task on the
    /// same runtime, use [`wait_for_async`](Self::wait_for_async).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} mails within {timeout:?}, got {}: {messages:#?}\nserver log:\n{}",
                    messages.len(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`wait_for`](Self::wait_for) without blocking the async runtime.
    pub async fn wait_for_async(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let (python, reader, maildir) = (
                self.python.clone(),
                self.reader.clone(),
                self.maildir.clone(),
            );
            let messages =
                tokio::task::spawn_blocking(move || read_messages(&python, &reader, &maildir))
                    .await
                    .unwrap_or_else(|e| panic!("Maildir reader task failed: {e}"));
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} mails within {timeout:?}, got {}: {messages:#?}\nserver log:\n{}",
                    messages.len(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `_dir` (Maildir, scripts, log) is removed when the field drops.
    }
}

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn read_log(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

fn read_messages(python: &Path, reader: &Path, maildir: &Path) -> Vec<ReceivedMail> {
    let output = Command::new(python)
        .arg(reader)
        .arg(maildir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "reading the Maildir failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let raw: Vec<RawMail> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("Maildir reader printed invalid JSON: {e}"));
    raw.into_iter()
        .map(|m| ReceivedMail {
            to: m.to,
            to_header: m.to_header,
            from: m.from,
            envelope_from: m.envelope_from,
            reply_to: m.reply_to,
            subject: m.subject,
            message_id: m.message_id,
            date: m.date,
            text: m
                .text
                .replace("\r\n", "\n")
                .trim_end_matches('\n')
                .to_owned(),
            attachments: m
                .attachments
                .into_iter()
                .map(|a| Attachment {
                    filename: a.filename,
                    content_type: a.content_type,
                    bytes: decode_hex(&a.hex),
                })
                .collect(),
        })
        .collect()
}

fn decode_hex(s: &str) -> Vec<u8> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => panic!("bad hex digit {b}"),
    };
    s.as_bytes()
        .chunks(2)
        .map(|pair| digit(pair[0]) << 4 | digit(pair[1]))
        .collect()
}
