//! Runs and steps as the engine sees them: statuses, what a step gives back ([`Outcome`] or
//! [`StepError`]) and the context a run builds up from its step outputs.

use serde_json::{Map, Value, json};

pub use crate::status::{RunStatus, StepStatus};

/// What a step that did not fail gives back. Steps never sleep: a delay is a time to wake at.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done, with this output.
    Next(Value),
    /// Come back to this step (same visit) at this time (ms since the epoch).
    WaitUntil(i64),
}

/// A step's failure (docs/workflows.md's step error codes).
#[derive(Debug, Clone, PartialEq)]
pub struct StepError {
    pub code: String,
    pub message: String,
    /// Worth another attempt (timeouts, 5xx, 429, connection failures).
    pub retryable: bool,
    /// The least time to wait before the next attempt (`Retry-After`), in ms.
    pub retry_after_ms: Option<u64>,
    /// Extra fields for the error object (`status`, `body`, a provider's `providerCode`, …).
    pub details: Box<Map<String, Value>>,
}

impl StepError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> StepError {
        StepError {
            code: code.into(),
            message: message.into(),
            retryable: false,
            retry_after_ms: None,
            details: Box::default(),
        }
    }

    pub fn retryable(mut self) -> StepError {
        self.retryable = true;
        self
    }

    /// `{code, message, …details}`, as step records and runs show it.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("code".into(), json!(self.code));
        map.insert("message".into(), json!(self.message));
        for (k, v) in self.details.iter() {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }
}

/// What a run has built up: `state` (merged by `store_context_data`), `variables` (by
/// `outputVar`) and `steps.<id>.output`. Rebuilt from step outputs, never stored whole.
#[derive(Debug, Clone, PartialEq)]
pub struct RunContext {
    pub state: Value,
    pub variables: Value,
    pub steps: Value,
}

impl Default for RunContext {
    fn default() -> Self {
        RunContext {
            state: Value::Object(Map::new()),
            variables: Value::Object(Map::new()),
            steps: Value::Object(Map::new()),
        }
    }
}

impl RunContext {
    /// Records a step's output: at `steps.<id>.output`, at `variables.<outputVar>`, and merged into
    /// `state` when the step stores context data.
    pub fn apply(
        &mut self,
        step_id: &str,
        output_var: Option<&str>,
        merge_state: bool,
        output: &Value,
    ) {
        if let Value::Object(steps) = &mut self.steps {
            steps.insert(step_id.to_owned(), json!({ "output": output }));
        }
        if let (Some(var), Value::Object(vars)) = (output_var, &mut self.variables) {
            vars.insert(var.to_owned(), output.clone());
        }
        if let (true, Value::Object(state), Value::Object(data)) =
            (merge_state, &mut self.state, output)
        {
            for (k, v) in data {
                state.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The conversation key of a phone number: its digits alone.
pub fn phone_key(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// The contact of a run: `trigger.phoneNumber`, else `trigger.customerWhatsApp` (docs/workflows.md).
pub fn contact_of(trigger: &Value) -> Option<String> {
    ["phoneNumber", "customerWhatsApp"]
        .iter()
        .filter_map(|k| trigger.get(*k))
        .find_map(|v| match v {
            Value::String(s) => Some(phone_key(s)),
            Value::Number(n) => Some(phone_key(&n.to_string())),
            _ => None,
        })
        .filter(|k| !k.is_empty())
}

/// The email address a trigger names (`email`), trimmed and in lower case: how runs are found
/// by a contact's email.
pub fn email_of(trigger: &Value) -> Option<String> {
    trigger
        .get("email")
        .and_then(Value::as_str)
        .map(|e| e.trim().to_lowercase())
        .filter(|e| e.contains('@'))
}

/// RFC 7396 JSON merge patch: objects merge deeply, `null` deletes a key.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": [1]});
        merge_patch(&mut doc, &json!({"a": {"b": 1}, "n": null}));
        assert_eq!(doc, json!({"a": {"b": 1}}));
    }

    #[test]
    fn contacts_are_digits() {
        assert_eq!(
            contact_of(&json!({"phoneNumber": "+55 11 99999-9999"})).as_deref(),
            Some("5511999999999")
        );
        assert_eq!(
            contact_of(&json!({"customerWhatsApp": "5511"})).as_deref(),
            Some("5511")
        );
        assert_eq!(contact_of(&json!({"phoneNumber": ""})), None);
    }

    #[test]
    fn outputs_land_in_steps_variables_and_state() {
        let mut c = RunContext::default();
        c.apply("s1", Some("lead"), true, &json!({"a": 1}));
        c.apply("s2", None, false, &json!(5));
        assert_eq!(c.state, json!({"a": 1}));
        assert_eq!(c.variables, json!({"lead": {"a": 1}}));
        assert_eq!(
            c.steps,
            json!({"s1": {"output": {"a": 1}}, "s2": {"output": 5}})
        );
    }
}
