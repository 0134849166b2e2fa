//! Dry runs: a workflow executed in memory, its steps run by the same code as real runs, but
//! nothing acts outside it. Requests are answered by the client's stand-in (a step's mock, else
//! `200` with no body) and messages are taken as sent — each step keeps what it would have sent,
//! secrets masked; scheduled calls and emitted events are only recorded; delays and retry
//! backoffs are skipped (the run's clock moves past them) and recorded; nothing is persisted and
//! no conversation is merged. One implementation for the API, the CLI and the console
//! (docs/api.md, "Dry runs").

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use switchboard_channels::{email, voice, whatsapp};
use switchboard_core::run::{RunStatus, StepError, StepStatus, merge_patch};
use switchboard_core::template::Scope;
use switchboard_outbound::{Client, Simulated};
use switchboard_steps::send_email::StoredTemplate;
use switchboard_steps::webhook::{self, SavedRef};
use switchboard_steps::{CallRequest, EmitRequest, ScheduledCall, SentMessage, Services};
use switchboard_store::StepRecord;

use crate::Graph;
use crate::clock::rfc3339;
use crate::executor::{Stepped, step};
use crate::live::{Live, Position, Start};

/// What to dry-run.
pub struct DryRequest {
    pub store_id: String,
    /// The `store` root of templates: `{id, name}`.
    pub store_root: Value,
    pub graph: Arc<Graph>,
    pub trigger: Value,
    /// Per step id: `{status?, body?}`, what the step's request gets back.
    pub mocks: HashMap<String, Value>,
    pub time_scale: f64,
}

/// What a dry run did.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// `completed` or `failed`.
    pub status: RunStatus,
    pub error: Option<Value>,
    pub trigger: Value,
    pub state: Value,
    pub variables: Value,
    pub steps: Vec<DryStep>,
}

/// One step visit of a dry run.
#[derive(Debug, Clone)]
pub struct DryStep {
    pub record: StepRecord,
    /// The wait skipped after this visit (a delay's end, a retry's next attempt).
    pub skipped_wait_until: Option<i64>,
    /// What the step would have sent: `{kind, request}`.
    pub simulated: Option<Value>,
}

/// Runs `request`'s workflow to its end in memory. `store` reaches the store's saved webhooks,
/// connectors, channels and email templates (read only); without it (offline), channels not
/// configured get placeholders and stored resources are not found.
pub async fn dry_run(request: DryRequest, store: Option<&dyn Services>, client: &Client) -> DryRun {
    let DryRequest {
        store_id,
        store_root,
        graph,
        mut trigger,
        mocks,
        time_scale,
    } = request;
    crate::triggers::stamp(&mut trigger, crate::clock::now_ms());
    let failed = |error: Value, steps| DryRun {
        status: RunStatus::Failed,
        error: Some(error),
        trigger: trigger.clone(),
        state: json!({}),
        variables: json!({}),
        steps,
    };
    let first = match crate::edges::entry(&store_id, &graph, &Scope::of_trigger(&trigger)).await {
        Ok(Some(first)) => first,
        Ok(None) => {
            let e = StepError::new(
                "no_entry",
                "the trigger's conditions did not hold: no run would start",
            );
            return failed(e.to_json(), Vec::new());
        }
        Err(e) => {
            return failed(
                StepError::new("expression_error", e.to_string()).to_json(),
                Vec::new(),
            );
        }
    };
    let start = Start {
        run_id: "run_dry".to_owned(),
        store_id: store_id.clone(),
        workflow_id: "wf_dry".to_owned(),
        workflow_version: 0,
        graph: graph.clone(),
        trigger: trigger.clone(),
        contact: switchboard_core::run::contact_of(&trigger),
        first,
    };
    let mut live = Live::fresh(Arc::new(store_root), start);
    let recorded = Mutex::new(Vec::new());
    let conversation = Mutex::new(json!({}));
    let mut steps: BTreeMap<i64, DryStep> = BTreeMap::new();
    let (status, error) = loop {
        let node = match live.position {
            Position::Done => break (RunStatus::Completed, None),
            Position::Fresh(n) | Position::Resume { node: n, .. } => n,
        };
        let mock = graph.nodes.get(node).and_then(|n| mocks.get(&n.id));
        let services = DryServices {
            store,
            client: client.simulating(answer(mock)),
            recorded: &recorded,
            conversation: &conversation,
        };
        let stepped = step(time_scale, &mut live, &services, None).await;
        let mut sims = std::mem::take(&mut *recorded.lock().expect("dry run records"));
        for record in live.pending.drain(..) {
            let simulated = sims.pop().or_else(|| sent_over(&record));
            let skipped = steps.get(&record.seq).and_then(|s| s.skipped_wait_until);
            steps.insert(
                record.seq,
                DryStep {
                    record,
                    skipped_wait_until: skipped,
                    simulated,
                },
            );
        }
        match stepped {
            Stepped::Next { .. } | Stepped::OutOfTime => {}
            Stepped::Complete => live.position = Position::Done,
            Stepped::Wait { node, at } => {
                // Skipped: the run's clock moves to the wait's end and the visit goes on.
                let Some(last) = steps.values_mut().next_back() else {
                    break (
                        RunStatus::Failed,
                        Some(StepError::new("internal", "a wait without a visit").to_json()),
                    );
                };
                last.skipped_wait_until = Some(at);
                let r = &last.record;
                live.position = Position::Resume {
                    node,
                    seq: r.seq,
                    visit: r.visit,
                    attempt: r.attempts as u64 + u64::from(r.error.is_some()),
                    started: r.started_at,
                };
                live.skew_ms += (at - live.now()).max(0);
            }
            Stepped::Fail { error, step_id, .. } => {
                let mut error = error.to_json();
                if let Some(step_id) = step_id {
                    error["stepId"] = json!(step_id);
                }
                break (RunStatus::Failed, Some(error));
            }
        }
    };
    DryRun {
        status,
        error,
        trigger,
        state: live.ctx.state.clone(),
        variables: live.ctx.variables.clone(),
        steps: steps.into_values().collect(),
    }
}

