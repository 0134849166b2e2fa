//! The step registry. `StepSpec` is the closed set of step types; each type lives in its own module,
//! whose `Config` implements [`Step`]: how it is read from a definition, what it touches, how it
//! runs, and how its output joins the run. Adding a step type = one module + one line in
//! `registry!` (see `docs/architecture.md`).

mod env;
mod reference;
pub mod testing;

pub use env::{
    CallRequest, EmitRequest, ScheduledCall, SentMessage, Services, StepEnv, StepRun,
    expression_error,
};
pub use reference::steps_md;
use serde_json::Value;
use switchboard_core::workflow::{Fields, Retry, StepCatalog};

/// What a step type declares; the engine and the API ask the registry, never a particular type.
pub trait Step: Sized + Send + Sync {
    /// The config as JSON, documented: its doc comments and schema make `docs/steps.md`.
    type Doc: utoipa::ToSchema;
    /// What the step touches beyond the run's own context.
    const EFFECTS: Effects;
    /// The step's output is merged into the run's `state` too (beside `steps.<id>.output` and its
    /// `outputVar`).
    const MERGES_STATE: bool = false;

    /// A typical `config`, valid as it stands: documentation, and the registry's conformance tests.
    fn example() -> Value;

    /// Reads the step's `config`, reporting each problem at its field.
    fn parse(fields: &mut Fields<'_, '_>) -> Option<Self>;

