//! The inbound webhook's content (docs/protocols.md §1): customer messages and delivery statuses,
//! from every entry and change of a POST.

use serde_json::Value;
use switchboard_core::run::phone_key;

/// One item of an inbound webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Message(Message),
    Status(Status),
}

/// A message a customer sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The wamid; Meta's retries repeat it.
    pub id: String,
    /// The customer's digits.
    pub from: String,
    /// Unix milliseconds, when Meta gave a time.
    pub timestamp_ms: Option<i64>,
    /// `text`, `button`, `interactive`, `image`, …
    pub kind: String,
    /// What the customer wrote or chose, for the kinds that carry text.
    pub text: Option<String>,
    /// The customer's profile name.
    pub name: Option<String>,
    /// The wamid of the business message this one replies to.
    pub reply_to: Option<String>,
    /// The business number that received it.
    pub phone_number_id: Option<String>,
    /// The message object as Meta sent it.
    pub raw: Value,
}

/// A delivery status of a message the business sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub id: String,
    /// `sent`, `delivered`, `read`, `failed` (or `played`).
    pub status: String,
    pub recipient: Option<String>,
    pub timestamp_ms: Option<i64>,
    /// Meta's `errors` of a failed message.
    pub errors: Option<Value>,
}

/// Reads an inbound webhook (parsed JSON): every message and status of every entry and change.
/// Anything that is not Meta's envelope is an error saying where.
pub fn parse(root: &Value) -> Result<Vec<Inbound>, String> {
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or("no 'entry' array: not a WhatsApp Business Account webhook")?;
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let changes = entry
            .get("changes")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("/entry/{i}/changes is not an array"))?;
        for (j, change) in changes.iter().enumerate() {
            let at = format!("/entry/{i}/changes/{j}/value");
            let Some(value) = change.get("value").filter(|v| v.is_object()) else {
                return Err(format!("{at} is not an object"));
            };
            let phone_number_id = value
                .pointer("/metadata/phone_number_id")
                .and_then(Value::as_str);
            for (k, m) in items(value, "messages", &at)?.iter().enumerate() {
                let at = format!("{at}/messages/{k}");
                out.push(Inbound::Message(message(m, value, phone_number_id, &at)?));
            }
            for (k, s) in items(value, "statuses", &at)?.iter().enumerate() {
                let at = format!("{at}/statuses/{k}");
                out.push(Inbound::Status(Status {
                    id: text(s, "id", &at)?,
                    status: text(s, "status", &at)?,
                    recipient: s.get("recipient_id").and_then(Value::as_str).map(phone_key),
                    timestamp_ms: timestamp(s),
                    errors: s.get("errors").cloned(),
                }));
            }
        }
    }
    Ok(out)
}

fn items<'v>(value: &'v Value, key: &str, at: &str) -> Result<&'v [Value], String> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{at}/{key} is not an array")),
    }
}

fn text(v: &Value, key: &str, at: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{at}/{key} is missing or not a string"))
}

fn timestamp(v: &Value) -> Option<i64> {
    let t = v.get("timestamp")?;
    let seconds: i64 = t.as_str().and_then(|s| s.parse().ok()).or(t.as_i64())?;
    // An out-of-range timestamp is treated like a missing one, not trusted.
    seconds.checked_mul(1000)
}

fn message(
    m: &Value,
    value: &Value,
    phone_number_id: Option<&str>,
    at: &str,
) -> Result<Message, String> {
    let from = phone_key(&text(m, "from", at)?);
    let kind = m
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let said = match kind.as_str() {
        "text" => m.pointer("/text/body"),
        "button" => m.pointer("/button/text"),
        "interactive" => m
            .pointer("/interactive/button_reply/title")
            .or(m.pointer("/interactive/list_reply/title")),
        "image" | "video" | "document" => m.pointer(&format!("/{kind}/caption")),
        _ => None,
    };
    let name = value
        .get("contacts")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| {
                    c.get("wa_id")
                        .and_then(Value::as_str)
                        .map(phone_key)
                        .as_deref()
                        == Some(&from)
                })
                .or(cs.first())
        })
        .and_then(|c| c.pointer("/profile/name"))
        .and_then(Value::as_str);
    Ok(Message {
        id: text(m, "id", at)?,
        from,
        timestamp_ms: timestamp(m),
        kind,
        text: said.and_then(Value::as_str).map(str::to_owned),
        name: name.map(str::to_owned),
        reply_to: m
            .pointer("/context/id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        phone_number_id: phone_number_id.map(str::to_owned),
        raw: m.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inbound_messages_and_statuses_are_read() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1122"},
            "contacts": [{"profile": {"name": "Test Name"}, "wa_id": "972987654321"}],
            "messages": [{"from": "972987654321", "id": "wamid.xyz", "timestamp": "1697043223", "type": "text",
                          "text": {"body": "Qual o preço?"}, "context": {"from": "15550001111", "id": "wamid.out"}}],
            "statuses": [{"id": "wamid.out", "status": "read", "timestamp": "1698266945", "recipient_id": "972987654321"}]
        }}]}]});
        let items = parse(&body).unwrap();
        let Inbound::Message(m) = &items[0] else {
            panic!()
        };
        assert_eq!(
            (
                m.id.as_str(),
                m.from.as_str(),
                m.text.as_deref(),
                m.name.as_deref(),
                m.reply_to.as_deref()
            ),
            (
                "wamid.xyz",
                "972987654321",
                Some("Qual o preço?"),
                Some("Test Name"),
                Some("wamid.out")
            )
        );
        assert_eq!(m.timestamp_ms, Some(1_697_043_223_000));
        let Inbound::Status(s) = &items[1] else {
            panic!()
        };
        assert_eq!((s.id.as_str(), s.status.as_str()), ("wamid.out", "read"));

        for bad in [
            json!("text"),
            json!({"entry": 1}),
            json!({"entry": [{"changes": [{"value": {"messages": [{"id": "x"}]}}]}]}),
        ] {
            assert!(parse(&bad).is_err());
        }
    }

    #[test]
    fn an_out_of_range_timestamp_is_dropped_not_a_panic() {
        let body = json!({"entry": [{"changes": [{"value": {"messages": [
            {"from": "1", "id": "a", "timestamp": -9_223_372_036_854_776i64, "type": "text", "text": {"body": "hi"}}
        ]}}]}]});
        let items = parse(&body).unwrap();
        let Inbound::Message(m) = &items[0] else {
            panic!()
        };
        assert_eq!(m.timestamp_ms, None);
    }
}
