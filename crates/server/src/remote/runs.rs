//! `switchboard runs list|show|tail|retry|replay|cancel` and `switchboard events send`: run
//! history and events from the command line, through the API (docs/api.md, "Runs").

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Connection, Remote};

#[derive(Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: RunsCommand,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Subcommand)]
pub enum RunsCommand {
    /// The store's runs, newest first: id, status, workflow, error code and failed step.
    List(RunFilters),
    /// One run with every step visit, as JSON.
    Show { id: String },
    /// Print run status changes as they happen (until interrupted).
    Tail(RunFilters),
    /// Retry a run in place: at its failed step, or from `--from-step`.
    Retry {
        id: String,
        /// Move the run to the workflow's current version.
        #[arg(long)]
        latest: bool,
        /// Rerun from this step, keeping the outputs of the steps before it.
        #[arg(long)]
        from_step: Option<String>,
    },
    /// Start the run again as a new run of the current version.
    Replay {
        id: String,
        /// Trigger data (JSON) instead of the run's.
        #[arg(long)]
        trigger: Option<String>,
    },
    /// Cancel a queued, running or waiting run.
    Cancel { id: String },
}

#[derive(Args)]
pub struct RunFilters {
    #[arg(long)]
    pub workflow: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    /// A contact's phone number, in any spelling.
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub event: Option<String>,
    #[arg(long)]
    pub error_code: Option<String>,
    /// How many runs to list (`list` only).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print the API's JSON instead of a table (`list` only).
    #[arg(long)]
    pub json: bool,
}

impl RunFilters {
    fn query(&self) -> String {
        let pairs = [
            ("workflowId", &self.workflow),
            ("status", &self.status),
            ("phoneNumber", &self.phone),
            ("email", &self.email),
            ("eventId", &self.event),
            ("errorCode", &self.error_code),
        ];
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in pairs {
            if let Some(v) = value {
                query.append_pair(key, v);
            }
        }
        query.finish()
    }
}

#[derive(Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Send an event: one run per active workflow listening to its type.
    Send {
        event_type: String,
        /// The event's fields (a JSON object).
        #[arg(long, default_value = "{}")]
        data: String,
        /// Repeat-safe key: the same key within 24 h gives the first answer.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

fn json_arg(what: &str, text: &str) -> anyhow::Result<Value> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("{what} is not JSON: {text}"))?;
    anyhow::ensure!(value.is_object(), "{what} must be a JSON object");
    Ok(value)
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn row(run: &Value) -> String {
    let text = |key: &str| run[key].as_str().unwrap_or("-").to_owned();
    format!(
        "{}  {:<9}  {}  {}  {}  {}",
        text("id"),
        text("status"),
        text("workflowName"),
        text("errorCode"),
        text("failedStep"),
        text("createdAt")
    )
}

pub async fn run(args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let remote = Remote::connect(&args.connection)?;
    match &args.command {
        RunsCommand::List(filters) => {
            let query = filters.query();
            let sep = if query.is_empty() { "" } else { "&" };
            let page = remote
                .get(&format!("/api/runs?limit={}{sep}{query}", filters.limit))
                .await?;
            if filters.json {
                print_json(&page);
            } else {
                for run in page["data"].as_array().into_iter().flatten() {
                    println!("{}", row(run));
                }
            }
        }
        RunsCommand::Show { id } => print_json(&remote.get(&format!("/api/runs/{id}")).await?),
        RunsCommand::Tail(filters) => tail(&remote, &filters.query()).await?,
        RunsCommand::Retry {
            id,
            latest,
            from_step,
        } => {
            let mut body = json!({"version": if *latest { "latest" } else { "pinned" }});
            if let Some(step) = from_step {
                body["fromStep"] = json!(step);
            }
            let request = remote
                .request(Method::POST, &format!("/api/runs/{id}/retry"))
                .json(&body);
            let (_, run) = remote.send(request).await?;
            println!("{}", row(&run));
        }
        RunsCommand::Replay { id, trigger } => {
            let mut body = json!({});
            if let Some(t) = trigger {
                body["trigger"] = json_arg("--trigger", t)?;
            }
            let request = remote
                .request(Method::POST, &format!("/api/runs/{id}/replay"))
                .json(&body);
            let (_, run) = remote.send(request).await?;
            println!("{}", row(&run));
        }
        RunsCommand::Cancel { id } => {
            let request = remote.request(Method::POST, &format!("/api/runs/{id}/cancel"));
            let (_, run) = remote.send(request).await?;
            println!("{}", row(&run));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints each `run` event of the stream as a row, as it comes.
async fn tail(remote: &Remote, query: &str) -> anyhow::Result<()> {
    let mut response = remote
        .request(Method::GET, &format!("/api/runs/stream?{query}"))
        .send()
        .await
        .context("cannot reach the server")?;
    if !response.status().is_success() {
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        return Err(super::Refused { status, body }.into());
    }
    let mut pending = String::new();
    while let Some(chunk) = response.chunk().await.context("the stream broke")? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: "))
                && let Ok(run) = serde_json::from_str::<Value>(data)
            {
                println!("{}", row(&run));
            }
        }
    }
    Ok(())
}

pub async fn events(args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let remote = Remote::connect(&args.connection)?;
    match &args.command {
        EventsCommand::Send {
            event_type,
            data,
            idempotency_key,
        } => {
            let body = json_arg("--data", data)?;
            let encoded: String =
                url::form_urlencoded::byte_serialize(event_type.as_bytes()).collect();
            let path = format!("/api/events/{}", encoded.replace('+', "%20"));
            let mut request = remote.request(Method::POST, &path).json(&body);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            let (_, accepted) = remote.send(request).await?;
            print_json(&accepted);
        }
    }
    Ok(ExitCode::SUCCESS)
}
