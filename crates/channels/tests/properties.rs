//! Property tests of what providers send in: WhatsApp's webhook body and signature, Twilio's
//! callback signature. Nothing a sender writes makes them panic; a right signature passes and a
//! changed one does not.

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_channels::{voice, whatsapp};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9.+]{0,12}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// Bodies shaped like Meta's webhook, with any field wrong or missing.
fn webhook_body() -> impl Strategy<Value = Value> {
    let message = (scalar(), scalar(), scalar(), scalar(), scalar()).prop_map(|(from, id, ts, kind, text)| {
        json!({"from": from, "id": id, "timestamp": ts, "type": kind, "text": {"body": text}})
    });
    let status = (scalar(), scalar(), scalar()).prop_map(|(id, status, recipient)| {
        json!({"id": id, "status": status, "timestamp": "1698266945", "recipient_id": recipient})
    });
    (
        prop::collection::vec(message, 0..3),
        prop::collection::vec(status, 0..3),
        scalar(),
    )
        .prop_map(|(messages, statuses, field)| {
            json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
                {"field": field, "value": {"messaging_product": "whatsapp", "messages": messages, "statuses": statuses}}]}]})
        })
}

fn meta_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn whatsapp_webhooks_parse_or_say_why(body in prop_oneof![webhook_body(), scalar()]) {
        if let Err(why) = whatsapp::parse(&body) {
            prop_assert!(!why.is_empty());
        }
    }

    #[test]
    fn whatsapp_signatures_take_only_the_right_body(
        secret in "[a-z0-9]{1,32}",
        body in prop::collection::vec(any::<u8>(), 0..200),
        header in "[a-z0-9=]{0,80}",
    ) {
        let right = meta_signature(&secret, &body);
        prop_assert!(whatsapp::signature_valid(&secret, &body, Some(&right)));
        let mut changed = body.clone();
        changed.push(b'x');
        prop_assert!(!whatsapp::signature_valid(&secret, &changed, Some(&right)));
        prop_assert!(!whatsapp::signature_valid(&secret, &body, Some(&header)) || header == right);
        prop_assert!(!whatsapp::signature_valid(&secret, &body, None));
    }

    #[test]
    fn twilio_signatures_take_only_the_right_callback(
        token in "[a-f0-9]{32}",
        path in "[a-z/]{0,20}",
        params in prop::collection::vec(("[A-Za-z]{1,10}", "[a-z0-9 +%&=]{0,12}"), 0..6),
        header in "[A-Za-z0-9+/=]{0,44}",
    ) {
        let url = format!("https://sb.example.com/{path}");
        let params: Vec<(String, String)> = params;
        let right = voice::signature(&token, &url, &params);
        prop_assert!(voice::signature_valid(&token, &url, &params, Some(&right)));
        let mut changed = params.clone();
        changed.push(("Extra".into(), "1".into()));
        prop_assert!(!voice::signature_valid(&token, &url, &changed, Some(&right)));
        prop_assert!(!voice::signature_valid(&token, &url, &params, Some(&header)) || header == right);
    }
}
