//! The JSON Schema a `callable` trigger gives its inputs: compiled once when the workflow is saved
//! (a broken schema is a validation error), checked on every call — by a `schedule_workflow` step
//! before anything is scheduled, and by `/execute`.

use std::sync::Arc;

use serde_json::Value;

use crate::problem::Problem;

#[derive(Clone)]
pub struct InputSchema {
    pub schema: Value,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputSchema")
            .field("schema", &self.schema)
            .finish()
    }
}

impl InputSchema {
    /// Compiles a schema (draft detected from `$schema`, 2020-12 by default). Remote `$ref`s are
    /// never fetched: the crate is built without its network and file resolvers.
    pub fn compile(schema: &Value) -> Result<InputSchema, String> {
        jsonschema::validator_for(schema)
            .map(|v| InputSchema {
                schema: schema.clone(),
                validator: Arc::new(v),
            })
            .map_err(|e| format!("not a valid JSON Schema: {e}"))
    }

    /// Every way `inputs` fails the schema, each at the JSON pointer of the offending input.
    pub fn check(&self, inputs: &Value) -> Vec<Problem> {
        self.validator
            .iter_errors(inputs)
            .map(|e| Problem {
                pointer: e.instance_path().as_str().to_owned(),
                message: e.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::InputSchema;

    #[test]
    fn inputs_are_checked_with_pointers() {
        // Seed 003's callable schema.
        let schema = InputSchema::compile(&json!({
            "properties": {"foo": {"type": "string"}}, "required": []
        }))
        .unwrap();
        assert!(schema.check(&json!({"foo": "Ana"})).is_empty());
        assert!(schema.check(&json!({})).is_empty());
        let problems = schema.check(&json!({"foo": 7}));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pointer, "/foo");
        assert!(problems[0].message.contains("string"), "{problems:?}");
    }

    #[test]
    fn broken_schemas_and_remote_refs_are_refused() {
        assert!(InputSchema::compile(&json!({"type": "strin"})).is_err());
        assert!(InputSchema::compile(&json!({"$ref": "https://example.com/s.json"})).is_err());
    }
}
