//! Property tests of Standard Webhooks signatures on inbound events: what Switchboard signs it
//! verifies, under any of a rotation's keys; a changed body, id or key never verifies; and no
//! header a sender writes makes verification panic.

use proptest::prelude::*;
use switchboard_engine::signatures::{Rejection, Signed, sign, verify};

const NOW: i64 = 1_800_000_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_signed_request_verifies_under_any_rotated_key(
        keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..48), 1..4),
        pick in any::<prop::sample::Index>(),
        id in "[a-zA-Z0-9_]{1,40}",
        skew in -300i64..=300,
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let key = &keys[pick.index(keys.len())];
        let timestamp = NOW + skew;
        let signature = format!("v1,bm90IHRoaXM= {}", sign(key, &id, timestamp, &body));
        let ts = timestamp.to_string();
        let signed = Signed { id: Some(&id), timestamp: Some(&ts), signature: Some(&signature) };
        prop_assert_eq!(verify(&keys, &signed, &body, NOW), Ok(()));
    }

    #[test]
    fn a_changed_body_id_or_key_does_not_verify(
        key in prop::collection::vec(any::<u8>(), 1..48),
        other_key in prop::collection::vec(any::<u8>(), 1..48),
        id in "[a-z0-9]{1,20}",
        body in prop::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
    ) {
        let ts = NOW.to_string();
        let signature = sign(&key, &id, NOW, &body);
        let signed = Signed { id: Some(&id), timestamp: Some(&ts), signature: Some(&signature) };
        let mut changed = body.clone();
        if changed.is_empty() {
            changed.push(0);
        } else {
            let at = flip.index(changed.len());
            changed[at] ^= 1;
        }
        prop_assert_eq!(verify(std::slice::from_ref(&key), &signed, &changed, NOW), Err(Rejection::NoMatch));
        let other_id = format!("{id}x");
        let renamed = Signed { id: Some(&other_id), ..signed };
        prop_assert_eq!(verify(std::slice::from_ref(&key), &renamed, &body, NOW), Err(Rejection::NoMatch));
        // HMAC pads short keys with zeros, so keys differing only in trailing zeros are one key.
        let trimmed = |k: &[u8]| k.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        if other_key[..trimmed(&other_key)] != key[..trimmed(&key)] {
            let signed = Signed { id: Some(&id), timestamp: Some(&ts), signature: Some(&signature) };
            prop_assert_eq!(verify(&[other_key], &signed, &body, NOW), Err(Rejection::NoMatch));
        }
    }

    #[test]
    fn any_headers_are_answered_without_a_panic(
        id in prop::option::of(".{0,40}"),
        timestamp in prop::option::of(prop_oneof![".{0,24}", any::<i64>().prop_map(|t| t.to_string())]),
        signature in prop::option::of(".{0,120}"),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let signed = Signed {
            id: id.as_deref(),
            timestamp: timestamp.as_deref(),
            signature: signature.as_deref(),
        };
        let outcome = verify(&[b"key".to_vec()], &signed, &body, NOW);
        prop_assert!(outcome.is_err(), "a random signature verified");
        if let Err(why) = outcome {
            prop_assert!(!why.to_string().is_empty());
        }
    }
}
