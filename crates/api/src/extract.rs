//! Request extractors that implement the contract: strict JSON bodies with field pointers in
//! errors, body size limits, and `If-Match` preconditions.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponseBuilder, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use std::ops::Deref;
use workorders_domain::ValidationErrors;

use crate::error::{ApiError, codes};
use crate::state::AppState;

/// Default body limit when no state is configured (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON request body. Unlike actix's `Json`, it answers with problem details: 415 for a
/// non-JSON content type, 413 past the body limit, 400 for broken JSON syntax and 422 (with a
/// JSON pointer) for a wrong, missing or unknown field. Request types use
/// `#[serde(deny_unknown_fields)]`.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T> ValidJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for ValidJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
pub fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<AppState>>()
        .map(|s| s.settings.max_body_bytes)
        .unwrap_or(DEFAULT_BODY_LIMIT)
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                codes::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Turns a serde path into a JSON pointer (`customer.email` → `/customer/email`).
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { variant } => {
                pointer.push('/');
                pointer.push_str(variant);
            }
            Segment::Unknown => pointer.push_str("/?"),
        }
    }
    pointer
}

/// Whether a JSON text holds, inside a string, a control character that no request may
/// carry (see [`workorders_domain::text::is_forbidden_control`]): as an escape (`\u0000`,
/// `\b`, `\f`) or raw (C1 controls in UTF-8). A fast scan; the slow path finds where.
fn has_forbidden_control(body: &[u8]) -> bool {
    let mut i = 0;
    let mut in_string = false;
    while i < body.len() {
        let b = body[i];
        if !in_string {
            if b == b'"' {
                in_string = true;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = false,
            b'\\' => {
                match body.get(i + 1) {
                    Some(b'b' | b'f') => return true,
                    Some(b'u') => {
                        let code = body
                            .get(i + 2..i + 6)
                            .and_then(|h| std::str::from_utf8(h).ok())
                            .and_then(|h| u32::from_str_radix(h, 16).ok());
                        if let Some(c) = code.and_then(char::from_u32)
                            && workorders_domain::text::is_forbidden_control(c)
                        {
                            return true;
                        }
                        i += 4;
                    }
                    _ => {}
                }
                i += 1;
            }
            // DEL raw (JSON allows it unescaped).
            0x7f => return true,
            // C1 controls as raw UTF-8: 0xC2 0x80..=0x9F.
            0xC2 if body.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)) => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// No list in any request body may have more items than this (a backstop: each list field
/// has its own, smaller limit, documented as `maxItems`).
pub const MAX_LIST_ITEMS: usize = 1000;

/// The number of items of the longest array in a JSON text (a scan; strings skipped).
fn longest_array(body: &[u8]) -> usize {
    let mut stack: Vec<(bool, usize)> = Vec::new(); // (is array, items)
    let mut longest = 0;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                if let Some((true, n)) = stack.last_mut()
                    && *n == 0
                {
                    *n = 1;
                }
            }
            b'[' | b'{' => {
                if let Some((true, n)) = stack.last_mut()
                    && *n == 0
                {
                    *n = 1;
                }
                stack.push((b == b'[', 0));
            }
            b']' | b'}' => {
                if let Some((true, n)) = stack.pop() {
                    longest = longest.max(n);
                }
            }
            b',' => {
                if let Some((true, n)) = stack.last_mut() {
                    *n += 1;
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => {
                if let Some((true, n)) = stack.last_mut()
                    && *n == 0
                {
                    *n = 1;
                }
            }
        }
    }
    longest
}

/// The JSON pointer of the first string (or key) holding a forbidden control character.
fn find_control(value: &serde_json::Value, pointer: &mut String) -> Option<(String, char)> {
    let bad = |s: &str| {
        s.chars()
            .find(|c| workorders_domain::text::is_forbidden_control(*c))
    };
    match value {
        serde_json::Value::String(s) => bad(s).map(|c| (pointer.clone(), c)),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            let len = pointer.len();
            pointer.push_str(&format!("/{i}"));
            let found = find_control(v, pointer);
            pointer.truncate(len);
            found
        }),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let len = pointer.len();
            pointer.push('/');
            pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
            let found = bad(k)
                .map(|c| (pointer.clone(), c))
                .or_else(|| find_control(v, pointer));
            pointer.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Parses a JSON body with problem-details errors. No string anywhere in a body (values and
/// keys, also in free-form parts such as sync payloads) may hold NUL or another control
/// character but tab, line feed and carriage return: 422 with the field's pointer.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let longest = longest_array(body);
    if longest > MAX_LIST_ITEMS {
        return Err(ApiError::BatchTooLarge {
            detail: format!(
                "a list of {longest} items; at most {MAX_LIST_ITEMS} items in any list: split the request"
            ),
        });
    }
    if has_forbidden_control(body)
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some((pointer, c)) = find_control(&value, &mut String::new())
    {
        return Err(ApiError::Validation(ValidationErrors::single(
            pointer,
            format!(
                "must not contain the control character U+{:04X}",
                u32::from(c)
            ),
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let mut pointer = json_pointer(error.path());
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                // serde_json appends " at line L column C"; the pointer says where instead.
                let message = inner.to_string();
                let detail = message
                    .rsplit_once(" at line ")
                    .map_or(message.as_str(), |(m, _)| m)
                    .to_owned();
                // Missing and unknown fields are reported at their parent; point at the field.
                for prefix in ["missing field `", "unknown field `"] {
                    if let Some(rest) = detail.strip_prefix(prefix)
                        && let Some((field, _)) = rest.split_once('`')
                        && !pointer.ends_with(&format!("/{field}"))
                    {
                        pointer = format!("{pointer}/{field}");
                    }
                }
                ApiError::Validation(ValidationErrors::single(pointer, detail))
            }
            _ => ApiError::bad_request(codes::MALFORMED_JSON, format!("malformed JSON: {inner}")),
        }
    })?;
    deserializer.end().map_err(|e| {
        ApiError::bad_request(codes::MALFORMED_JSON, format!("malformed JSON: {e}"))
    })?;
    Ok(value)
}

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json_content_type(&req) {
                return Err(ApiError::UnsupportedMediaType);
            }
            let body = read_body(&req, &mut payload, body_limit(&req)).await?;
            parse_json(&body).map(ValidJson)
        })
    }
}

