//! One conformance suite for the `Store`, one file per area, run against both backends: every case
//! is a test per backend, each on a fresh database.

use std::sync::Arc;

use serde_json::json;
use switchboard_store::*;

type Guard = Box<dyn std::any::Any + Send>;

async fn open_sqlite() -> (Arc<dyn Store>, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    (open(&url).await.unwrap(), Box::new(dir))
}

async fn open_postgres() -> (Arc<dyn Store>, Guard) {
    let url = testkit::pg_cluster().create_database();
    (open(&url).await.unwrap(), Box::new(()))
}

/// Makes each listed case a test per backend (`<area>::sqlite::<case>`, `<area>::postgres::<case>`),
/// each on a fresh database.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = crate::open_sqlite().await;
                super::$case(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = crate::open_postgres().await;
                super::$case(store).await;
            })*
        }
    };
}

mod cluster;
mod deliveries;
mod messages;
mod outbox;
mod resources;
mod runs;
mod schedules;
mod tenants;
mod workflows;

// Builders shared by the areas.

fn store(id: &str, name: &str) -> NewStore {
    NewStore {
        id: id.into(),
        name: name.into(),
        now: 1_000,
    }
}

fn token(id: &str, store_id: Option<&str>, hash: &str) -> NewToken {
    NewToken {
        id: id.into(),
        store_id: store_id.map(Into::into),
        name: None,
        hash: hash.into(),
        now: 1_000,
    }
}

fn content(name: &str) -> WorkflowContent {
    WorkflowContent {
        name: name.into(),
        description: Some("d".into()),
        format: "native".into(),
        trigger_kind: "webhook".into(),
        trigger_key: Some("lead".into()),
        definition: json!({"name": name, "z": 1, "a": [1, 2]}),
        warnings: json!([]),
    }
}

fn workflow(id: &str, store_id: &str, name: &str) -> NewWorkflow {
    NewWorkflow {
        id: id.into(),
        store_id: store_id.into(),
        active: true,
        content: content(name),
        next_tick: None,
        now: 2_000,
    }
}

async fn with_store(s: &Arc<dyn Store>, id: &str) {
    s.create_store(store(id, id), None).await.unwrap();
}

fn record(seq: i64, step_id: &str, status: &str, output: serde_json::Value) -> StepRecord {
    StepRecord {
        seq,
        step_id: step_id.into(),
        node: seq,
        visit: 1,
        status: status.parse().unwrap(),
        attempts: 1,
        input: Some(json!({"data": {"k": seq}})),
        output: Some(output),
        error: None,
        http: None,
        logs: None,
        started_at: 10_000 + seq,
        finished_at: (status != "waiting").then_some(10_010 + seq),
        workflow_version: Some(1),
        superseded_at: None,
    }
}

fn state(run_id: &str, status: &str, records: Vec<StepRecord>) -> Checkpoint {
    Checkpoint {
        run_id: run_id.into(),
        owner: "node_a".into(),
        records,
        status: status.parse().unwrap(),
        next_node: None,
        visits: 0,
        wake_at: None,
        error: None,
        finished_at: None,
        lease_until: None,
        conversation: None,
        now: 10_050,
    }
}

fn new_run(store_id: &str, workflow_id: &str, state: Checkpoint) -> NewRun {
    NewRun {
        store_id: store_id.into(),
        workflow_id: workflow_id.into(),
        workflow_version: 1,
        event_id: None,
        trigger: json!({"eventType": "lead", "n": 1}),
        contact: Some("5511999".into()),
        email: Some("ana@example.com".into()),
        trigger_type: "webhook".into(),
        replay_of: None,
        state,
    }
}

fn event(id: &str, store_id: &str, key: Option<&str>, now: i64) -> NewEvent {
    NewEvent {
        id: id.into(),
        store_id: store_id.into(),
        event_type: "lead".into(),
        payload: json!({"eventType": "lead"}),
        idempotency: key.map(|k| Idempotency {
            key: k.into(),
            request_hash: format!("hash-of-{id}"),
            since: now - 1_000,
        }),
        response: json!({"eventId": id}),
        message: None,
        schedule: None,
        now,
    }
}

/// A running run leased to `node_a` (due now, for takeover), and a workflow for it.
async fn running_run(s: &Arc<dyn Store>, store_id: &str, run_id: &str) {
    // Workflow ids are unique across stores: `wf_1` in st_a, `wf_<store>` in the others.
    let workflow_id = match store_id {
        "st_a" => "wf_1".to_owned(),
        other => format!("wf_{other}"),
    };
    if s.get_workflow(store_id, &workflow_id)
        .await
        .unwrap()
        .is_none()
    {
        s.create_workflow(workflow(&workflow_id, store_id, "W"))
            .await
            .unwrap();
    }
    let mut st = state(run_id, "running", Vec::new());
    st.next_node = Some(0);
    st.wake_at = Some(10_000);
    st.lease_until = Some(20_000);
    let mut run = new_run(store_id, &workflow_id, st);
    run.event_id = Some(format!("evt_{run_id}"));
    let e = event(&format!("evt_{run_id}"), store_id, None, 10_000);
    assert_eq!(s.accept(e, vec![run]).await.unwrap(), Acceptance::Accepted);
}

fn lease(owner: &str, now: i64) -> Lease {
    Lease {
        owner: owner.into(),
        until: now + 5_000,
        now,
    }
}

fn message(id: &str, store_id: &str, provider_id: &str, status: &str, rank: i64) -> MessageRecord {
    MessageRecord {
        id: id.into(),
        store_id: store_id.into(),
        channel: "whatsapp".into(),
        direction: "outbound".into(),
        contact: Some("5511999".into()),
        provider_id: Some(provider_id.into()),
        status: status.parse().unwrap(),
        status_rank: rank,
        content: json!({"type": "text", "text": "hi"}),
        error: None,
        run_id: Some("run_1".into()),
        step_id: Some("step1".into()),
        created_at: 10,
        updated_at: 10,
    }
}

fn report(store_id: &str, provider_id: &str, status: &str, rank: i64, now: i64) -> StatusReport {
    StatusReport {
        store_id: store_id.into(),
        channel: "whatsapp".into(),
        provider_id: provider_id.into(),
        status: status.parse().unwrap(),
        status_rank: rank,
        error: None,
        contact: Some("5511999".into()),
        new_id: format!("msg_{provider_id}_{now}"),
        event: Some(StatusEvent {
            id: format!("evt_{provider_id}_{now}"),
            event_type: format!("message.{status}"),
        }),
        now,
    }
}
