//! `store_context_data`: resolves `data` and merges it into the run's `state`.

use switchboard_core::workflow::{Fields, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    /// An object of templates.
    pub data: TValue,
}

/// Resolves `data` and merges it into the run's `state`. Output: the resolved object.
#[derive(utoipa::ToSchema)]
#[schema(as = StoreContextDataConfig)]
#[allow(dead_code)]
pub struct Doc {
    /// An object whose strings are templates; a string that is one `{{expr}}` keeps the
    /// expression's JSON type.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::Pure;
    const MERGES_STATE: bool = true;

    fn example() -> serde_json::Value {
        serde_json::json!({"data": {"customerName": "{{trigger.fullName}}", "firstName": "{{trigger.fullName.split(' ')[0]}}"}})
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        Some(Config { data: f.object("data", REQUIRED)? })
    }

    /// The output is the resolved object, merged into `state`.
    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        match env.value(&self.data) {
            Ok(data) => crate::StepRun::done(serde_json::json!({ "data": data }), data),
            Err(e) => crate::StepRun::failed(serde_json::Value::Null, e),
        }
    }
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Scene, error_code, output, spec};

    #[tokio::test]
    async fn resolves_the_data_and_merges_it_into_state() {
        let step = spec("store_context_data", json!({"data": {"name": "{{trigger.fullName}}",
            "first": "{{trigger.fullName.split(' ')[0]}}", "n": "{{trigger.n}}"}}));
        let run = Scene::new(json!({"fullName": "Ana Souza", "n": 3}))
            .run(&step, &FakeServices::default())
            .await;
        assert_eq!(output(&run), &json!({"name": "Ana Souza", "first": "Ana", "n": 3}));
        assert_eq!(run.input["data"]["first"], "Ana");
        assert!(step.merges_state());
    }

    #[tokio::test]
    async fn an_expression_that_throws_fails_the_step() {
        let step = spec("store_context_data", json!({"data": {"x": "{{JSON.parse('{')}}"}}));
        let run = Scene::new(json!({})).run(&step, &FakeServices::default()).await;
        assert_eq!(error_code(&run), "expression_error");
    }
}
