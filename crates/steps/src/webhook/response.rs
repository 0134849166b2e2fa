//! Reading a response body (docs/workflows.md "Webhook bodies and responses"): JSON when the
//! Content-Type says JSON, XML mapped into JSON when it says XML, else text.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

/// How a response body is read: by its Content-Type, or always as JSON / as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Auto,
    Json,
    Text,
}

pub const FORMATS: [&str; 3] = ["auto", "json", "text"];

impl Format {
    pub fn parse(name: &str) -> Format {
        match name {
            "json" => Format::Json,
            "text" => Format::Text,
            _ => Format::Auto,
        }
    }
}

/// The body as a JSON value. A body that does not parse as what it claims stays text, so a broken
/// upstream shows up in the run's history instead of failing the step.
pub fn body(bytes: &[u8], content_type: Option<&str>, format: Format) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let text = String::from_utf8_lossy(bytes);
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let parsed = match format {
        Format::Text => None,
        Format::Json => serde_json::from_str(&text).ok(),
        Format::Auto if is_json(&media) => serde_json::from_str(&text).ok(),
        Format::Auto if is_xml(&media) => xml_to_json(&text).ok(),
        Format::Auto => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.into_owned()))
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json") || media == "text/json"
}

fn is_xml(media: &str) -> bool {
    media == "application/xml" || media == "text/xml" || media.ends_with("+xml")
}

/// An element being read: its attributes and children so far, and its own text.
struct Element {
    name: String,
    fields: Map<String, Value>,
    text: String,
}

/// Maps XML into JSON: elements become keys (the root element kept), repeated elements arrays,
/// attributes `@name`, text beside children or attributes `#text`; an element with only text is
/// that text. `<r><code>XY</code></r>` → `{"r": {"code": "XY"}}`.
pub fn xml_to_json(text: &str) -> Result<Value, String> {
    let mut reader = Reader::from_str(text);
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Map<String, Value>> = None;
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(e) => open.push(element(&e)?),
            Event::Empty(e) => close(element(&e)?, &mut open, &mut root),
            Event::End(_) => {
                let done = open.pop().ok_or("an end tag without a start tag")?;
                close(done, &mut open, &mut root);
            }
            Event::Text(t) => {
                if let Some(top) = open.last_mut() {
                    top.text.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::CData(c) => {
                if let Some(top) = open.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = open.last_mut() {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => top.text.push(c),
                        None => top.text.push_str(
                            quick_xml::escape::resolve_xml_entity(&name)
                                .ok_or_else(|| format!("unknown entity &{name};"))?,
                        ),
                    }
                }
            }
            Event::Eof => break,
            _ => {} // declaration, comments, processing instructions, doctype
        }
    }
    if !open.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.map(Value::Object).ok_or_else(|| "no root element".into())
}

fn element(start: &BytesStart) -> Result<Element, String> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut fields = Map::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(attribute.key.as_ref());
        let value = attribute.unescape_value().map_err(|e| e.to_string())?;
        fields.insert(format!("@{key}"), Value::String(value.into_owned()));
    }
    Ok(Element {
        name,
        fields,
        text: String::new(),
    })
}

fn close(done: Element, open: &mut [Element], root: &mut Option<Map<String, Value>>) {
    let text = done.text.trim();
    let value = if done.fields.is_empty() {
        Value::String(text.to_owned())
    } else {
        let mut fields = done.fields;
        if !text.is_empty() {
            fields.insert("#text".into(), Value::String(text.to_owned()));
        }
        Value::Object(fields)
    };
    let parent = match open.last_mut() {
        Some(parent) => &mut parent.fields,
        None => root.get_or_insert_with(Map::new),
    };
    match parent.get_mut(&done.name) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            parent.insert(done.name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn xml_maps_as_documented() {
        assert_eq!(xml_to_json("<r><code>XY</code></r>").unwrap(), json!({"r": {"code": "XY"}}));
        let doc = r#"<?xml version="1.0"?>
            <!-- a comment -->
            <order id="7" state="paid">
              <item sku="a">One &amp; only</item>
              <item sku="b"/>
              <item>three</item>
              <note>tax &#x20AC; <![CDATA[<raw>]]></note>
              total
              <empty></empty>
            </order>"#;
        assert_eq!(
            xml_to_json(doc).unwrap(),
            json!({"order": {
                "@id": "7", "@state": "paid",
                "item": [{"@sku": "a", "#text": "One & only"}, {"@sku": "b"}, "three"],
                "note": "tax € <raw>",
                "empty": "",
                "#text": "total"
            }})
        );
        assert!(xml_to_json("<a><b></a>").is_err());
        assert!(xml_to_json("<a>").is_err());
        assert!(xml_to_json("just text").is_err());
    }

    #[test]
    fn bodies_are_read_by_content_type() {
        let json_body = br#"{"promocode": "X1"}"#;
        assert_eq!(body(json_body, Some("application/json; charset=utf-8"), Format::Auto), json!({"promocode": "X1"}));
        assert_eq!(body(json_body, Some("application/vnd.api+json"), Format::Auto), json!({"promocode": "X1"}));
        assert_eq!(body(json_body, Some("text/plain"), Format::Auto), json!(r#"{"promocode": "X1"}"#));
        assert_eq!(body(json_body, None, Format::Json), json!({"promocode": "X1"}));
        assert_eq!(body(json_body, Some("application/json"), Format::Text), json!(r#"{"promocode": "X1"}"#));
        assert_eq!(body(b"<r><code>XY</code></r>", Some("text/xml"), Format::Auto), json!({"r": {"code": "XY"}}));
        assert_eq!(body(b"{broken", Some("application/json"), Format::Auto), json!("{broken"));
        assert_eq!(body(b"", Some("application/json"), Format::Auto), Value::Null);
    }
}
