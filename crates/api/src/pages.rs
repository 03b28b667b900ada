//! The server's own HTML page behind the password links it e-mails to staff
//! (`/set-password/<token>`): a plain form that works without JavaScript, in German or
//! English (from `Accept-Language`), posting back to itself (POST-redirect-GET).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use workorders_domain::auth::NewPassword;

use crate::accounts;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    De,
    En,
}

fn lang(req: &HttpRequest) -> Lang {
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let first = accept
        .split(',')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if first.starts_with("en") {
        Lang::En
    } else {
        Lang::De
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;\
color:#1a1a1a;line-height:1.5}label{display:block;margin-top:1rem;font-weight:600}\
input{width:100%;padding:.6rem;font-size:1rem;border:1px solid #555;border-radius:4px;box-sizing:border-box}\
button{margin-top:1.5rem;padding:.7rem 1.2rem;font-size:1rem;background:#0b5394;color:#fff;border:0;border-radius:4px}\
:focus{outline:3px solid #e69138;outline-offset:2px}.error{color:#a61c00;font-weight:600}";

fn page(lang: Lang, title: &str, body: &str, status: actix_web::http::StatusCode) -> HttpResponse {
    let html_lang = match lang {
        Lang::De => "de",
        Lang::En => "en",
    };
    let html = format!(
        "<!doctype html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(html)
}

/// An error as a page (internal errors are logged, never shown).
fn error_page(lang: Lang, error: &ApiError) -> HttpResponse {
    use actix_web::ResponseError;
    if let ApiError::Internal(e) = error {
        tracing::error!(
            error = format!("{e:#}"),
            "page failed with an internal error"
        );
    }
    let text = match (lang, error) {
        (Lang::De, ApiError::RateLimited { .. }) => {
            "Zu viele Versuche. Bitte warten Sie eine Minute."
        }
        (Lang::En, ApiError::RateLimited { .. }) => "Too many attempts. Please wait a minute.",
        (Lang::De, _) => "Das hat nicht geklappt. Bitte versuchen Sie es später noch einmal.",
        (Lang::En, _) => "That did not work. Please try again later.",
    };
    let heading = match lang {
        Lang::De => "Fehler",
        Lang::En => "Error",
    };
    let mut response = page(
        lang,
        heading,
        &format!("<p class=\"error\" role=\"alert\">{text}</p>"),
        error.status_code(),
    );
    if let ApiError::RateLimited { retry_after_secs } = error
        && let Ok(value) = header::HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn form(lang: Lang, error: Option<&str>) -> String {
    let (new, repeat, save) = match lang {
        Lang::De => (
            "Neues Passwort (mindestens 12 Zeichen)",
            "Neues Passwort wiederholen",
            "Passwort speichern",
        ),
        Lang::En => (
            "New password (at least 12 characters)",
            "Repeat the new password",
            "Save password",
        ),
    };
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let described = if error.is_empty() {
        ""
    } else {
        " aria-describedby=\"error\" aria-invalid=\"true\""
    };
    format!(
        "{error}<form method=\"post\"><label for=\"password\">{new}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" \
         minlength=\"12\" maxlength=\"128\" required{described}>\
         <label for=\"password_repeat\">{repeat}</label>\
         <input id=\"password_repeat\" name=\"password_repeat\" type=\"password\" autocomplete=\"new-password\" \
         minlength=\"12\" maxlength=\"128\" required><button type=\"submit\">{save}</button></form>"
    )
}

fn title(lang: Lang) -> &'static str {
    match lang {
        Lang::De => "Passwort setzen",
        Lang::En => "Set your password",
    }
}

/// `GET /set-password/{token}`: the form.
pub async fn set_password_form(req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    if req.query_string() == "done" {
        let text = match lang {
            Lang::De => "Ihr Passwort ist gesetzt. Sie können sich jetzt damit anmelden.",
            Lang::En => "Your password is set. You can sign in with it now.",
        };
        return page(
            lang,
            title(lang),
            &format!("<p role=\"status\">{text}</p>"),
            actix_web::http::StatusCode::OK,
        );
    }
    page(
        lang,
        title(lang),
        &form(lang, None),
        actix_web::http::StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    password: String,
    password_repeat: String,
}

/// `POST /set-password/{token}`: sets the password, then redirects to the confirmation.
pub async fn set_password_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form_data: Result<web::Form<SetPasswordForm>, actix_web::Error>,
) -> HttpResponse {
    let lang = lang(&req);
    let bad = |message: &str| {
        page(
            lang,
            title(lang),
            &form(lang, Some(message)),
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let Ok(form_data) = form_data else {
        return bad(match lang {
            Lang::De => "Bitte füllen Sie beide Felder aus.",
            Lang::En => "Please fill in both fields.",
        });
    };
    if let Err(retry) = state.login_limiter.attempt(&crate::routes::client_ip(&req)) {
        return error_page(
            lang,
            &ApiError::RateLimited {
                retry_after_secs: retry,
            },
        );
    }
    if form_data.password != form_data.password_repeat {
        return bad(match lang {
            Lang::De => "Die beiden Passwörter stimmen nicht überein.",
            Lang::En => "The two passwords differ.",
        });
    }
    let Ok(password) = NewPassword::parse(&form_data.password) else {
        return bad(match lang {
            Lang::De => "Das Passwort braucht 12 bis 128 Zeichen.",
            Lang::En => "The password needs 12 to 128 characters.",
        });
    };
    match accounts::complete(&state, &token, &password)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("{}?done", req.path())))
            .finish(),
        Err(ApiError::Unprocessable { .. }) => page(
            lang,
            title(lang),
            match lang {
                Lang::De => {
                    "<p class=\"error\" role=\"alert\">Dieser Link ist unbekannt, schon benutzt oder abgelaufen. Bitte fordern Sie einen neuen an.</p>"
                }
                Lang::En => {
                    "<p class=\"error\" role=\"alert\">This link is unknown, used or expired. Please ask for a new one.</p>"
                }
            },
            actix_web::http::StatusCode::GONE,
        ),
        Err(e) => error_page(lang, &e),
    }
}
