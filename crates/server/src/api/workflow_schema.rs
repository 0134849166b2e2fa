//! The workflow definition's parts in the OpenAPI document: one schema per step type, its
//! `config` taken from the step registry (the same schema `docs/steps.md` is made from), the
//! triggers, and Kustomer's steps and transitions (docs/workflows.md).

use serde_json::{Value, json};
use utoipa::openapi::Ref;

/// `Step`: any native step type, or a Kustomer step.
pub fn step_ref() -> Ref {
    Ref::from_schema_name("Step")
}

/// `Trigger`: a native trigger, or a Kustomer one.
pub fn trigger_ref() -> Ref {
    Ref::from_schema_name("Trigger")
}

/// Adds `Step`, `Trigger` and the schemas they name to the (serialised) document's components.
pub fn register(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    let mut add = |name: &str, schema: Value| {
        schemas[name] = schema;
    };
    let mut steps = Vec::new();
    for step_type in switchboard_steps::TYPES {
        let name = camel(step_type);
        let config = switchboard_steps::schema(step_type).expect("a registered step type");
        add(&format!("{name}Config"), config);
        add(&format!("{name}Step"), native_step(step_type, &name));
        steps.push(json!({"$ref": format!("#/components/schemas/{name}Step")}));
    }
    steps.push(json!({"$ref": "#/components/schemas/KustomerStep"}));
    add(
        "Step",
        json!({"anyOf": steps, "description": "A step: native (`type` names it) or Kustomer (`action`)"}),
    );
    add("Retry", retry());
    add("OnError", on_error());
    add("KustomerStep", kustomer_step());
    add("KustomerTransition", kustomer_transition());
    let mut triggers = Vec::new();
    for (name, schema) in self::triggers() {
        add(name, schema);
        triggers.push(json!({"$ref": format!("#/components/schemas/{name}")}));
    }
    add(
        "Trigger",
        json!({"anyOf": triggers, "description": "What starts the workflow's runs (docs/workflows.md, Triggers)"}),
    );
}

/// `send_email` → `SendEmail`.
fn camel(step_type: &str) -> String {
    step_type
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn native_step(step_type: &str, name: &str) -> Value {
    json!({
        "type": "object",
        "required": ["id", "type", "config"],
        "properties": {
            "id": {"type": "string", "description": "Unique in the workflow"},
            "name": {"type": "string"},
            "type": {"type": "string", "enum": [step_type]},
            "config": {"$ref": format!("#/components/schemas/{name}Config")},
            "outputVar": {"type": "string", "description": "Puts the output at `variables.<outputVar>`"},
            "retry": {"$ref": "#/components/schemas/Retry"},
            "onError": {"$ref": "#/components/schemas/OnError"},
        },
    })
}

fn retry() -> Value {
    json!({
        "type": "object",
        "description": "Retries of retryable errors (timeouts, 5xx, 429, connection failures)",
        "required": ["maxAttempts"],
        "properties": {
            "maxAttempts": {"type": "integer", "minimum": 1, "maximum": 100},
            "backoff": {"type": "string", "enum": ["fixed", "exponential"]},
            "initialMs": {"type": "integer", "minimum": 0, "maximum": 86_400_000},
            "maxMs": {"type": "integer", "minimum": 0, "maximum": 86_400_000},
        },
    })
}

fn on_error() -> Value {
    json!({
        "description": "Once retries are spent: `fail` (default), `continue`, or `{goto: <step id>}`",
        "anyOf": [
            {"type": "string", "enum": ["fail", "continue"]},
            {"type": "object", "required": ["goto"], "properties": {"goto": {"type": "string"}}},
        ],
    })
}

fn kustomer_step() -> Value {
    json!({
        "type": "object",
        "description": "A Kustomer workflow step: an action (a saved webhook of that name, or a \
            `kustomer.*` built-in) with its params and the transitions after it",
        "required": ["id", "action"],
        "properties": {
            "id": {"type": "string"},
            "action": {"type": "string"},
            "params": {"type": "object"},
            "appVersion": {"type": "string"},
            "transitions": {"type": "array", "items": {"$ref": "#/components/schemas/KustomerTransition"}},
            "errorCases": {"type": "array", "items": {"type": "object"}},
        },
    })
}

fn kustomer_transition() -> Value {
    json!({
        "type": "object",
        "required": ["target"],
        "properties": {
            "target": {"type": "string"},
            "condition": {"type": "object", "description": "`{op, values}`"},
        },
    })
}

/// The triggers, each its own component (generated clients name their models after them).
fn triggers() -> Vec<(&'static str, Value)> {
    let native = |kind: &str, required: &[&str], properties: Value| {
        let mut properties = properties;
        properties["type"] = json!({"type": "string", "enum": [kind]});
        let mut required: Vec<&str> = required.to_vec();
        required.insert(0, "type");
        json!({"type": "object", "required": required, "properties": properties})
    };
    vec![
        (
            "WebhookTrigger",
            native(
                "webhook",
                &["eventType"],
                json!({"eventType": {"type": "string"}}),
            ),
        ),
        (
            "CustomerMessageTrigger",
            native(
                "customer_message",
                &[],
                json!({
                    "channel": {"type": "string", "enum": ["whatsapp"]},
                    "match": {"type": "string", "description": "A regex on the message's text"},
                }),
            ),
        ),
        (
            "ScheduleTrigger",
            native(
                "schedule",
                &["cron"],
                json!({
                    "cron": {"type": "string", "description": "5 or 6 fields"},
                    "timezone": {"type": "string", "description": "IANA; default UTC"},
                    "catchUp": {"type": "string", "enum": ["latest", "none"]},
                }),
            ),
        ),
        ("ManualTrigger", native("manual", &[], json!({}))),
        (
            "CallableTrigger",
            native(
                "callable",
                &[],
                json!({
                    "schema": {"type": "object", "description": "JSON Schema of the inputs"},
                }),
            ),
        ),
        (
            "KustomerTrigger",
            json!({
                "type": "object",
                "description": "Kustomer: the event and the transitions to the first step",
                "required": ["eventName"],
                "properties": {
                    "eventName": {"type": "string"},
                    "transitions": {"type": "array", "items": {"$ref": "#/components/schemas/KustomerTransition"}},
                },
            }),
        ),
    ]
}
