//! Testing steps without an engine or a store: [`FakeServices`] answers what steps ask of the
//! outside world from what the test gave it and records what they did; [`Scene`] is a run's scope;
//! [`Responder`] is a loopback HTTP server for steps that really call out (webhooks, providers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use switchboard_channels::{email, voice, whatsapp};
use switchboard_core::run::StepError;
use switchboard_core::template::Scope;
use switchboard_core::workflow::Options;
use switchboard_outbound::{Client, Limits, Policy};
use switchboard_script::Computed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::send_email::StoredTemplate;
use crate::webhook::{self, SavedRef};
use crate::{
    CallRequest, EmitRequest, ScheduledCall, SentMessage, Services, StepEnv, StepRun, StepSpec,
};

/// The clock every [`Scene`] runs at: 2026-01-15T12:00:00Z.
pub const NOW_MS: i64 = 1_768_478_400_000;

/// A step's compiled config and the JavaScript expressions in it.
pub struct TestStep {
    pub spec: StepSpec,
    pub scripts: Vec<String>,
}

impl std::ops::Deref for TestStep {
    type Target = StepSpec;
    fn deref(&self) -> &StepSpec {
        &self.spec
    }
}

/// A step's compiled config, as a one-step workflow reads it (plain `http://` allowed).
pub fn spec(step_type: &str, config: Value) -> TestStep {
    let def = json!({"name": "t", "trigger": {"type": "manual"},
        "steps": [{"id": "s", "type": step_type, "config": config}]});
    let compiled = crate::compile(
        &def,
        &Options {
            allow_http: true,
            ..Default::default()
        },
    );
    let workflow = compiled
        .workflow
        .unwrap_or_else(|| panic!("{step_type} does not compile: {:?}", compiled.report));
    let node = &workflow.nodes[0];
    TestStep {
        spec: node.spec.clone(),
        scripts: node.scripts.clone(),
    }
}

/// The scope of a run at a step: its trigger, state, variables and earlier outputs.
pub struct Scene {
    pub trigger: Value,
    pub state: Value,
    pub variables: Value,
    pub steps: Value,
    pub store: Value,
    /// The visit's idempotency key.
    pub key: String,
    pub now_ms: i64,
    /// When the visit started.
    pub started_ms: i64,
    pub time_scale: f64,
}

impl Scene {
    pub fn new(trigger: Value) -> Scene {
        Scene {
            trigger,
            state: json!({}),
            variables: json!({}),
            steps: json!({}),
            store: json!({"id": "st_test", "name": "Test"}),
            key: "run_1:s:1".into(),
            now_ms: NOW_MS,
            started_ms: NOW_MS,
            time_scale: 1.0,
        }
    }

    pub fn env<'a>(&'a self, services: &'a dyn Services) -> StepEnv<'a> {
        StepEnv {
            scope: Scope {
                trigger: &self.trigger,
                state: &self.state,
                variables: &self.variables,
                steps: &self.steps,
                store: &self.store,
                error: None,
                params: None,
            },
            computed: Computed::default(),
            store_id: "st_test",
            services,
            run_id: "run_1",
            step_id: "s",
            idempotency_key: self.key.clone(),
            now_ms: self.now_ms,
            started_ms: self.started_ms,
            time_scale: self.time_scale,
        }
    }

    /// Runs one attempt of `step` in this scene, its JavaScript computed ahead as the engine
    /// does.
    pub async fn run(&self, step: &TestStep, services: &FakeServices) -> StepRun {
        let mut env = self.env(services);
        let scripts: Vec<&str> = step.scripts.iter().map(String::as_str).collect();
        env.computed = Computed::of(env.store_id, &env.scope, &scripts).await;
        step.spec.run(&env).await
    }
}

/// What a test configures and what steps did, in memory.
pub struct FakeServices {
    pub http: Client,
    pub whatsapp: Option<whatsapp::Config>,
    pub email: Option<email::Config>,
    pub voice: Option<voice::Config>,
    pub public_url: Option<String>,
    /// Saved webhooks by name.
    pub webhooks: HashMap<String, webhook::Request>,
    pub connectors: HashMap<String, webhook::Auth>,
    pub email_templates: HashMap<String, StoredTemplate>,
    /// Workflows `schedule_call` accepts.
    pub callable: Vec<String>,
    /// Conversation state by phone digits.
    pub conversations: Mutex<HashMap<String, Value>>,
    pub sent: Mutex<Vec<SentMessage>>,
    pub calls: Mutex<Vec<CallRequest>>,
    pub emitted: Mutex<Vec<EmitRequest>>,
}

impl Default for FakeServices {
    /// Nothing configured; the HTTP client may reach loopback over plain HTTP.
    fn default() -> FakeServices {
        let policy = Policy {
            allow: Policy::parse_allow("127.0.0.0/8").expect("a CIDR"),
            allow_http: true,
        };
        FakeServices {
            http: Client::new(policy, Limits::default()),
            whatsapp: None,
            email: None,
            voice: None,
            public_url: None,
            webhooks: HashMap::new(),
            connectors: HashMap::new(),
            email_templates: HashMap::new(),
            callable: Vec::new(),
            conversations: Mutex::default(),
            sent: Mutex::default(),
            calls: Mutex::default(),
            emitted: Mutex::default(),
        }
    }
}