/// The stand-in answer for a step's requests: its mock `{status?, body?}`, else `200`, no body.
fn answer(mock: Option<&Value>) -> Simulated {
    match mock {
        None => Simulated::default(),
        Some(m) => Simulated {
            status: m
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(200),
            body: m.get("body").cloned().filter(|b| !b.is_null()),
            mocked: true,
        },
    }
}

/// What an HTTP or SMTP step would have sent, from its record: `{kind: "http" | "email", request}`.
fn sent_over(record: &StepRecord) -> Option<Value> {
    let http = record.http.as_ref()?;
    if let Some(smtp) = http.get("smtp") {
        return Some(json!({"kind": "email", "request": smtp}));
    }
    http.get("request")
        .map(|request| json!({"kind": "http", "request": request}))
}

impl DryStep {
    /// The visit's time in the run, including waits skipped after it.
    pub fn duration_ms(&self) -> Option<i64> {
        self.record
            .finished_at
            .map(|f| (f - self.record.started_at).max(0))
    }

    pub fn failed(&self) -> bool {
        self.record.status == StepStatus::Failed
    }
}

/// The services of a dry run: reads from the store (when there is one), writes kept in memory.
struct DryServices<'a> {
    store: Option<&'a dyn Services>,
    client: Client,
    /// What the step asked for that is not a request: `{kind, request}`.
    recorded: &'a Mutex<Vec<Value>>,
    /// The conversation state the run's merges made (never saved).
    conversation: &'a Mutex<Value>,
}

impl DryServices<'_> {
    fn record(&self, kind: &str, request: Value) {
        self.recorded
            .lock()
            .expect("dry run records")
            .push(json!({"kind": kind, "request": request}));
    }

    fn store(&self, what: &str) -> Result<&dyn Services, StepError> {
        self.store.ok_or_else(|| {
            StepError::new(
                "not_found",
                format!("{what}: a dry run without a server has no stored {what}"),
            )
        })
    }
}

/// The store's settings of a channel (`get`, none offline), or placeholder settings when it has
/// not configured that channel: the dry run still shows what would be sent.
async fn unconfigured<T>(
    get: Option<impl Future<Output = Result<T, StepError>>>,
    placeholder: impl FnOnce() -> T,
) -> Result<T, StepError> {
    let Some(get) = get else {
        return Ok(placeholder());
    };
    match get.await {
        Err(e) if e.code == "channel_not_configured" => Ok(placeholder()),
        other => other,
    }
}

#[async_trait::async_trait]
impl Services for DryServices<'_> {
    async fn merge_conversation(&self, _phone: &str, patch: &Value) -> Result<Value, StepError> {
        let mut state = self.conversation.lock().expect("dry run conversation");
        merge_patch(&mut state, patch);
        Ok(state.clone())
    }

    async fn saved_webhook(&self, by: &SavedRef) -> Result<webhook::Request, StepError> {
        self.store("saved webhook")?.saved_webhook(by).await
    }

    async fn connector(&self, id: &str) -> Result<webhook::Auth, StepError> {
        self.store("connector")?.connector(id).await
    }

    fn http(&self) -> &Client {
        &self.client
    }

    async fn whatsapp(&self) -> Result<whatsapp::Config, StepError> {
        unconfigured(self.store.map(|s| s.whatsapp()), || whatsapp::Config {
            phone_number_id: "000000000000000".into(),
            access_token: "dry-run".into(),
            app_secret: "dry-run".into(),
            verify_token: "dry-run".into(),
            api_version: whatsapp::DEFAULT_API_VERSION.into(),
            base_url: whatsapp::DEFAULT_BASE_URL.into(),
        })
        .await
    }

    async fn email(&self) -> Result<email::Config, StepError> {
        unconfigured(self.store.map(|s| s.email()), || email::Config {
            host: "smtp.invalid".into(),
            port: 587,
            security: email::Security::StartTls,
            username: None,
            password: None,
            from: "dry-run@example.invalid".into(),
        })
        .await
    }

    async fn voice(&self) -> Result<voice::Config, StepError> {
        unconfigured(self.store.map(|s| s.voice()), || voice::Config {
            account_sid: "AC00000000000000000000000000000000".into(),
            auth_token: "dry-run".into(),
            from: "+10000000000".into(),
            base_url: voice::DEFAULT_BASE_URL.into(),
        })
        .await
    }

    fn voice_status_callback(&self) -> Option<String> {
        self.store.and_then(|s| s.voice_status_callback())
    }

    async fn email_template(&self, name: &str) -> Result<StoredTemplate, StepError> {
        self.store("email template")?.email_template(name).await
    }

    async fn record_message(&self, _message: SentMessage) {}

    async fn schedule_call(&self, call: CallRequest) -> Result<ScheduledCall, StepError> {
        self.record(
            "schedule_workflow",
            json!({"workflowId": call.workflow_id, "runAt": rfc3339(call.due_ms), "inputs": call.inputs}),
        );
        Ok(ScheduledCall {
            id: switchboard_core::ids::new_id("dry"),
            due_ms: call.due_ms,
        })
    }

    async fn emit_event(&self, event: EmitRequest) -> Result<String, StepError> {
        self.record(
            "emit_event",
            json!({"event": event.event, "data": event.data}),
        );
        Ok(switchboard_core::ids::new_id("dry"))
    }
}
