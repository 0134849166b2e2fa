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
