//! The request line, checked before anything else reads it: a path or query string that
//! does not decode to UTF-8, or that holds control characters, is refused (404 for the
//! path, which cannot name a resource; 400 `invalid_query` for the query) instead of being
//! decoded lossily or reaching the database (PostgreSQL refuses NUL with an error, SQLite
//! stores it). Empty query parameters (`?cursor=&status=`) behave as if absent.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use percent_encoding::percent_decode_str;

use crate::error::{ApiError, codes};

fn decodes_cleanly(text: &str, plus_is_space: bool) -> bool {
    let text = if plus_is_space {
        text.replace('+', " ")
    } else {
        text.to_owned()
    };
    match percent_decode_str(&text).decode_utf8() {
        Ok(decoded) => !decoded.chars().any(char::is_control),
        Err(_) => false,
    }
}

/// Checks a query string; returns it without empty parameters, or why it is refused.
pub fn clean_query(query: &str) -> Result<String, String> {
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !decodes_cleanly(name, true) || !decodes_cleanly(value, true) {
            return Err(format!(
                "the query parameter `{}` is not valid UTF-8 text without control characters",
                percent_decode_str(name).decode_utf8_lossy()
            ));
        }
        if !value.is_empty() {
            kept.push(pair);
        }
    }
    Ok(kept.join("&"))
}

/// The middleware (see the module documentation).
pub async fn guard_request_line(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if !decodes_cleanly(req.path(), false) {
        let response = ApiError::NotFound.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    if let Some(query) = req.uri().query().map(str::to_owned) {
        match clean_query(&query) {
            Err(detail) => {
                let response = ApiError::bad_request(codes::INVALID_QUERY, detail).error_response();
                return Ok(req.into_response(response).map_into_right_body());
            }
            Ok(cleaned) if cleaned != query => {
                let path = req.path().to_owned();
                let target = if cleaned.is_empty() {
                    path
                } else {
                    format!("{path}?{cleaned}")
                };
                if let Ok(uri) = target.parse::<Uri>() {
                    req.head_mut().uri = uri;
                }
            }
            Ok(_) => {}
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked_and_empty_parameters_dropped() {
        assert_eq!(
            clean_query("limit=5&cursor=&status="),
            Ok("limit=5".to_owned())
        );
        assert_eq!(
            clean_query("q=M%C3%BCller+GmbH"),
            Ok("q=M%C3%BCller+GmbH".to_owned())
        );
        assert!(clean_query("q=%00").is_err());
        assert!(clean_query("q=%FF%FE").is_err(), "not UTF-8");
        assert!(clean_query("q=a%0Ab").is_err());
        assert!(clean_query("%00=1").is_err());
        assert_eq!(clean_query("&&a=1&"), Ok("a=1".to_owned()));
        assert!(decodes_cleanly("/v1/public/demo/services", false));
        assert!(!decodes_cleanly("/v1/public/%00/services", false));
        assert!(!decodes_cleanly("/v1/public/%C3/services", false));
    }
}