    /// Runs one attempt of the step.
    fn run(&self, env: &StepEnv<'_>) -> impl Future<Output = StepRun> + Send;

    /// A branching step's output once the engine took edge `taken` of its node (edges in their
    /// order; `None`: none held). Other steps keep what `run` returned.
    fn branch_output(_taken: Option<usize>) -> Option<Value> {
        None
    }

    /// The outgoing event the step publishes, for the store's event catalogue.
    fn emits(&self) -> Option<&str> {
        None
    }
}

macro_rules! registry {
    ($($name:literal => $variant:ident($module:ident)),* $(,)?) => {
        $(pub mod $module;)*

        /// A step's compiled config, one variant per step type.
        #[derive(Debug, Clone)]
        pub enum StepSpec {
            $($variant($module::Config),)*
        }

        /// Every step type, by the name definitions use.
        pub const TYPES: &[&str] = &[$($name),*];

        /// The JSON schema of the step type's `config`, with its documentation.
        pub fn schema(step_type: &str) -> Option<Value> {
            use utoipa::PartialSchema;
            match step_type {
                $($name => Some(serde_json::to_value(<<$module::Config as Step>::Doc as PartialSchema>::schema()).expect("a schema is JSON")),)*
                _ => None,
            }
        }

        /// What the step type touches beyond the run's own context.
        pub fn effects_of(step_type: &str) -> Option<Effects> {
            match step_type {
                $($name => Some(<$module::Config as Step>::EFFECTS),)*
                _ => None,
            }
        }

        /// A typical `config` of the step type, valid as it stands.
        pub fn example(step_type: &str) -> Option<Value> {
            match step_type {
                $($name => Some(<$module::Config as Step>::example()),)*
                _ => None,
            }
        }

        impl StepSpec {
            /// Runs one attempt of the step.
            pub async fn run(&self, env: &StepEnv<'_>) -> StepRun {
                match self {
                    $(StepSpec::$variant(c) => c.run(env).await,)*
                }
            }

            /// What the step touches beyond the run's own context.
            pub fn effects(&self) -> Effects {
                match self {
                    $(StepSpec::$variant(_) => <$module::Config as Step>::EFFECTS,)*
                }
            }

            /// Whether the step's output is merged into the run's `state`.
            pub fn merges_state(&self) -> bool {
                match self {
                    $(StepSpec::$variant(_) => <$module::Config as Step>::MERGES_STATE,)*
                }
            }

            /// A branching step's output once edge `taken` was chosen; `None` for other steps.
            pub fn branch_output(&self, taken: Option<usize>) -> Option<Value> {
                match self {
                    $(StepSpec::$variant(_) => <$module::Config as Step>::branch_output(taken),)*
                }
            }

            /// The outgoing event the step publishes, if any.
            pub fn emits(&self) -> Option<&str> {
                match self {
                    $(StepSpec::$variant(c) => c.emits(),)*
                }
            }

            /// Whether the step acts outside Switchboard (HTTP, messages): such steps get 3
            /// attempts by default, and their completion is committed before the run goes on.
            pub fn has_effects(&self) -> bool {
                self.effects() == Effects::External
            }
        }

        impl StepCatalog for Catalog {
            type Spec = StepSpec;

            fn types(&self) -> &[&'static str] {
                TYPES
            }

            fn parse(&self, step_type: &str, fields: &mut Fields<'_, '_>) -> Option<StepSpec> {
                match step_type {
                    $($name => <$module::Config as Step>::parse(fields).map(StepSpec::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

/// What a step touches beyond the run's own context, declared by each step module as `EFFECTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effects {
    /// Reads the run's context and computes in microseconds: a fresh run executes such steps
    /// before its event is acknowledged, so they are committed with the event in one write.
    Pure,
    /// Reads the run's context only, but may compute for long (user code).
    Compute,
    /// Writes Switchboard's own state (conversations, schedules, outgoing events).
    Internal,
    /// Acts outside Switchboard (HTTP, messages).
    External,
}

/// The catalog of step types, for `switchboard_core::workflow::compile`.
pub struct Catalog;

registry! {
    "store_context_data" => StoreContextData(store_context_data),
    "store_conversation_state" => StoreConversationState(store_conversation_state),
    "conditional" => Conditional(conditional),
    "delay" => Delay(delay),
    "webhook" => Webhook(webhook),
    "send_whatsapp_template" => SendWhatsappTemplate(send_whatsapp_template),
    "send_whatsapp_message" => SendWhatsappMessage(send_whatsapp_message),
    "send_email" => SendEmail(send_email),
    "make_phone_call" => MakePhoneCall(make_phone_call),
    "custom_code" => CustomCode(custom_code),
    "schedule_workflow" => ScheduleWorkflow(schedule_workflow),
    "emit_event" => EmitEvent(emit_event),
}

/// The retry policy of a step: its own, else 3 attempts (exponential from 1 s, at most 60 s) for
/// steps with effects and 1 for the rest (docs/workflows.md).
pub fn retry_policy(spec: &StepSpec, own: Option<&Retry>) -> Retry {
    own.cloned().unwrap_or(Retry {
        max_attempts: if spec.has_effects() { 3 } else { 1 },
        exponential: true,
        initial_ms: 1000,
        max_ms: 60_000,
    })
}

/// [`compile`] on a JS thread, in `store`'s turn: compiling checks the syntax of every script in
/// the definition, which must not hold up the threads serving HTTP.
pub async fn compile_apart(
    store: &str,
    def: serde_json::Value,
    options: switchboard_core::workflow::Options,
) -> Result<switchboard_core::workflow::Compiled<StepSpec>, switchboard_script::Lost> {
    apart(store, move || compile(&def, &options)).await
}

/// Runs a check that compiles JavaScript (a definition or a named resource being saved) on a JS
/// thread, in `store`'s turn, never on the threads serving HTTP.
pub async fn apart<T: Send + 'static>(
    store: &str,
    check: impl FnOnce() -> T + Send + 'static,
) -> Result<T, switchboard_script::Lost> {
    switchboard_script::on_js_thread(store, switchboard_script::Lane::Expressions, check).await
}

/// Whether a named resource's JavaScript is syntax-checked: when it is saved (on a JS thread, see
/// [`apart`]), not when a stored one, checked when it was saved, is loaded to be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Js {
    Check,
    Stored,
}

/// Compiles a definition that was checked whole when it was saved, without checking the syntax
/// of its scripts again: no JavaScript is compiled, so the engine may do it on any thread.
pub fn compile_stored(
    def: &serde_json::Value,
    options: &switchboard_core::workflow::Options,
) -> switchboard_core::workflow::Compiled<StepSpec> {
    switchboard_core::workflow::compile(def, &Catalog, options)
}

/// Compiles a definition with this catalog.
/// JavaScript is syntax-checked in the sandbox here (core runs no JS).
pub fn compile(
    def: &serde_json::Value,
    options: &switchboard_core::workflow::Options,
) -> switchboard_core::workflow::Compiled<StepSpec> {
    let strict = switchboard_core::workflow::Options {
        strict: true,
        ..options.clone()
    };
    let mut compiled = switchboard_core::workflow::compile(def, &Catalog, &strict);
    let roots_known = check_roots(&compiled.scripts, &mut compiled.report);
    if !check_scripts(&compiled.scripts, &mut compiled.report) || !roots_known {
        compiled.workflow = None;
    }
    compiled
}

/// Expressions must read from a root (`trigger`, `state`, …) or a JavaScript global; `false`
/// when one does not (each reported at its pointer, with the closest root).
fn check_roots(
    scripts: &[switchboard_core::workflow::Script],
    report: &mut switchboard_core::Report,
) -> bool {
    use switchboard_core::template::{ROOTS, unknown_root};
    let mut ok = true;
    for script in scripts.iter().filter(|s| !s.is_code) {
        if let Some(name) = unknown_root(&script.source) {
            let mut message = format!(
                "'{name}' is not something an expression can read (the roots are {})",
                ROOTS.join(", ")
            );
            if let Some(close) = switchboard_core::suggest::closest(&name, ROOTS).first() {
                message.push_str(&format!("; did you mean '{close}'?"));
            }
            report.error(&script.pointer, message);
            ok = false;
        }
    }
    if !ok {
        report.sort();
    }
    ok
}

/// Syntax-checks the JavaScript a definition holds in the sandbox; `false` when some does not
/// compile (each such script is reported at its pointer).
pub fn check_scripts(
    scripts: &[switchboard_core::workflow::Script],
    report: &mut switchboard_core::Report,
) -> bool {
    let mut ok = true;
    for script in scripts {
        if let Err(e) = switchboard_script::check_syntax(&script.source, script.is_code) {
            report.error(&script.pointer, format!("JavaScript does not compile: {e}"));
            ok = false;
        }
    }
    if !ok {
        report.sort();
    }
    ok
}

/// Checks a named settings resource of templates (a saved webhook, an email template): `name`,
/// `description`, then the fields `read` takes, then (with [`Js::Check`]) the JavaScript they hold.
/// Gives the name, what `read` made and the store references, or `None` with the problems;
/// warnings either way.
pub fn named<T>(
    body: &serde_json::Value,
    options: &switchboard_core::workflow::Options,
    what: &str,
    js: Js,
    read: impl FnOnce(&mut Fields<'_, '_>) -> Option<T>,
) -> (
    Option<(String, T, Vec<switchboard_core::workflow::Reference>)>,
    switchboard_core::Report,
) {
    use switchboard_core::workflow::{Context, OPTIONAL, REQUIRED, check_name};
    let mut ctx = Context {
        options: options.clone(),
        ..Default::default()
    };
    let read = Fields::new(Some(body), "", what, &mut ctx).and_then(|mut f| {
        let name = f.string("name", REQUIRED);
        if let Some(Err(problem)) = name.as_deref().map(check_name) {
            f.error("name", problem);
        }
        if let Some(d) = f.string("description", OPTIONAL)
            && d.chars().count() > 4096
        {
            f.error("description", "description is longer than 4096 characters");
        }
        let read = read(&mut f);
        f.finish();
        Some((name?, read?))
    });
    let switchboard_core::workflow::Context {
        mut report,
        references,
        scripts,
        ..
    } = ctx;
    let scripts_ok = js == Js::Stored || check_scripts(&scripts, &mut report);
    match read {
        Some((name, read)) if report.is_valid() && scripts_ok => {
            (Some((name, read, references)), report)
        }
        _ => (None, report),
    }
}

/// Reports that exactly one of `keys` must be given; returns the one that is.
pub(crate) fn exactly_one<'k>(f: &mut Fields<'_, '_>, keys: &[&'k str]) -> Option<&'k str> {
    let present: Vec<&str> = keys.iter().copied().filter(|k| f.present(k)).collect();
    match present.as_slice() {
        [one] => Some(one),
        [] => {
            let at = f.at().to_owned();
            f.ctx.report.error(
                at,
                format!("give one of {}", switchboard_core::workflow::quoted(keys)),
            );
            None
        }
        [_, second, ..] => {
            f.error(
                second,
                format!(
                    "give only one of {}",
                    switchboard_core::workflow::quoted(keys)
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests;
