//! `switchboard validate FILE…`: offline checks of workflow definitions and Kustomer apps. JSON with
//! comments and trailing commas is accepted, as people paste it from documentation.

use std::process::ExitCode;

use serde_json::Value;
use switchboard_core::workflow::{Options, Reference, ReferenceKind};
use switchboard_core::{Problem, jsonc, problem::child};

use crate::cli::ValidateArgs;

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let options = Options {
        allow_http: args.allow_http
            || std::env::var("SWITCHBOARD_OUTBOUND_ALLOW_HTTP").is_ok_and(|v| v == "true"),
        strict: true,
    };
    let mut all_valid = true;
    for file in &args.files {
        let name = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                println!("{name}: cannot read: {e}");
                all_valid = false;
                continue;
            }
        };
        let value = match jsonc::parse(&text) {
            Ok(v) => v,
            Err(e) => {
                println!(
                    "{name}: invalid JSON at line {}, column {}: {e}",
                    e.line(),
                    e.column()
                );
                all_valid = false;
                continue;
            }
        };
        let outcome = check(&value, &options);
        all_valid &= outcome.errors.is_empty();
        let verdict = if outcome.errors.is_empty() {
            "valid"
        } else {
            "invalid"
        };
        println!(
            "{name}: {verdict} ({} errors, {} warnings)",
            outcome.errors.len(),
            outcome.warnings.len()
        );
        for p in &outcome.errors {
            println!("  error   {}: {}", display_pointer(&p.pointer), p.message);
        }
        for p in &outcome.warnings {
            println!("  warning {}: {}", display_pointer(&p.pointer), p.message);
        }
        for r in &outcome.skipped {
            let what = match r.kind {
                ReferenceKind::Webhook => format!("saved webhook '{}'", r.key),
                ReferenceKind::WebhookId => format!("saved webhook id '{}'", r.key),
                ReferenceKind::Workflow => format!("workflow id '{}'", r.key),
                ReferenceKind::Connector => format!("connector id '{}'", r.key),
                ReferenceKind::EmailTemplate => format!("email template '{}'", r.key),
            };
            println!(
                "  skipped {}: {what} exists only on a server; checked when the workflow is saved",
                display_pointer(&r.pointer)
            );
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Default)]
struct Outcome {
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
    /// Checks that need a store.
    skipped: Vec<Reference>,
}

/// A workflow, or a Kustomer app whose `workflows` are each checked under `/workflows/N`.
fn check(value: &Value, options: &Options) -> Outcome {
    let mut out = Outcome::default();
    match value.get("workflows").and_then(Value::as_array) {
        Some(workflows) => {
            for (i, wf) in workflows.iter().enumerate() {
                add(&mut out, wf, options, &child("/workflows", i));
            }
        }
        None => add(&mut out, value, options, ""),
    }
    out
}

fn add(out: &mut Outcome, def: &Value, options: &Options, prefix: &str) {
    let compiled = switchboard_steps::compile(def, options);
    let at = |p: Problem| Problem {
        pointer: format!("{prefix}{}", p.pointer),
        message: p.message,
    };
    out.errors
        .extend(compiled.report.errors.into_iter().map(at));
    out.warnings
        .extend(compiled.report.warnings.into_iter().map(at));
    out.skipped
        .extend(compiled.references.into_iter().map(|r| Reference {
            pointer: format!("{prefix}{}", r.pointer),
            ..r
        }));
}

fn display_pointer(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}