/// An optional JSON body: `None` when the request has no body, else as [`ValidJson`].
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_body(&req, &mut payload, body_limit(&req)).await?;
            if body.is_empty() {
                return Ok(OptionalJson(None));
            }
            if !is_json_content_type(&req) {
                return Err(ApiError::UnsupportedMediaType);
            }
            parse_json(&body).map(|v| OptionalJson(Some(v)))
        })
    }
}

/// The version a client expects, from `If-Match: "<version>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(pub Option<i64>);

impl IfMatch {
    /// The expected version; 428 when the header is absent.
    pub fn required(self) -> Result<i64, ApiError> {
        self.0.ok_or(ApiError::PreconditionRequired)
    }
}

/// Parses `"3"` or `W/"3"`. Anything else can never match a current version.
fn parse_etag(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    text.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.headers().get(header::IF_MATCH) {
            None => Ok(IfMatch(None)),
            Some(value) => match value.to_str().ok().and_then(parse_etag) {
                Some(version) => Ok(IfMatch(Some(version))),
                // A malformed or foreign ETag can never match: the precondition fails.
                None => Err(ApiError::PreconditionFailed {
                    current_version: -1,
                }),
            },
        };
        std::future::ready(result)
    }
}

/// Compares the version a request's (required) `If-Match` named with the current one: 412
/// `precondition_failed` when stale.
pub fn require_version(expected: i64, current_version: i64) -> Result<(), ApiError> {
    check_version(IfMatch(Some(expected)), current_version)
}

