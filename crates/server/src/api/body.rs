//! The JSON body extractor: 415 for a non-JSON content type, 413 past the body limit, 400
//! `invalid_json` with line and column for malformed JSON, 400 `validation_failed` with the
//! pointer of a field of the wrong type.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use switchboard_core::problem::child;

use super::error::ApiError;

pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be left out: an empty body is `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

/// The body as sent (for signatures and request fingerprints), with the same checks of content
/// type and size as [`JsonBody`].
pub struct RawJson(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("expected Content-Type: application/json, not '{essence}'"),
                ));
            }
        }
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        Ok(RawJson(bytes))
    }
}

/// The body as sent, of any content type (a provider's form or JSON whose signature covers
/// the exact bytes), within the body limit.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is larger than the limit",
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_json",
                        format!("cannot read the request body: {rejection}"),
                    )
                }
            })
    }
}

/// Parses JSON text into `T`, with the API's errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let message = format!("malformed JSON: {e}");
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message).with_details(
            json!([{"line": e.line(), "column": e.column(), "message": e.to_string()}]),
        )
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let pointer = e.path().iter().fold(String::new(), |p, seg| match seg {
            serde_path_to_error::Segment::Seq { index } => child(&p, index),
            serde_path_to_error::Segment::Map { key } => child(&p, key),
            _ => p,
        });
        ApiError::invalid_field(&pointer, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        items: Vec<u32>,
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let e = parse::<Sample>(b"{\n  \"name\": \"x\",\n}").unwrap_err();
        assert_eq!(e.code, "invalid_json");
        assert_eq!(e.details.unwrap()[0]["line"], 3);
    }

    #[test]
    fn wrong_types_report_the_pointer() {
        let e = parse::<Sample>(br#"{"name": "x", "items": [1, "two"]}"#).unwrap_err();
        assert_eq!(e.code, "validation_failed");
        assert_eq!(e.details.unwrap()[0]["pointer"], "/items/1");
    }
}
