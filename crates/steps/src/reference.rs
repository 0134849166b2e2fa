//! `docs/steps.md`, made from the registry: each step type's documented config schema, what it
//! touches, and its example. A test keeps the file in step with the code.

use serde_json::Value;

use crate::{Effects, TYPES, effects_of, example, schema};

const HEADER: &str = "# Step types

Generated from the step registry (`crates/steps`): each type's documented config schema, what it
touches and a valid example. Do not edit by hand: `cargo test` fails when this file is stale, and
`UPDATE_DOCS=1 cargo test -p switchboard-steps docs_steps_md` rewrites it. How steps fit into a
workflow (ids, `outputVar`, `retry`, `onError`, templates) is in [workflows.md](workflows.md).
";

/// The whole page.
pub fn steps_md() -> String {
    let mut out = String::from(HEADER);
    out.push_str("\n| type | touches | what it does |\n|---|---|---|\n");
    for t in TYPES {
        let about = first_sentence(&text(&schema(t).expect("registered")["description"]));
        let effects = effects_of(t).expect("registered");
        out.push_str(&format!(
            "| [`{t}`](#{t}) | {} | {} |\n",
            effects_name(effects),
            cell(&about)
        ));
    }
    for t in TYPES {
        out.push_str(&section(t));
    }
    out
}

fn section(step_type: &str) -> String {
    let schema = schema(step_type).expect("registered");
    let effects = effects_of(step_type).expect("registered");
    let mut out = format!(
        "\n## {step_type}\n\n{}\n\nTouches: {}\n\n| field | type | required | meaning |\n|---|---|---|---|\n",
        text(&schema["description"]),
        effects_meaning(effects)
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, field) in schema["properties"].as_object().into_iter().flatten() {
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} |\n",
            type_name(field),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                ""
            },
            cell(&text(&field["description"]))
        ));
    }
    let example =
        serde_json::to_string_pretty(&example(step_type).expect("registered")).expect("JSON");
    out.push_str(&format!("\nExample:\n\n```json\n{example}\n```\n"));
    out
}

/// A doc comment as one paragraph.
fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn first_sentence(s: &str) -> String {
    match s.find(". ") {
        Some(i) => s[..=i].to_owned(),
        None => s.to_owned(),
    }
}

/// Text safe in a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn type_name(field: &Value) -> String {
    let name = match &field["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("any")
            .to_owned(),
        _ => "any".to_owned(),
    };
    if name == "array" {
        format!("array of {}", type_name(&field["items"]))
    } else {
        name
    }
}

fn effects_name(effects: Effects) -> &'static str {
    match effects {
        Effects::Pure => "nothing",
        Effects::Compute => "nothing (computes long)",
        Effects::Internal => "Switchboard's state",
        Effects::External => "the outside world",
    }
}

fn effects_meaning(effects: Effects) -> &'static str {
    match effects {
        Effects::Pure => {
            "nothing beyond the run's context. A fresh run executes such steps before its event is \
             acknowledged, and their records are written with the event."
        }
        Effects::Compute => {
            "nothing beyond the run's context, but it may compute up to its time limit, so it runs \
             after the acknowledgement."
        }
        Effects::Internal => {
            "Switchboard's own state (conversations, schedules, outgoing events), idempotently: \
             the visit's key makes a repeat find what the first attempt did."
        }
        Effects::External => {
            "the outside world. Its completion is committed before the run goes on; 3 attempts \
             by default, each with the visit's idempotency key."
        }
    }
}
