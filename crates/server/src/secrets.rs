//! Tokens: random, shown once, stored only as SHA-256 hashes.

use base64::Engine;
use sha2::{Digest, Sha256};

/// A new token: a readable prefix (so secret scanners recognise it) and 32 random bytes.
pub fn new_token(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
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
}
