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
        refuse_duplicate_keys(&bytes)?;
        parse(&bytes).map(JsonBody)
    }
}

/// A key named twice in one object would be silently dropped (the last wins): refused at the
/// pointer of the second.
fn refuse_duplicate_keys(bytes: &[u8]) -> Result<(), ApiError> {
    let mut path = Vec::new();
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = serde::de::DeserializeSeed::deserialize(
        Keys {
            path: &mut path,
            found: &mut found,
        },
        &mut de,
    );
    match found {
        None => Ok(()),
        Some(pointer) => Err(ApiError::invalid_field(
            &pointer,
            format!("the key at {pointer} appears twice in its object"),
        )),
    }
}

/// Walks a document, noting the first key repeated within an object.
struct Keys<'a> {
    path: &'a mut Vec<String>,
    found: &'a mut Option<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Keys<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Keys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            self.path.push(key.clone());
            if !seen.insert(key) && self.found.is_none() {
                *self.found = Some(self.path.iter().fold(String::new(), |p, k| child(&p, k)));
            }
            map.next_value_seed(Keys {
                path: self.path,
                found: self.found,
            })?;
            self.path.pop();
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            self.path.push(index.to_string());
            let more = seq.next_element_seed(Keys {
                path: self.path,
                found: self.found,
            })?;
            self.path.pop();
            if more.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
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
    fn a_key_named_twice_is_refused_at_its_pointer() {
        assert!(refuse_duplicate_keys(br#"{"a": 1, "b": [{"c": 1, "d": 2}]}"#).is_ok());
        let e =
            refuse_duplicate_keys(br#"{"a": 1, "b": [{"c": 1}, {"c": 1, "c": 2}]}"#).unwrap_err();
        assert_eq!(e.details.unwrap()[0]["pointer"], "/b/1/c");
        let e = refuse_duplicate_keys(br#"{"name": "x", "name": "y"}"#).unwrap_err();
        assert_eq!(e.code, "validation_failed");
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
