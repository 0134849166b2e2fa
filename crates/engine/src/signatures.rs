//! Signatures on webhooks, both ways: Standard Webhooks (docs/protocols.md §4) for the signed ingest
//! now, and for outgoing deliveries and the providers' inbound webhooks as they arrive.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secrets::random_bytes;

/// The prefix of a Standard Webhooks symmetric secret.
const SECRET_PREFIX: &str = "whsec_";
/// How far a `webhook-timestamp` may be from now, as the reference libraries allow.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// A new `whsec_` secret of 32 random bytes.
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(random_bytes::<32>()))
}

/// The HMAC key of a `whsec_` secret: its base64-decoded bytes.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
        .filter(|k| !k.is_empty())
}

/// The `v1,<base64>` signature token of `{id}.{timestamp}.{body}`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1,{}",
        STANDARD.encode(mac(key, id, timestamp, body).finalize().into_bytes())
    )
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a signed request was refused; the text is safe to show the sender.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    MissingHeader(&'static str),
    BadTimestamp,
    TooOld,
    TooNew,
    NoMatch,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::MissingHeader(name) => write!(f, "the {name} header is missing"),
            Rejection::BadTimestamp => {
                f.write_str("webhook-timestamp must be integer Unix seconds")
            }
            Rejection::TooOld => f.write_str("webhook-timestamp is more than 5 minutes old"),
            Rejection::TooNew => {
                f.write_str("webhook-timestamp is more than 5 minutes in the future")
            }
            Rejection::NoMatch => {
                f.write_str("no webhook-signature matches the store's inbound secret")
            }
        }
    }
}

/// The headers of a Standard Webhooks request.
pub struct Signed<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks a request against any of `keys` (several during a rotation): the timestamp within the
/// tolerance of `now_s`, and some `v1` token of the space-separated list matching in constant time.
pub fn verify(keys: &[Vec<u8>], signed: &Signed, body: &[u8], now_s: i64) -> Result<(), Rejection> {
    let id = signed.id.ok_or(Rejection::MissingHeader("webhook-id"))?;
    let timestamp = signed
        .timestamp
        .ok_or(Rejection::MissingHeader("webhook-timestamp"))?;
    let signature = signed
        .signature
        .ok_or(Rejection::MissingHeader("webhook-signature"))?;
    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    if timestamp < now_s - TOLERANCE_SECONDS {
        return Err(Rejection::TooOld);
    }
    if timestamp > now_s + TOLERANCE_SECONDS {
        return Err(Rejection::TooNew);
    }
    let given: Vec<Vec<u8>> = signature
        .split_whitespace()
        .filter_map(|token| token.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();
    let matches = keys.iter().any(|key| {
        given
            .iter()
            .any(|sig| mac(key, id, timestamp, body).verify_slice(sig).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(Rejection::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const EXPECTED: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn signed<'a>(sig: &'a str, ts: &'a str) -> Signed<'a> {
        Signed {
            id: Some(ID),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn the_spec_test_vector_signs_and_verifies() {
        let key = secret_key(SECRET).unwrap();
        assert_eq!(sign(&key, ID, TS, BODY), EXPECTED);
        let ts = TS.to_string();
        assert_eq!(
            verify(std::slice::from_ref(&key), &signed(EXPECTED, &ts), BODY, TS),
            Ok(())
        );
        // A list with a stale token first still verifies; any other body does not.
        let list = format!("v1,AAAA v1a,xyz {EXPECTED}");
        assert_eq!(
            verify(
                std::slice::from_ref(&key),
                &signed(&list, &ts),
                BODY,
                TS + 60
            ),
            Ok(())
        );
        assert_eq!(
            verify(&[key], &signed(EXPECTED, &ts), b"{}", TS),
            Err(Rejection::NoMatch)
        );
    }

    #[test]
    fn refusals_say_why() {
        let key = secret_key(SECRET).unwrap();
        let ts = TS.to_string();
        let other = secret_key(&new_secret()).unwrap();
        assert_eq!(
            verify(
                std::slice::from_ref(&other),
                &signed(EXPECTED, &ts),
                BODY,
                TS
            ),
            Err(Rejection::NoMatch)
        );
        // During a rotation either key verifies.
        assert_eq!(
            verify(&[other, key.clone()], &signed(EXPECTED, &ts), BODY, TS),
            Ok(())
        );
        let keys = [key];
        assert_eq!(
            verify(&keys, &signed(EXPECTED, &ts), BODY, TS + 301),
            Err(Rejection::TooOld)
        );
        assert_eq!(
            verify(&keys, &signed(EXPECTED, &ts), BODY, TS - 301),
            Err(Rejection::TooNew)
        );
        assert_eq!(
            verify(&keys, &signed(EXPECTED, "soon"), BODY, TS),
            Err(Rejection::BadTimestamp)
        );
        let missing = Signed {
            id: Some(ID),
            timestamp: Some(&ts),
            signature: None,
        };
        assert_eq!(
            verify(&keys, &missing, BODY, TS),
            Err(Rejection::MissingHeader("webhook-signature"))
        );
        assert!(new_secret().starts_with("whsec_"));
    }
}
