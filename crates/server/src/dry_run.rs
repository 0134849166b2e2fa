//! `switchboard dry-run FILE --trigger JSON [--mock STEP=JSON]…`: a workflow file run in memory,
//! with no server: the same dry run as `POST /api/workflows/test` (docs/cli.md), printed as JSON.
//! Channels get placeholder settings; steps that need a store's saved webhooks, connectors or
//! email templates fail, saying so. Exits 0 when the dry run completed, 1 when it failed or the
//! file is invalid.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use switchboard_core::jsonc;
use switchboard_core::run::RunStatus;
use switchboard_core::workflow::Options;
use switchboard_engine::dry_run::{DryRequest, dry_run};
use switchboard_outbound::{Client, Limits, Policy};

#[derive(Args)]
pub struct DryRunArgs {
    /// A workflow definition (JSON; comments and trailing commas are fine).
    pub file: PathBuf,
    /// The trigger data (a JSON object).
    #[arg(long, default_value = "{}")]
    pub trigger: String,
    /// What a step's request gets back: `STEP={"status": 200, "body": {…}}` (repeatable).
    #[arg(long = "mock", value_name = "STEP=JSON")]
    pub mocks: Vec<String>,
    /// Permit literal http:// URLs, as SWITCHBOARD_OUTBOUND_ALLOW_HTTP=true does.
    #[arg(long)]
    pub allow_http: bool,
}

pub async fn run(args: &DryRunArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("read {}", args.file.display()))?;
    let definition =
        jsonc::parse(&text).with_context(|| format!("{} is not JSON", args.file.display()))?;
    let trigger: Value = serde_json::from_str(&args.trigger).context("--trigger is not JSON")?;
    anyhow::ensure!(trigger.is_object(), "--trigger must be a JSON object");
    let mut mocks = HashMap::new();
    for mock in &args.mocks {
        let (step, answer) = mock
            .split_once('=')
            .with_context(|| format!("--mock {mock}: give STEP=JSON"))?;
        let answer: Value =
            serde_json::from_str(answer).with_context(|| format!("--mock {step}: not JSON"))?;
        anyhow::ensure!(
            answer.is_object(),
            "--mock {step}: give an object {{status?, body?}}"
        );
        mocks.insert(step.to_owned(), answer);
    }
    let options = Options {
        allow_http: args.allow_http,
        strict: true,
    };
    let compiled = switchboard_steps::compile_apart("dry-run", definition, options).await?;
    let Some(workflow) = compiled.workflow.filter(|_| compiled.report.is_valid()) else {
        let errors: Vec<Value> = compiled
            .report
            .errors
            .iter()
            .map(|p| json!({"pointer": p.pointer, "message": p.message}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"dryRun": true, "valid": false, "errors": errors})
            )?
        );
        return Ok(ExitCode::from(1));
    };
    let graph = Arc::new(workflow);
    let request = DryRequest {
        store_id: "st_dry_run".into(),
        store_root: json!({"id": "st_dry_run", "name": "dry run"}),
        graph: graph.clone(),
        trigger,
        mocks,
        time_scale: 1.0,
    };
    let policy = Policy {
        allow_http: args.allow_http,
        ..Default::default()
    };
    let client = Client::new(policy, Limits::default());
    let run = dry_run(request, None, &client).await;
    let completed = run.status == RunStatus::Completed;
    let view = crate::api::dry_runs::view(&graph, run);
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(if completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