/// Checks an optional `If-Match` against the current version (for actions where it is
/// optional).
pub fn check_version(if_match: IfMatch, current_version: i64) -> Result<(), ApiError> {
    match if_match.0 {
        Some(expected) if expected != current_version => {
            Err(ApiError::PreconditionFailed { current_version })
        }
        _ => Ok(()),
    }
}

/// Adds `ETag: "<version>"` to a response.
pub fn with_etag(builder: &mut HttpResponseBuilder, version: i64) -> &mut HttpResponseBuilder {
    builder.insert_header((header::ETAG, format!("\"{version}\"")))
}

/// Query-string errors become 400 `invalid_query` problems.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _req| {
        ApiError::bad_request(
            codes::INVALID_QUERY,
            format!("invalid query string: {error}"),
        )
        .into()
    })
}

/// Malformed path parameters (an id that is no UUID) cannot name a resource: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_error, _req| ApiError::NotFound.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_parse() {
        assert_eq!(parse_etag("\"3\""), Some(3));
        assert_eq!(parse_etag("W/\"12\""), Some(12));
        assert_eq!(parse_etag("3"), None);
        assert_eq!(parse_etag("\"abc\""), None);
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        customer: Inner,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        email: String,
    }

    #[test]
    fn list_lengths_are_counted() {
        assert_eq!(
            longest_array(br#"{"a": [], "b": [1, [2, 3, 4], "x,y"]}"#),
            3
        );
        assert_eq!(longest_array(br#"[{"k": "a,b,c"}, {}]"#), 2);
        assert_eq!(longest_array(br#"{"s": "[1,2,3]"}"#), 0);
        let many = format!("[{}]", vec!["0"; 1001].join(","));
        assert!(matches!(
            parse_json::<Vec<u8>>(many.as_bytes()),
            Err(ApiError::BatchTooLarge { .. })
        ));
    }

    #[test]
    fn control_characters_are_refused_anywhere_with_a_pointer() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Free {
            payload: serde_json::Value,
        }
        for (body, pointer) in [
            (
                r#"{"payload": {"notes": ["ok", "a\u0000b"]}}"#,
                "/payload/notes/1",
            ),
            (r#"{"payload": {"k\u001bey": 1}}"#, "/payload/k\u{1b}ey"),
            (r#"{"payload": "\b"}"#, "/payload"),
            ("{\"payload\": \"a\u{85}b\"}", "/payload"),
        ] {
            match parse_json::<Free>(body.as_bytes()) {
                Err(ApiError::Validation(errors)) => {
                    assert_eq!(
                        errors.0[0].pointer,
                        pointer.replace("\\u{1b}", "\u{1b}"),
                        "{body}"
                    )
                }
                other => panic!("{body}: expected a validation error, got {other:?}"),
            }
        }
        // Tabs and line breaks are fine, and so is an escaped backslash before a `u`.
        assert!(parse_json::<Free>(br#"{"payload": "a\tb\nc\r\\u0000"}"#).is_ok());
    }

    #[test]
    fn json_errors_point_at_the_field() {
        match parse_json::<Outer>(br#"{"customer": {"email": 5}}"#) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors.0[0].pointer, "/customer/email");
                assert_eq!(
                    errors.0[0].detail,
                    "invalid type: integer `5`, expected a string"
                );
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
        match parse_json::<Outer>(br#"{"customer": {}}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].pointer, "/customer/email"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        match parse_json::<Outer>(br#"{"customer": {"mail": 1, "email": "a"}}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].pointer, "/customer/mail"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        match parse_json::<Outer>(br#"{"customer": {"email": "a", "mail": 1}}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].pointer, "/customer/mail"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        assert!(matches!(
            parse_json::<Outer>(br#"{"customer": {"email": "a@b.c", "x": 1}}"#),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            parse_json::<Outer>(br#"{"customer": "#),
            Err(ApiError::BadRequest {
                code: codes::MALFORMED_JSON,
                ..
            })
        ));
        assert!(matches!(
            parse_json::<Outer>(br#"{"customer": {"email": "a"}} trailing"#),
            Err(ApiError::BadRequest {
                code: codes::MALFORMED_JSON,
                ..
            })
        ));
    }
}
