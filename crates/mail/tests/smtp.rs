//! Sends through a real SMTP server (aiosmtpd) and reads the Maildir back. Without the server
//! the tests that need it are reported as ignored (and fail under CI).
#![allow(clippy::unwrap_used)] // tests may panic

use std::time::{Duration, Instant};

use workorders_mail::testing::{SmtpServer, free_port};
use workorders_mail::{Attachment, Mail, Mailer, SendError, SmtpSettings, TlsMode};

const WAIT: Duration = Duration::from_secs(10);

fn pdf_bytes() -> Vec<u8> {
    let mut bytes =
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
    bytes.extend((0u8..=255).cycle().take(70_000));
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

fn ics_bytes() -> Vec<u8> {
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//workorders//DE\r\nMETHOD:REQUEST\r\n\
     BEGIN:VEVENT\r\nUID:0190a0b4@workorders\r\nDTSTAMP:20250301T090000Z\r\n\
     DTSTART:20250305T080000Z\r\nDTEND:20250305T100000Z\r\n\
     SUMMARY:Heizungswartung bei Familie Weiß\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        .as_bytes()
        .to_vec()
}

fn mail(to: &str) -> Mail {
    Mail {
        message_id: "0190a0b4-7c1e-7a0e-9f00-00000000beef@workorders".into(),
        to: to.into(),
        to_name: Some("Jürgen Weiß".into()),
        reply_to: Some("Büro Müller <buero@mueller-haustechnik.example>".into()),
        subject: "Ihre Rechnung RE-2025-0042 – Heizungsprüfung für Größe & Übergabe".into(),
        text: "Guten Tag Herr Weiß,\n\nanbei erhalten Sie Ihre Rechnung über 1.234,56 €.\n\
               Grüße aus Düsseldorf – äöüß ÄÖÜ\n"
            .into(),
        attachments: vec![
            Attachment {
                filename: "Rechnung RE-2025-0042.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: pdf_bytes(),
            },
            Attachment {
                filename: "termin.ics".into(),
                content_type: "text/calendar; method=REQUEST; charset=utf-8".into(),
                bytes: ics_bytes(),
            },
        ],
    }
}

fn sends_german_mail_with_pdf_and_ics() {
    block_on(async {
        workorders_testkit::require(workorders_testkit::Tool::Smtp);
        let server = SmtpServer::start();
        let mailer = Mailer::new(&server.settings()).unwrap();
        let sent = mail("kunde@example.de");
        mailer.send(&sent).await.unwrap();

        let received = server.wait_for_async(1, WAIT).await;
        assert_eq!(received.len(), 1);
        let got = &received[0];
        assert_eq!(got.to, vec!["kunde@example.de".to_string()]);
        assert_eq!(got.to_header, "Jürgen Weiß <kunde@example.de>");
        assert_eq!(
            got.from,
            "Müller Haustechnik GmbH <service@mueller-haustechnik.example>"
        );
        assert_eq!(got.envelope_from, "service@mueller-haustechnik.example");
        assert_eq!(
            got.reply_to.as_deref(),
            Some("Büro Müller <buero@mueller-haustechnik.example>")
        );
        assert_eq!(got.subject, sent.subject);
        assert_eq!(got.message_id, sent.message_id);
        assert!(!got.date.is_empty());
        assert_eq!(got.text, sent.text.trim_end());

        assert_eq!(got.attachments.len(), 2);
        let pdf = &got.attachments[0];
        assert_eq!(pdf.filename, "Rechnung RE-2025-0042.pdf");
        assert_eq!(pdf.content_type, "application/pdf");
        assert!(pdf.bytes == sent.attachments[0].bytes, "PDF bytes differ");
        let ics = &got.attachments[1];
        assert_eq!(ics.filename, "termin.ics");
        assert_eq!(
            ics.content_type,
            "text/calendar; method=REQUEST; charset=utf-8"
        );
        assert_eq!(ics.bytes, sent.attachments[1].bytes);
    })
}

fn retry_keeps_message_id_and_plain_mail_works() {
    block_on(async {
        workorders_testkit::require(workorders_testkit::Tool::Smtp);
        let server = SmtpServer::start();
        let mailer = Mailer::new(&server.settings()).unwrap();
        let mut m = mail("kunde@example.de");
        m.attachments.clear();
        m.reply_to = None;
        m.to_name = None;
        mailer.send(&m).await.unwrap();
        mailer.clone().send(&m).await.unwrap();
        let received = server.wait_for_async(2, WAIT).await;
        assert_eq!(received.len(), 2);
        for r in &received {
            assert_eq!(r.message_id, m.message_id);
            assert_eq!(r.to_header, "kunde@example.de");
            assert!(r.attachments.is_empty());
            assert_eq!(r.text, m.text.trim_end());
            assert_eq!(r.reply_to, None);
        }
    })
}

fn rejected_recipient_550_is_permanent() {
    block_on(async {
        workorders_testkit::require(workorders_testkit::Tool::Smtp);
        let server = SmtpServer::start();
        let mailer = Mailer::new(&server.settings()).unwrap();
        let err = mailer
            .send(&mail("nobody@bounce.invalid"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
        assert!(err.to_string().contains("550"), "{err}");
        assert!(server.messages().is_empty());
    })
}

fn deferred_recipient_451_is_transient() {
    block_on(async {
        workorders_testkit::require(workorders_testkit::Tool::Smtp);
        let server = SmtpServer::start();
        let mailer = Mailer::new(&server.settings()).unwrap();
        let err = mailer.send(&mail("busy@later.invalid")).await.unwrap_err();
        assert!(matches!(err, SendError::Transient(_)), "{err:?}");
        assert!(err.to_string().contains("451"), "{err}");
        assert!(server.messages().is_empty());
    })
}

fn invalid_recipient_is_permanent_without_contacting_server() {
    block_on(async {
        // Port nobody listens on: if the mailer tried to connect it would be transient.
        let settings = SmtpSettings {
            host: "127.0.0.1".into(),
            port: free_port().unwrap(),
            tls: TlsMode::None,
            username: None,
            password: None,
            from: "service@mueller-haustechnik.example".into(),
            timeout: Duration::from_secs(2),
        };
        let mailer = Mailer::new(&settings).unwrap();
        let err = mailer.send(&mail("not-an-address")).await.unwrap_err();
        assert!(err.is_permanent(), "{err:?}");
    })
}

fn connection_refused_is_transient_and_hides_password() {
    block_on(async {
        let settings = SmtpSettings {
            host: "127.0.0.1".into(),
            port: free_port().unwrap(),
            tls: TlsMode::None,
            username: Some("mailer".into()),
            password: Some("Geheim-Passwort-123".into()),
            from: "service@mueller-haustechnik.example".into(),
            timeout: Duration::from_secs(2),
        };
        let mailer = Mailer::new(&settings).unwrap();
        let started = Instant::now();
        let err = mailer.send(&mail("kunde@example.de")).await.unwrap_err();
        assert!(matches!(err, SendError::Transient(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!err.to_string().contains("Geheim-Passwort-123"));
        assert!(!format!("{err:?}").contains("Geheim-Passwort-123"));
    })
}

fn silent_server_times_out_as_transient() {
    block_on(async {
        // Accepts TCP but never greets.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let settings = SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            username: None,
            password: None,
            from: "service@mueller-haustechnik.example".into(),
            timeout: Duration::from_millis(250),
        };
        let mailer = Mailer::new(&settings).unwrap();
        let started = Instant::now();
        let err = mailer.send(&mail("kunde@example.de")).await.unwrap_err();
        assert!(matches!(err, SendError::Transient(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        drop(listener);
    })
}

fn settings_debug_hides_password() {
    let settings = SmtpSettings {
        host: "smtp.example.com".into(),
        port: 465,
        tls: TlsMode::Tls,
        username: Some("mailer@example.com".into()),
        password: Some("Geheim-Passwort-123".into()),
        from: "Müller <service@example.com>".into(),
        timeout: Duration::from_secs(30),
    };
    let debug = format!("{settings:?}");
    assert!(!debug.contains("Geheim-Passwort-123"), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
    assert!(debug.contains("mailer@example.com"), "{debug}");
    let pretty = format!("{settings:#?}");
    assert!(!pretty.contains("Geheim-Passwort-123"));
}

fn main() {
    workorders_testkit::run(vec![
        (
            "sends_german_mail_with_pdf_and_ics",
            sends_german_mail_with_pdf_and_ics,
        ),
        (
            "retry_keeps_message_id_and_plain_mail_works",
            retry_keeps_message_id_and_plain_mail_works,
        ),
        (
            "rejected_recipient_550_is_permanent",
            rejected_recipient_550_is_permanent,
        ),
        (
            "deferred_recipient_451_is_transient",
            deferred_recipient_451_is_transient,
        ),
        (
            "invalid_recipient_is_permanent_without_contacting_server",
            invalid_recipient_is_permanent_without_contacting_server,
        ),
        (
            "connection_refused_is_transient_and_hides_password",
            connection_refused_is_transient_and_hides_password,
        ),
        (
            "silent_server_times_out_as_transient",
            silent_server_times_out_as_transient,
        ),
        (
            "settings_debug_hides_password",
            settings_debug_hides_password,
        ),
    ]);
}

/// Runs a test's async body on a runtime of its own.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}
