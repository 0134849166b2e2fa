//! Secrets: tokens (random, shown once, stored only as SHA-256 hashes) and the sealing of secrets
//! that must be read back (AES-256-GCM under the master key).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new token: a readable prefix (so secret scanners recognise it) and 32 random bytes.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
}

/// Seals secrets kept at rest (inbound secrets, connector and channel credentials) with
/// AES-256-GCM under the master key. Each sealed value is bound to what it belongs to (the
/// associated data, e.g. `inbound-secret:st_default`), so a sealed value copied into another row
/// or store does not open.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

/// Marks the format of a sealed value: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
const SEALED_PREFIX: &str = "v1.";

impl Sealer {
    pub fn new(master_key: &[u8; 32]) -> Self {
        Sealer {
            cipher: Aes256Gcm::new(master_key.into()),
        }
    }

    pub fn seal(&self, plain: &[u8], bound_to: &str) -> String {
        let nonce = random_bytes::<12>();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: bound_to.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any message of sane size");
        format!(
            "{SEALED_PREFIX}{}",
            URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat())
        )
    }

    /// `None` when the value was sealed under another key, for something else, or was altered.
    pub fn open(&self, sealed: &str, bound_to: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(SEALED_PREFIX)?)
            .ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: bound_to.as_bytes(),
                },
            )
            .ok()
    }
}

/// What a write-only secret reads back as.
pub const MASK: &str = "***";

/// Reads the write-only secret fields of a resource (connector, channel): a new value is sealed;
/// one omitted or sent as `***` keeps the sealed value stored now.
pub struct SecretFields<'a> {
    pub sealer: &'a Sealer,
    /// What the sealed values are bound to (`connector:{store}:{id}`).
    pub bound_to: String,
    /// The body stored now, on a replacement.
    pub stored: Option<&'a serde_json::Value>,
}

impl SecretFields<'_> {
    /// Reads `key` of `f`, stored at `pointer` of the body. Required when `required` and nothing
    /// is stored yet.
    pub fn read(
        &self,
        f: &mut switchboard_core::workflow::Fields<'_, '_>,
        key: &str,
        pointer: &str,
        required: bool,
    ) -> Option<serde_json::Value> {
        let stored = self.stored.and_then(|s| s.pointer(pointer)).cloned();
        match f.string(key, required && stored.is_none()) {
            Some(mask) if mask == MASK && stored.is_none() => {
                f.error(
                    key,
                    format!("'{key}' is '***', which keeps a stored secret, but none is stored"),
                );
                None
            }
            Some(plain) if plain != MASK => Some(serde_json::Value::String(
                self.sealer.seal(plain.as_bytes(), &self.bound_to),
            )),
            _ => stored,
        }
    }

    /// Opens the sealed text at `pointer` of a stored body.
    pub fn open(&self, body: &serde_json::Value, pointer: &str) -> Result<String, String> {
        let sealed = body
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("'{pointer}' is missing"))?;
        let plain = self
            .sealer
            .open(sealed, &self.bound_to)
            .ok_or("its secret does not open under this master key")?;
        String::from_utf8(plain).map_err(|_| "its secret is not text".to_owned())
    }
}

/// A stored body as the API shows it: the values at `pointers` as `***`.
pub fn masked(body: &serde_json::Value, pointers: &[&str]) -> serde_json::Value {
    let mut shown = body.clone();
    for pointer in pointers {
        if let Some(v) = shown.pointer_mut(pointer) {
            *v = serde_json::Value::String(MASK.into());
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_hashed() {
        let a = super::new_token("sbs");
        assert!(a.starts_with("sbs_") && a.len() == 4 + 43);
        assert_ne!(a, super::new_token("sbs"));
        assert_eq!(super::hash_token("x").len(), 64);
        assert_ne!(super::hash_token(&a), a);
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_binding() {
        let sealer = super::Sealer::new(&[7; 32]);
        let sealed = sealer.seal(b"whsec_abc", "inbound-secret:st_a");
        assert!(sealed.starts_with("v1.") && !sealed.contains("whsec"));
        assert_ne!(
            sealed,
            sealer.seal(b"whsec_abc", "inbound-secret:st_a"),
            "fresh nonce"
        );
        assert_eq!(
            sealer.open(&sealed, "inbound-secret:st_a").unwrap(),
            b"whsec_abc"
        );
        assert_eq!(sealer.open(&sealed, "inbound-secret:st_b"), None);
        assert_eq!(
            super::Sealer::new(&[8; 32]).open(&sealed, "inbound-secret:st_a"),
            None
        );
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(sealer.open(&altered, "inbound-secret:st_a"), None);
        assert_eq!(sealer.open("plain", "inbound-secret:st_a"), None);
    }
}