fn not_configured(channel: &str) -> StepError {
    StepError::new(
        "channel_not_configured",
        format!("this store has no {channel} channel"),
    )
}

fn missing(code: &str, what: &str, key: &str) -> StepError {
    StepError::new(code, format!("no {what} '{key}'"))
}

#[async_trait::async_trait]
impl Services for FakeServices {
    async fn merge_conversation(&self, phone: &str, patch: &Value) -> Result<Value, StepError> {
        let mut all = self.conversations.lock().expect("conversations");
        let state = all.entry(phone.to_owned()).or_insert_with(|| json!({}));
        if let (Value::Object(state), Value::Object(patch)) = (state.clone(), patch) {
            let mut merged = state;
            for (k, v) in patch {
                match v {
                    Value::Null => merged.remove(k),
                    v => merged.insert(k.clone(), v.clone()),
                };
            }
            all.insert(phone.to_owned(), Value::Object(merged));
        }
        Ok(all[phone].clone())
    }

    async fn saved_webhook(&self, by: &SavedRef) -> Result<webhook::Request, StepError> {
        let key = match by {
            SavedRef::Id(k) | SavedRef::Name(k) => k,
        };
        let found = self.webhooks.get(key);
        found
            .cloned()
            .ok_or_else(|| missing("webhook_not_found", "saved webhook", key))
    }

    async fn connector(&self, id: &str) -> Result<webhook::Auth, StepError> {
        let found = self.connectors.get(id);
        found
            .cloned()
            .ok_or_else(|| missing("connector_not_found", "connector", id))
    }

    fn http(&self) -> &Client {
        &self.http
    }

    async fn whatsapp(&self) -> Result<whatsapp::Config, StepError> {
        self.whatsapp
            .clone()
            .ok_or_else(|| not_configured("whatsapp"))
    }

    async fn email(&self) -> Result<email::Config, StepError> {
        self.email.clone().ok_or_else(|| not_configured("email"))
    }

    async fn voice(&self) -> Result<voice::Config, StepError> {
        self.voice.clone().ok_or_else(|| not_configured("voice"))
    }

    fn voice_status_callback(&self) -> Option<String> {
        self.public_url.clone()
    }

    async fn email_template(&self, name: &str) -> Result<StoredTemplate, StepError> {
        let found = self.email_templates.get(name);
        found
            .cloned()
            .ok_or_else(|| missing("email_template_not_found", "email template", name))
    }

    async fn record_message(&self, message: SentMessage) {
        self.sent.lock().expect("sent").push(message);
    }

    async fn schedule_call(&self, call: CallRequest) -> Result<ScheduledCall, StepError> {
        if !self.callable.contains(&call.workflow_id) {
            return Err(missing("workflow_not_found", "workflow", &call.workflow_id));
        }
        let mut calls = self.calls.lock().expect("calls");
        let index = match calls.iter().position(|c| c.origin_key == call.origin_key) {
            Some(i) => i,
            None => {
                calls.push(call);
                calls.len() - 1
            }
        };
        Ok(ScheduledCall {
            id: format!("sc_{index}"),
            due_ms: calls[index].due_ms,
        })
    }

    async fn emit_event(&self, event: EmitRequest) -> Result<String, StepError> {
        let mut emitted = self.emitted.lock().expect("emitted");
        let index = match emitted
            .iter()
            .position(|e| e.origin_key == event.origin_key)
        {
            Some(i) => i,
            None => {
                emitted.push(event);
                emitted.len() - 1
            }
        };
        Ok(format!("evt_{index}"))
    }
}

/// A request [`Responder`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST /v21.0/123/messages`.
    pub line: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// A loopback HTTP/1.1 server answering every request with one status and body, and keeping
/// what it received.
pub struct Responder {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Responder {
    pub async fn start(status: u16, body: &str) -> Responder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                if let Some(request) = read_request(&mut socket).await {
                    log.lock().expect("received").push(request);
                }
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Responder { url, received }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&chunk[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&data[head_end..]).into_owned();
    Some(Received {
        line,
        headers,
        body,
    })
}

/// A WhatsApp channel whose Graph API is at `base_url` (a [`Responder`]).
pub fn whatsapp_at(base_url: &str) -> whatsapp::Config {
    whatsapp::Config {
        phone_number_id: "1065403522".into(),
        access_token: "EAAG-test".into(),
        app_secret: "app-secret".into(),
        verify_token: "verify".into(),
        api_version: "v21.0".into(),
        base_url: base_url.into(),
    }
}

/// A Twilio voice channel whose API is at `base_url` (a [`Responder`]).
pub fn voice_at(base_url: &str) -> voice::Config {
    voice::Config {
        account_sid: "AC0123".into(),
        auth_token: "twilio-token".into(),
        from: "+15005550006".into(),
        base_url: base_url.into(),
    }
}

/// The step's output, or a panic with its error.
pub fn output(run: &StepRun) -> &Value {
    match &run.result {
        Ok(switchboard_core::run::Outcome::Next(out)) => out,
        other => panic!("the step did not complete: {other:?}"),
    }
}

/// The step's error code, or a panic when it did not fail.
pub fn error_code(run: &StepRun) -> &str {
    match &run.result {
        Err(e) => &e.code,
        other => panic!("the step did not fail: {other:?}"),
    }
}
