//! One conformance suite, run against both backends: every case is a test per backend
//! (`sqlite::case`, `postgres::case`), each on a fresh database.

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

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = super::open_sqlite().await;
                super::suite::$case(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = super::open_postgres().await;
                super::suite::$case(store).await;
            })*
        }
    };
}

conformance!(
    meta_is_set_once,
    stores_and_tokens,
    store_names_are_unique,
    workflow_versions,
    workflow_names_are_unique_among_live_workflows,
    stores_are_isolated,
    pages_follow_the_cursor,
    concurrent_writes_commit_independently,
    events_and_runs_commit_together,
    idempotency_keys_repeat_within_their_window,
    checkpoints_need_the_lease,
    claims_take_due_runs_without_a_live_lease,
    cancel_and_retry_follow_the_status,
    runs_are_listed_newest_first_by_filter,
    conversations_merge_and_stay_in_their_store,
    resources_by_kind_name_and_store,
    soft_deleted_resources_list_apart_and_restore,
    message_statuses_only_move_forward,
    scheduled_calls_are_idempotent_and_fire_once,
    cron_ticks_follow_their_workflow,
    apps_install_and_uninstall_in_one_transaction,
    outgoing_events_commit_with_their_change,
    deliveries_are_leased_retried_and_logged,
    ordered_deliveries_go_one_contact_at_a_time,
    failing_subscriptions_are_disabled,
    emitted_events_are_idempotent,
    message_events_follow_the_status,
    nodes_report_in_and_config_changes_are_counted,
);

mod suite {
    use super::*;

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

    pub async fn meta_is_set_once(s: Arc<dyn Store>) {
        assert_eq!(s.get_meta("k").await.unwrap(), None);
        assert_eq!(s.init_meta("k", "first").await.unwrap(), "first");
        assert_eq!(s.init_meta("k", "second").await.unwrap(), "first");
        assert_eq!(s.get_meta("k").await.unwrap().as_deref(), Some("first"));
        s.ping().await.unwrap();
    }

    pub async fn stores_and_tokens(s: Arc<dyn Store>) {
        let created = s
            .create_store(
                store("st_a", "Alpha"),
                Some(token("tok_a", Some("st_a"), "hash-a")),
            )
            .await
            .unwrap();
        assert_eq!(
            created,
            StoreRecord {
                id: "st_a".into(),
                name: "Alpha".into(),
                created_at: 1_000
            }
        );
        assert_eq!(s.get_store("st_a").await.unwrap(), Some(created));
        assert_eq!(s.get_store("st_nope").await.unwrap(), None);
        let found = s.token_by_hash("hash-a").await.unwrap().unwrap();
        assert_eq!(
            (
                found.id.as_str(),
                found.store_id.as_deref(),
                found.is_admin()
            ),
            ("tok_a", Some("st_a"), false)
        );
        let admin = s
            .create_token(token("tok_admin", None, "hash-admin"))
            .await
            .unwrap();
        assert!(admin.is_admin());
        assert!(matches!(
            s.create_token(token("tok_x", None, "hash-a")).await,
            Err(StoreError::Conflict { .. })
        ));
        with_store(&s, "st_b").await;
        assert!(
            !s.delete_token("st_b", "tok_a").await.unwrap(),
            "another store's token is not deleted"
        );
        assert!(s.delete_token("st_a", "tok_a").await.unwrap());
        assert_eq!(s.token_by_hash("hash-a").await.unwrap(), None);
    }

    pub async fn store_names_are_unique(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        // The store and its token are one transaction: a conflict leaves no token behind.
        let err = s
            .create_store(
                store("st_b", "st_a"),
                Some(token("tok_b", Some("st_b"), "hash-b")),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { field: "name", .. }),
            "{err:?}"
        );
        assert_eq!(s.token_by_hash("hash-b").await.unwrap(), None);
        assert_eq!(s.get_store("st_b").await.unwrap(), None);
    }

    pub async fn workflow_versions(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        let w = s
            .create_workflow(workflow("wf_1", "st_a", "Lead"))
            .await
            .unwrap();
        assert_eq!(
            (w.version, w.active, w.created_at, w.updated_at),
            (1, true, 2_000, 2_000)
        );
        let got = s.get_workflow("st_a", "wf_1").await.unwrap().unwrap();
        assert_eq!(got, w);
        assert_eq!(
            serde_json::to_string(&got.content.definition).unwrap(),
            r#"{"name":"Lead","z":1,"a":[1,2]}"#,
            "key order kept"
        );

        let mut next = content("Lead v2");
        next.definition = json!({"name": "Lead v2"});
        let u = s
            .update_workflow(
                "st_a",
                "wf_1",
                WorkflowUpdate {
                    content: next,
                    active: None,
                    next_tick: None,
                    now: 3_000,
                },
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                u.version,
                u.active,
                u.created_at,
                u.updated_at,
                u.content.name.as_str()
            ),
            (2, true, 2_000, 3_000, "Lead v2")
        );

        let off = s
            .set_workflow_active("st_a", "wf_1", false, None, 4_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((off.version, off.active), (2, false));

        let versions = s
            .list_versions("st_a", "wf_1", &PageRequest::default())
            .await
            .unwrap()
            .unwrap();
        let numbers: Vec<i64> = versions.items.iter().map(|v| v.version).collect();
        assert_eq!(numbers, [1, 2]);
        assert_eq!(
            s.get_version("st_a", "wf_1", 1)
                .await
                .unwrap()
                .unwrap()
                .definition["name"],
            "Lead"
        );
        assert_eq!(s.get_version("st_a", "wf_1", 3).await.unwrap(), None);

        assert!(s.delete_workflow("st_a", "wf_1", 5_000).await.unwrap());
        assert!(!s.delete_workflow("st_a", "wf_1", 5_000).await.unwrap());
        assert_eq!(s.get_workflow("st_a", "wf_1").await.unwrap(), None);
        assert_eq!(
            s.list_versions("st_a", "wf_1", &PageRequest::default())
                .await
                .unwrap(),
            None
        );
        let none = WorkflowUpdate {
            content: content("x"),
            active: None,
            next_tick: None,
            now: 6_000,
        };
        assert_eq!(s.update_workflow("st_a", "wf_1", none).await.unwrap(), None);
        assert!(
            s.list_workflows("st_a", &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }

    pub async fn workflow_names_are_unique_among_live_workflows(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        s.create_workflow(workflow("wf_1", "st_a", "Same"))
            .await
            .unwrap();
        s.create_workflow(workflow("wf_2", "st_b", "Same"))
            .await
            .expect("names are per store");
        let dup = s
            .create_workflow(workflow("wf_3", "st_a", "Same"))
            .await
            .unwrap_err();
        assert!(
            matches!(dup, StoreError::Conflict { field: "name", .. }),
            "{dup:?}"
        );
        assert_eq!(s.get_workflow("st_a", "wf_3").await.unwrap(), None);

        s.create_workflow(workflow("wf_4", "st_a", "Other"))
            .await
            .unwrap();
        let rename = WorkflowUpdate {
            content: content("Same"),
            active: None,
            next_tick: None,
            now: 3_000,
        };
        assert!(matches!(
            s.update_workflow("st_a", "wf_4", rename).await,
            Err(StoreError::Conflict { .. })
        ));
        let unchanged = s.get_workflow("st_a", "wf_4").await.unwrap().unwrap();
        assert_eq!(
            (unchanged.version, unchanged.content.name.as_str()),
            (1, "Other"),
            "a failed update changes nothing"
        );
        assert_eq!(
            s.list_versions("st_a", "wf_4", &PageRequest::default())
                .await
                .unwrap()
                .unwrap()
                .items
                .len(),
            1
        );

        s.delete_workflow("st_a", "wf_1", 4_000).await.unwrap();
        s.create_workflow(workflow("wf_5", "st_a", "Same"))
            .await
            .expect("a deleted workflow's name is free");
    }

    pub async fn stores_are_isolated(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        s.create_workflow(workflow("wf_1", "st_a", "Mine"))
            .await
            .unwrap();
        assert_eq!(s.get_workflow("st_b", "wf_1").await.unwrap(), None);
        assert_eq!(
            s.list_versions("st_b", "wf_1", &PageRequest::default())
                .await
                .unwrap(),
            None
        );
        assert_eq!(s.get_version("st_b", "wf_1", 1).await.unwrap(), None);
        let u = WorkflowUpdate {
            content: content("Stolen"),
            active: Some(false),
            next_tick: None,
            now: 3_000,
        };
        assert_eq!(s.update_workflow("st_b", "wf_1", u).await.unwrap(), None);
        assert_eq!(
            s.set_workflow_active("st_b", "wf_1", false, None, 3_000)
                .await
                .unwrap(),
            None
        );
        assert!(!s.delete_workflow("st_b", "wf_1", 3_000).await.unwrap());
        assert!(
            s.list_workflows("st_b", &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let mine = s.get_workflow("st_a", "wf_1").await.unwrap().unwrap();
        assert_eq!(
            (mine.version, mine.active, mine.content.name.as_str()),
            (1, true, "Mine")
        );
    }

    pub async fn pages_follow_the_cursor(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        for i in 0..5 {
            s.create_workflow(workflow(&format!("wf_{i}"), "st_a", &format!("W{i}")))
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut page = PageRequest {
            limit: 2,
            after: None,
        };
        loop {
            let p = s.list_workflows("st_a", &page).await.unwrap();
            assert!(p.items.len() <= 2);
            seen.extend(p.items.iter().map(|w| w.id.clone()));
            match p.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["wf_0", "wf_1", "wf_2", "wf_3", "wf_4"]);
        let stores = s
            .list_stores(&PageRequest {
                limit: 500,
                after: None,
            })
            .await
            .unwrap();
        assert_eq!((stores.items.len(), stores.next), (1, None));
    }

    pub async fn concurrent_writes_commit_independently(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        // 200 writers at once share batches; the 50 that reuse a name fail alone.
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let s = s.clone();
                let name = if i % 4 == 3 {
                    format!("W{}", i - 1)
                } else {
                    format!("W{i}")
                };
                tokio::spawn(async move {
                    s.create_workflow(workflow(&format!("wf_{i:03}"), "st_a", &name))
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict { .. }) => conflicts += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((ok, conflicts), (150, 50));
        let all = s
            .list_workflows(
                "st_a",
                &PageRequest {
                    limit: 500,
                    after: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(all.items.len(), 150);
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
        if s.get_workflow(store_id, "wf_1").await.unwrap().is_none() {
            s.create_workflow(workflow("wf_1", store_id, "W"))
                .await
                .unwrap();
        }
        let mut st = state(run_id, "running", Vec::new());
        st.next_node = Some(0);
        st.wake_at = Some(10_000);
        st.lease_until = Some(20_000);
        let mut run = new_run(store_id, "wf_1", st);
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

    pub async fn events_and_runs_commit_together(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        s.create_workflow(workflow("wf_1", "st_a", "W"))
            .await
            .unwrap();
        // One run created mid-way (leased), one created completed with its records and a
        // conversation merge, as runs whose steps ran before the acknowledgement are.
        let mut running = state(
            "run_1",
            "running",
            vec![record(0, "a", "completed", json!({"x": 1}))],
        );
        running.next_node = Some(1);
        running.visits = 1;
        running.wake_at = Some(10_050);
        running.lease_until = Some(20_000);
        let mut done = state(
            "run_2",
            "completed",
            vec![
                record(0, "a", "completed", json!({"x": 1})),
                record(1, "b", "completed", json!({"y": 2})),
            ],
        );
        done.visits = 2;
        done.finished_at = Some(10_050);
        done.conversation = Some(ConversationPatch {
            store_id: "st_a".into(),
            phone: "5511999".into(),
            patch: json!({"leadData": {"name": "Ana"}}),
        });
        let runs = vec![
            new_run("st_a", "wf_1", running),
            new_run("st_a", "wf_1", done),
        ];
        let accepted = s
            .accept(event("evt_1", "st_a", None, 10_000), runs)
            .await
            .unwrap();
        assert_eq!(accepted, Acceptance::Accepted);

        let one = s.get_run("st_a", "run_1").await.unwrap().unwrap();
        assert_eq!(
            (
                one.status.as_str(),
                one.next_node,
                one.visits,
                one.wake_at,
                one.created_at,
                one.updated_at,
                one.finished_at
            ),
            ("running", Some(1), 1, Some(10_050), 10_000, 10_050, None),
            "created at the event's time, updated when its steps ran"
        );
        assert_eq!(one.trigger, json!({"eventType": "lead", "n": 1}));
        let two = s.get_run("st_a", "run_2").await.unwrap().unwrap();
        assert_eq!(
            (two.status.as_str(), two.finished_at),
            ("completed", Some(10_050))
        );
        let steps = s.run_steps("run_2").await.unwrap();
        assert_eq!(
            steps,
            vec![
                record(0, "a", "completed", json!({"x": 1})),
                record(1, "b", "completed", json!({"y": 2}))
            ]
        );
        let conversation = s
            .get_conversation("st_a", "5511999")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(conversation.state, json!({"leadData": {"name": "Ana"}}));
        assert_eq!(
            s.get_run("st_b", "run_1").await.unwrap(),
            None,
            "another store sees nothing"
        );

        // A run of a workflow that does not exist fails the whole request: nothing is kept.
        let orphan = new_run("st_a", "wf_missing", state("run_3", "queued", Vec::new()));
        assert!(
            s.accept(event("evt_2", "st_a", None, 11_000), vec![orphan])
                .await
                .is_err()
        );
        assert_eq!(s.get_run("st_a", "run_3").await.unwrap(), None);
    }

    pub async fn idempotency_keys_repeat_within_their_window(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        let first = s
            .accept(event("evt_1", "st_a", Some("k"), 10_000), Vec::new())
            .await
            .unwrap();
        assert_eq!(first, Acceptance::Accepted);
        let again = s
            .accept(event("evt_2", "st_a", Some("k"), 10_500), Vec::new())
            .await
            .unwrap();
        assert_eq!(
            again,
            Acceptance::Replayed {
                request_hash: "hash-of-evt_1".into(),
                response: json!({"eventId": "evt_1"})
            }
        );
        // Keys belong to their store.
        let other = s
            .accept(event("evt_3", "st_b", Some("k"), 10_500), Vec::new())
            .await
            .unwrap();
        assert_eq!(other, Acceptance::Accepted);
        // Past the window the key is free again.
        let later = s
            .accept(event("evt_4", "st_a", Some("k"), 12_000), Vec::new())
            .await
            .unwrap();
        assert_eq!(later, Acceptance::Accepted);
        let repeat = s
            .accept(event("evt_5", "st_a", Some("k"), 12_100), Vec::new())
            .await
            .unwrap();
        assert!(
            matches!(&repeat, Acceptance::Replayed { request_hash, .. } if request_hash == "hash-of-evt_4"),
            "{repeat:?}"
        );
    }

    pub async fn checkpoints_need_the_lease(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        running_run(&s, "st_a", "run_1").await;
        let mut waiting = state(
            "run_1",
            "waiting",
            vec![record(0, "pause", "waiting", json!(null))],
        );
        waiting.next_node = Some(0);
        waiting.visits = 1;
        waiting.wake_at = Some(30_000);
        let mut stranger = waiting.clone();
        stranger.owner = "node_b".into();
        assert!(
            !s.checkpoint(stranger).await.unwrap(),
            "another node's checkpoint is refused"
        );
        assert!(
            s.run_steps("run_1").await.unwrap().is_empty(),
            "and changes nothing"
        );

        assert!(s.checkpoint(waiting).await.unwrap());
        let run = s.get_run("st_a", "run_1").await.unwrap().unwrap();
        assert_eq!(
            (run.status.as_str(), run.wake_at),
            ("waiting", Some(30_000))
        );
        assert_eq!(s.count_waiting().await.unwrap(), 1);

        // The waiting visit goes on: the record of the same seq is replaced, not doubled. The
        // released lease means the old owner's checkpoint is refused now.
        let mut done = state(
            "run_1",
            "completed",
            vec![record(0, "pause", "completed", json!({"resumedAt": "t"}))],
        );
        done.finished_at = Some(31_000);
        assert!(
            !s.checkpoint(done.clone()).await.unwrap(),
            "a released lease is gone"
        );
        let claimed = s
            .claim_runs(lease("node_a", 30_000), 10, false)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(s.checkpoint(done.clone()).await.unwrap());
        let steps = s.run_steps("run_1").await.unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].status, StepStatus::Completed);
        assert_eq!(s.count_waiting().await.unwrap(), 0);
        assert!(
            !s.checkpoint(done).await.unwrap(),
            "a finished run takes no more checkpoints"
        );
    }

    pub async fn claims_take_due_runs_without_a_live_lease(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        // run_1: running, leased by node_a until 20 000, due since 10 000.
        running_run(&s, "st_a", "run_1").await;
        assert!(
            s.claim_runs(lease("node_b", 15_000), 10, false)
                .await
                .unwrap()
                .is_empty(),
            "a live lease is respected"
        );
        let taken = s
            .claim_runs(lease("node_b", 20_001), 10, false)
            .await
            .unwrap();
        assert_eq!(
            taken.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["run_1"],
            "an expired lease is taken over"
        );
        assert!(
            s.claim_runs(lease("node_c", 20_002), 10, false)
                .await
                .unwrap()
                .is_empty(),
            "now node_b holds it"
        );
        let stolen = s
            .claim_runs(lease("node_c", 20_003), 10, true)
            .await
            .unwrap();
        assert_eq!(
            stolen.len(),
            1,
            "steal ignores leases (a lone node restarting)"
        );

        // Not yet due, finished, or beyond the limit: not claimed.
        running_run(&s, "st_a", "run_2").await;
        running_run(&s, "st_a", "run_3").await;
        let mut later = state("run_2", "waiting", Vec::new());
        later.wake_at = Some(99_000);
        assert!(s.checkpoint(later).await.unwrap());
        let mut finished = state("run_3", "completed", Vec::new());
        finished.finished_at = Some(10_100);
        assert!(s.checkpoint(finished).await.unwrap());
        running_run(&s, "st_a", "run_4").await;
        running_run(&s, "st_a", "run_5").await;
        let one = s
            .claim_runs(lease("node_d", 50_000), 1, false)
            .await
            .unwrap();
        assert_eq!(one.len(), 1, "the limit holds");
        let rest: Vec<String> = s
            .claim_runs(lease("node_d", 50_000), 10, false)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut all: Vec<String> = one.into_iter().map(|r| r.id).chain(rest).collect();
        all.sort();
        assert_eq!(all, ["run_1", "run_4", "run_5"]);

        // The holder renews its leases (only its own); a renewed lease is not taken over.
        let ids = vec!["run_1".to_owned(), "run_2".to_owned(), "run_4".to_owned()];
        assert_eq!(
            s.renew_leases(Leased::Runs, lease("node_x", 54_000), ids.clone())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            s.renew_leases(Leased::Runs, lease("node_d", 54_000), ids)
                .await
                .unwrap(),
            2
        );
        let free: Vec<String> = s
            .claim_runs(lease("node_e", 56_000), 10, false)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(free, ["run_5"], "run_1 and run_4 are held until 59 000");
    }

    pub async fn cancel_and_retry_follow_the_status(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        running_run(&s, "st_a", "run_1").await;
        assert_eq!(
            s.cancel_run("st_b", "run_1", 11_000).await.unwrap(),
            None,
            "another store's run is not found"
        );
        let cancelled = s
            .cancel_run("st_a", "run_1", 11_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (cancelled.status.as_str(), cancelled.finished_at),
            ("cancelled", Some(11_000))
        );
        assert_eq!(cancelled.error.as_ref().unwrap()["code"], "cancelled");
        assert!(matches!(
            s.cancel_run("st_a", "run_1", 12_000).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            s.retry_run("st_a", "run_1", lease("node_a", 12_000)).await,
            Err(StoreError::Conflict { .. })
        ));
        let mut refused = state("run_1", "completed", Vec::new());
        refused.finished_at = Some(12_000);
        assert!(
            !s.checkpoint(refused).await.unwrap(),
            "the executing node learns of the cancel"
        );

        running_run(&s, "st_a", "run_2").await;
        let mut failed = state(
            "run_2",
            "failed",
            vec![record(0, "a", "failed", json!(null))],
        );
        failed.next_node = Some(0);
        failed.error = Some(json!({"code": "http_status", "message": "503", "stepId": "a"}));
        failed.finished_at = Some(12_000);
        assert!(s.checkpoint(failed).await.unwrap());
        assert_eq!(
            s.retry_run("st_b", "run_2", lease("node_a", 13_000))
                .await
                .unwrap(),
            None
        );
        let retried = s
            .retry_run("st_a", "run_2", lease("node_a", 13_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                retried.status.as_str(),
                retried.next_node,
                retried.error.clone(),
                retried.finished_at
            ),
            ("queued", Some(0), None, None),
            "queued again at the failed step"
        );
        assert!(
            s.claim_runs(lease("node_b", 14_000), 10, false)
                .await
                .unwrap()
                .is_empty(),
            "leased to the retrying node"
        );
    }

    pub async fn runs_are_listed_newest_first_by_filter(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        s.create_workflow(workflow("wf_1", "st_a", "One"))
            .await
            .unwrap();
        s.create_workflow(workflow("wf_2", "st_a", "Two"))
            .await
            .unwrap();
        s.create_workflow(workflow("wf_3", "st_b", "Three"))
            .await
            .unwrap();
        for (i, (store_id, wf, status)) in [
            ("st_a", "wf_1", "completed"),
            ("st_a", "wf_2", "failed"),
            ("st_a", "wf_1", "waiting"),
            ("st_b", "wf_3", "completed"),
            ("st_a", "wf_1", "completed"),
        ]
        .into_iter()
        .enumerate()
        {
            let run = new_run(store_id, wf, state(&format!("run_{i}"), status, Vec::new()));
            let e = event(&format!("evt_{i}"), store_id, None, 10_000 + i as i64 * 100);
            s.accept(e, vec![run]).await.unwrap();
        }
        let ids = |filter: RunFilter| {
            let s = s.clone();
            async move {
                let page = PageRequest {
                    limit: 10,
                    after: None,
                };
                s.list_runs("st_a", &filter, &page)
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|r| r.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            ids(RunFilter::default()).await,
            ["run_4", "run_2", "run_1", "run_0"]
        );
        let by_wf = RunFilter {
            workflow_id: Some("wf_1".into()),
            ..Default::default()
        };
        assert_eq!(ids(by_wf).await, ["run_4", "run_2", "run_0"]);
        let by_status = RunFilter {
            status: Some(RunStatus::Completed),
            ..Default::default()
        };
        assert_eq!(ids(by_status).await, ["run_4", "run_0"]);
        let window = RunFilter {
            since: Some(10_100),
            until: Some(10_400),
            ..Default::default()
        };
        assert_eq!(ids(window).await, ["run_2", "run_1"]);
        let page = s
            .list_runs(
                "st_a",
                &RunFilter::default(),
                &PageRequest {
                    limit: 3,
                    after: None,
                },
            )
            .await
            .unwrap();
        let next = page.next.clone().expect("a next page");
        let rest = s
            .list_runs(
                "st_a",
                &RunFilter::default(),
                &PageRequest {
                    limit: 3,
                    after: Some(next),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            rest.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["run_0"]
        );
    }

    pub async fn conversations_merge_and_stay_in_their_store(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        let patch = |store_id: &str, patch: serde_json::Value| ConversationPatch {
            store_id: store_id.into(),
            phone: "5511".into(),
            patch,
        };
        s.merge_conversation(
            patch("st_a", json!({"a": 1, "nested": {"x": 1, "y": 2}})),
            1_000,
        )
        .await
        .unwrap();
        let merged = s
            .merge_conversation(patch("st_a", json!({"b": 2, "nested": {"y": null}})), 2_000)
            .await
            .unwrap();
        assert_eq!(
            merged.state,
            json!({"a": 1, "nested": {"x": 1}, "b": 2}),
            "RFC 7396: null removes"
        );
        assert_eq!(
            s.get_conversation("st_a", "5511")
                .await
                .unwrap()
                .unwrap()
                .updated_at,
            2_000
        );
        assert_eq!(s.get_conversation("st_b", "5511").await.unwrap(), None);
        assert!(!s.delete_conversation("st_b", "5511").await.unwrap());
        assert!(s.delete_conversation("st_a", "5511").await.unwrap());
        assert_eq!(s.get_conversation("st_a", "5511").await.unwrap(), None);

        assert_eq!(s.inbound_secret("st_a").await.unwrap(), None);
        s.set_inbound_secret("st_a", "v1.sealed").await.unwrap();
        assert_eq!(
            s.inbound_secret("st_a").await.unwrap().as_deref(),
            Some("v1.sealed")
        );
        assert_eq!(s.inbound_secret("st_b").await.unwrap(), None);
    }

    fn resource(id: &str, store_id: &str, kind: ResourceKind, name: &str) -> ResourceRecord {
        ResourceRecord::new(
            store_id,
            kind,
            id.into(),
            name.into(),
            json!({"name": name, "z": 1, "a": 2}),
            3_000,
        )
    }

    pub async fn resources_by_kind_name_and_store(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        let created = s
            .create_resource(resource("con_1", "st_a", ResourceKind::Connector, "crm"))
            .await
            .unwrap();
        assert_eq!(created.created_at, 3_000);
        // The same name in another kind or another store is free; in the same kind it is taken.
        s.create_resource(resource("wh_1", "st_a", ResourceKind::Webhook, "crm"))
            .await
            .unwrap();
        s.create_resource(resource("con_2", "st_b", ResourceKind::Connector, "crm"))
            .await
            .unwrap();
        let dup = s
            .create_resource(resource("con_3", "st_a", ResourceKind::Connector, "crm"))
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");

        let got = s
            .get_resource("st_a", ResourceKind::Connector, "con_1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, created);
        assert_eq!(
            got.body.to_string(),
            r#"{"name":"crm","z":1,"a":2}"#,
            "key order kept"
        );
        assert!(
            s.get_resource("st_b", ResourceKind::Connector, "con_1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.get_resource("st_a", ResourceKind::Webhook, "con_1")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.resource_by_name("st_b", ResourceKind::Connector, "crm")
                .await
                .unwrap()
                .unwrap()
                .id,
            "con_2"
        );

        let mut renamed = resource("con_1", "st_a", ResourceKind::Connector, "crm2");
        renamed.updated_at = 4_000;
        let updated = s.update_resource(renamed.clone()).await.unwrap().unwrap();
        assert_eq!(
            (
                updated.name.as_str(),
                updated.created_at,
                updated.updated_at
            ),
            ("crm2", 3_000, 4_000)
        );
        assert!(
            s.resource_by_name("st_a", ResourceKind::Connector, "crm")
                .await
                .unwrap()
                .is_none()
        );
        s.create_resource(resource("con_4", "st_a", ResourceKind::Connector, "crm"))
            .await
            .unwrap();
        let clash = s
            .update_resource(resource("con_4", "st_a", ResourceKind::Connector, "crm2"))
            .await;
        assert!(
            matches!(clash, Err(StoreError::Conflict { .. })),
            "{clash:?}"
        );
        let elsewhere = ResourceRecord {
            store_id: "st_b".into(),
            ..renamed
        };
        assert!(s.update_resource(elsewhere).await.unwrap().is_none());

        // Connectors are deleted for good.
        assert!(
            !s.delete_resource("st_b", ResourceKind::Connector, "con_1", 5_000)
                .await
                .unwrap()
        );
        assert!(
            s.delete_resource("st_a", ResourceKind::Connector, "con_1", 5_000)
                .await
                .unwrap()
        );
        assert!(
            !s.delete_resource("st_a", ResourceKind::Connector, "con_1", 5_000)
                .await
                .unwrap()
        );
        let page = PageRequest {
            limit: 10,
            after: None,
        };
        assert!(
            s.list_resources("st_a", ResourceKind::Connector, true, &page)
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            s.restore_resource("st_a", ResourceKind::Connector, "con_1", 6_000)
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn soft_deleted_resources_list_apart_and_restore(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        for i in 1..=3 {
            s.create_resource(resource(
                &format!("wh_{i}"),
                "st_a",
                ResourceKind::Webhook,
                &format!("hook {i}"),
            ))
            .await
            .unwrap();
        }
        let page = PageRequest {
            limit: 2,
            after: None,
        };
        let first = s
            .list_resources("st_a", ResourceKind::Webhook, false, &page)
            .await
            .unwrap();
        assert_eq!(
            first
                .items
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["wh_1", "wh_2"]
        );
        let rest = PageRequest {
            limit: 2,
            after: first.next.clone(),
        };
        let second = s
            .list_resources("st_a", ResourceKind::Webhook, false, &rest)
            .await
            .unwrap();
        assert_eq!(
            second
                .items
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["wh_3"]
        );
        assert_eq!(second.next, None);

        assert!(
            s.delete_resource("st_a", ResourceKind::Webhook, "wh_2", 5_000)
                .await
                .unwrap()
        );
        assert!(
            s.get_resource("st_a", ResourceKind::Webhook, "wh_2")
                .await
                .unwrap()
                .is_none()
        );
        let all = PageRequest {
            limit: 10,
            after: None,
        };
        let live = s
            .list_resources("st_a", ResourceKind::Webhook, false, &all)
            .await
            .unwrap();
        assert_eq!(live.items.len(), 2);
        let deleted = s
            .list_resources("st_a", ResourceKind::Webhook, true, &all)
            .await
            .unwrap();
        assert_eq!(deleted.items.len(), 1);
        assert_eq!(deleted.items[0].deleted_at, Some(5_000));

        // The name is free while deleted; restoring while it is taken is a conflict.
        s.create_resource(resource("wh_9", "st_a", ResourceKind::Webhook, "hook 2"))
            .await
            .unwrap();
        let clash = s
            .restore_resource("st_a", ResourceKind::Webhook, "wh_2", 6_000)
            .await;
        assert!(
            matches!(clash, Err(StoreError::Conflict { .. })),
            "{clash:?}"
        );
        assert!(
            s.delete_resource("st_a", ResourceKind::Webhook, "wh_9", 6_000)
                .await
                .unwrap()
        );
        let restored = s
            .restore_resource("st_a", ResourceKind::Webhook, "wh_2", 7_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((restored.deleted_at, restored.updated_at), (None, 7_000));
        assert!(
            s.get_resource("st_a", ResourceKind::Webhook, "wh_2")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            s.restore_resource("st_a", ResourceKind::Webhook, "wh_2", 8_000)
                .await
                .unwrap()
                .is_none()
        );
    }

    fn message(
        id: &str,
        store_id: &str,
        provider_id: &str,
        status: &str,
        rank: i64,
    ) -> MessageRecord {
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

    fn report(
        store_id: &str,
        provider_id: &str,
        status: &str,
        rank: i64,
        now: i64,
    ) -> StatusReport {
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

    pub async fn message_statuses_only_move_forward(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        let sent = s
            .record_message(message("msg_1", "st_a", "wamid.1", "accepted", 0), None)
            .await
            .unwrap();
        assert_eq!(sent.status, MessageStatus::Accepted);

        let read = s
            .message_status(report("st_a", "wamid.1", "read", 3, 20))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.id.as_str(), read.status.as_str(), read.updated_at),
            ("msg_1", "read", 20)
        );
        // A late "delivered" does not move a read message back, and records no event.
        assert!(
            s.message_status(report("st_a", "wamid.1", "delivered", 2, 30))
                .await
                .unwrap()
                .is_none()
        );
        // Another store's report on the same provider id is its own record.
        let other = s
            .message_status(report("st_b", "wamid.1", "sent", 1, 40))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (other.store_id.as_str(), other.run_id.as_deref()),
            ("st_b", None)
        );

        // A report that arrives before the send was recorded creates the record; the send completes it.
        let early = s
            .message_status(report("st_a", "wamid.2", "delivered", 2, 50))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(early.content, json!({}));
        let completed = s
            .record_message(message("msg_2", "st_a", "wamid.2", "accepted", 0), None)
            .await
            .unwrap();
        assert_eq!(completed.id, early.id);
        assert_eq!(completed.status, MessageStatus::Delivered);
        assert_eq!(completed.run_id.as_deref(), Some("run_1"));
        assert_eq!(completed.content["text"], "hi");

        // An inbound message travels with its event, once.
        let mut inbound = message("msg_in", "st_a", "wamid.in", "received", 0);
        inbound.direction = "inbound".into();
        let mut e = event("evt_in", "st_a", None, 60);
        e.message = Some(inbound.clone());
        s.accept(e, Vec::new()).await.unwrap();
        let mut again = event("evt_in2", "st_a", None, 61);
        again.message = Some(MessageRecord {
            id: "msg_in2".into(),
            ..inbound
        });
        s.accept(again, Vec::new()).await.unwrap();

        let filter = MessageFilter {
            contact: Some("5511999".into()),
            channel: None,
        };
        let all = s
            .list_messages("st_a", &filter, &PageRequest::default())
            .await
            .unwrap();
        let ids: Vec<&str> = all.items.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["msg_1", "msg_in", early.id.as_str()]);
        let page = s
            .list_messages(
                "st_a",
                &filter,
                &PageRequest {
                    limit: 1,
                    after: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(page.next.as_deref(), Some("msg_1"));
        let none = MessageFilter {
            contact: Some("000".into()),
            channel: None,
        };
        assert!(
            s.list_messages("st_a", &none, &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(
            s.list_messages("st_b", &MessageFilter::default(), &PageRequest::default())
                .await
                .unwrap()
                .items
                .len(),
            1
        );
    }

    fn call(id: &str, key: &str, due_at: i64) -> NewCall {
        NewCall {
            id: id.into(),
            store_id: "st_a".into(),
            workflow_id: "wf_1".into(),
            due_at,
            inputs: json!({"foo": "Ana"}),
            origin_key: key.into(),
            origin_run_id: "run_origin".into(),
            origin_step_id: "later".into(),
            now: 5_000,
        }
    }

    fn settle(id: &str, due_at: i64, next: Option<i64>, run_id: Option<&str>) -> ScheduleSettle {
        ScheduleSettle {
            id: id.into(),
            due_at,
            next,
            status: ScheduleStatus::Fired,
            run_id: run_id.map(Into::into),
            error: None,
            now: 20_000,
        }
    }

    async fn pending(s: &Arc<dyn Store>) -> Vec<ScheduleRecord> {
        s.list_schedules("st_a", &ScheduleFilter::default(), &PageRequest::default())
            .await
            .unwrap()
            .items
    }

    pub async fn scheduled_calls_are_idempotent_and_fire_once(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        s.create_workflow(workflow("wf_1", "st_a", "W"))
            .await
            .unwrap();
        let first = s
            .schedule_call(call("sch_1", "run_origin:later:1", 10_000))
            .await
            .unwrap();
        assert_eq!(
            (first.kind.as_str(), first.status.as_str()),
            ("call", "pending")
        );
        assert_eq!(first.inputs, Some(json!({"foo": "Ana"})));
        // The same step visit again (after a crash) finds its call.
        let again = s
            .schedule_call(call("sch_2", "run_origin:later:1", 99_000))
            .await
            .unwrap();
        assert_eq!((again.id.as_str(), again.due_at), ("sch_1", 10_000));
        s.schedule_call(call("sch_3", "run_origin:later:2", 30_000))
            .await
            .unwrap();
        assert_eq!(pending(&s).await.len(), 2);
        assert!(
            s.get_schedule("st_b", "sch_1").await.unwrap().is_none(),
            "stores are isolated"
        );

        let due = s
            .claim_schedules(lease("node_a", 15_000), 10, false)
            .await
            .unwrap();
        assert_eq!(
            due.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["sch_1"]
        );
        // Leased: another node does not fire it too, until the lease lapses; a lone node
        // restarting on SQLite takes it at once.
        let claim = |owner: &str, now: i64, steal: bool| {
            let s = s.clone();
            let lease = lease(owner, now);
            async move { s.claim_schedules(lease, 10, steal).await.unwrap().len() }
        };
        assert_eq!(claim("node_b", 16_000, false).await, 0);
        assert_eq!(claim("node_b", 16_000, true).await, 1);
        assert_eq!(
            claim("node_c", 22_000, false).await,
            1,
            "node_b's lease lapsed"
        );

        // Two nodes fire it at once: one event and run are committed, the other changes nothing.
        let fire = |event_id: &str, run_id: &str| {
            let mut e = event(event_id, "st_a", None, 20_000);
            e.schedule = Some(settle("sch_1", 10_000, None, Some(run_id)));
            let mut run = new_run("st_a", "wf_1", state(run_id, "queued", Vec::new()));
            run.event_id = Some(event_id.into());
            (e, run)
        };
        let (e1, r1) = fire("evt_a", "run_a");
        let (e2, r2) = fire("evt_b", "run_b");
        let (a, b) = tokio::join!(s.accept(e1, vec![r1]), s.accept(e2, vec![r2]));
        let won: Vec<bool> = [&a, &b].iter().map(|r| r.is_ok()).collect();
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{a:?} {b:?}");
        let loser = if won[0] { b } else { a };
        assert!(matches!(
            loser,
            Err(StoreError::Conflict {
                field: "schedule",
                ..
            })
        ));
        let winner = if won[0] { "run_a" } else { "run_b" };
        let fired = s.get_schedule("st_a", "sch_1").await.unwrap().unwrap();
        assert_eq!(
            (
                fired.status.as_str(),
                fired.run_id.as_deref(),
                fired.fired_at
            ),
            ("fired", Some(winner), Some(20_000))
        );
        let loser_run = if won[0] { "run_b" } else { "run_a" };
        assert!(
            s.get_run("st_a", loser_run).await.unwrap().is_none(),
            "nothing of the loser"
        );
        assert!(
            s.claim_schedules(lease("node_a", 50_000), 10, false)
                .await
                .unwrap()
                .iter()
                .all(|d| d.id != "sch_1")
        );

        // Cancelling applies only while pending at that due time.
        assert!(
            !s.settle_schedule(settle("sch_3", 29_999, None, None))
                .await
                .unwrap()
        );
        let cancel = ScheduleSettle {
            status: ScheduleStatus::Cancelled,
            ..settle("sch_3", 30_000, None, None)
        };
        assert!(s.settle_schedule(cancel.clone()).await.unwrap());
        assert!(!s.settle_schedule(cancel).await.unwrap());
        assert!(pending(&s).await.is_empty());
        let filter = ScheduleFilter {
            status: Some(ScheduleStatus::Cancelled),
            workflow_id: Some("wf_1".into()),
        };
        let listed = s
            .list_schedules("st_a", &filter, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(listed.items[0].id, "sch_3");

        // Deleting the workflow cancels its pending calls.
        s.schedule_call(call("sch_4", "run_origin:later:3", 40_000))
            .await
            .unwrap();
        assert!(s.delete_workflow("st_a", "wf_1", 21_000).await.unwrap());
        let orphan = s.get_schedule("st_a", "sch_4").await.unwrap().unwrap();
        assert_eq!(orphan.status, ScheduleStatus::Cancelled);
        assert_eq!(orphan.error.unwrap()["code"], "cancelled");
    }

    pub async fn cron_ticks_follow_their_workflow(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        let mut w = workflow("wf_1", "st_a", "W");
        w.next_tick = Some(60_000);
        s.create_workflow(w).await.unwrap();
        let tick = pending(&s).await.pop().unwrap();
        assert_eq!(
            (tick.kind.as_str(), tick.due_at, tick.workflow_id.as_str()),
            ("cron", 60_000, "wf_1")
        );
        let inactive = NewWorkflow {
            active: false,
            next_tick: Some(60_000),
            ..workflow("wf_2", "st_a", "X")
        };
        s.create_workflow(inactive).await.unwrap();
        assert_eq!(
            pending(&s).await.len(),
            1,
            "an inactive workflow has no tick"
        );

        // A tick is claimed by one node, fires and moves on, its lease released for the next
        // tick; the same due time cannot fire again.
        let ids = |v: Vec<ScheduleRecord>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
        let claimed = s.claim_schedules(lease("node_a", 60_000), 10, false).await;
        assert_eq!(ids(claimed.unwrap()), [tick.id.as_str()]);
        assert!(
            s.claim_schedules(lease("node_b", 60_000), 10, false)
                .await
                .unwrap()
                .is_empty(),
            "leased to node_a"
        );
        assert!(
            s.settle_schedule(settle(&tick.id, 60_000, Some(120_000), Some("run_x")))
                .await
                .unwrap()
        );
        assert!(
            !s.settle_schedule(settle(&tick.id, 60_000, Some(120_000), Some("run_y")))
                .await
                .unwrap()
        );
        let claimed = s.claim_schedules(lease("node_b", 120_000), 10, false).await;
        assert_eq!(
            ids(claimed.unwrap()),
            [tick.id.as_str()],
            "the next tick is free"
        );
        let moved = s.get_schedule("st_a", &tick.id).await.unwrap().unwrap();
        assert_eq!(
            (moved.status.as_str(), moved.due_at, moved.run_id.as_deref()),
            ("pending", 120_000, Some("run_x"))
        );

        // An update moves a tick that is not due yet; one that is due stays and fires.
        let update = |next: Option<i64>, now: i64| WorkflowUpdate {
            content: content("W"),
            active: None,
            next_tick: next,
            now,
        };
        s.update_workflow("st_a", "wf_1", update(Some(100_000), 90_000))
            .await
            .unwrap();
        assert_eq!(pending(&s).await[0].due_at, 100_000);
        s.update_workflow("st_a", "wf_1", update(Some(180_000), 150_000))
            .await
            .unwrap();
        assert_eq!(
            pending(&s).await[0].due_at,
            100_000,
            "due already: it fires"
        );
        // No longer a schedule: the tick goes.
        s.update_workflow("st_a", "wf_1", update(None, 150_000))
            .await
            .unwrap();
        assert!(pending(&s).await.is_empty());

        // Deactivation removes it, activation brings it back, deletion removes it for good.
        s.update_workflow("st_a", "wf_1", update(Some(200_000), 150_000))
            .await
            .unwrap();
        s.set_workflow_active("st_a", "wf_1", false, Some(200_000), 160_000)
            .await
            .unwrap();
        assert!(pending(&s).await.is_empty());
        s.set_workflow_active("st_a", "wf_1", true, Some(240_000), 170_000)
            .await
            .unwrap();
        assert_eq!(pending(&s).await[0].due_at, 240_000);
        s.delete_workflow("st_a", "wf_1", 180_000).await.unwrap();
        assert!(pending(&s).await.is_empty());
    }

    pub async fn apps_install_and_uninstall_in_one_transaction(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        s.create_workflow(workflow("wf_taken", "st_a", "Taken"))
            .await
            .unwrap();
        let app = |version: &str, now: i64| {
            ResourceRecord::new(
                "st_a",
                ResourceKind::App,
                "app_1".into(),
                "demo".into(),
                json!({"version": version}),
                now,
            )
        };
        // A workflow name taken outside the app: nothing is installed.
        let clash = AppInstall {
            app: app("1", 2_000),
            create: vec![
                workflow("wf_a", "st_a", "A"),
                workflow("wf_b", "st_a", "Taken"),
            ],
            update: Vec::new(),
            delete: Vec::new(),
        };
        assert!(matches!(
            s.install_app(clash).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(s.get_workflow("st_a", "wf_a").await.unwrap().is_none());
        assert!(
            s.resource_by_name("st_a", ResourceKind::App, "demo")
                .await
                .unwrap()
                .is_none()
        );

        let install = AppInstall {
            app: app("1", 2_000),
            create: vec![workflow("wf_a", "st_a", "A"), workflow("wf_b", "st_a", "B")],
            update: Vec::new(),
            delete: Vec::new(),
        };
        s.install_app(install).await.unwrap();
        // The upgrade updates A in place and drops B.
        let upgrade = AppInstall {
            app: app("2", 3_000),
            create: Vec::new(),
            update: vec![(
                "wf_a".into(),
                WorkflowUpdate {
                    content: content("A"),
                    active: None,
                    next_tick: None,
                    now: 3_000,
                },
            )],
            delete: vec!["wf_b".into()],
        };
        let record = s.install_app(upgrade).await.unwrap();
        assert_eq!(
            (
                record.body["version"].as_str(),
                record.created_at,
                record.updated_at
            ),
            (Some("2"), 2_000, 3_000)
        );
        assert_eq!(
            s.get_workflow("st_a", "wf_a")
                .await
                .unwrap()
                .unwrap()
                .version,
            2
        );
        assert!(s.get_workflow("st_a", "wf_b").await.unwrap().is_none());

        assert!(
            s.uninstall_app("st_a", "app_1", vec!["wf_a".into()], 4_000)
                .await
                .unwrap()
        );
        assert!(s.get_workflow("st_a", "wf_a").await.unwrap().is_none());
        assert!(
            !s.uninstall_app("st_a", "app_1", vec![], 5_000)
                .await
                .unwrap()
        );
        assert!(s.get_workflow("st_a", "wf_taken").await.unwrap().is_some());
    }

    fn subscription(
        id: &str,
        store_id: &str,
        events: &[&str],
        ordered: bool,
    ) -> SubscriptionRecord {
        SubscriptionRecord {
            id: id.into(),
            store_id: store_id.into(),
            url: format!("http://127.0.0.1:9/{id}"),
            description: None,
            events: events.iter().map(|e| e.to_string()).collect(),
            ordered,
            active: true,
            secret: format!("sealed-{id}"),
            previous_secret: None,
            previous_until: None,
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
            created_at: 1_000,
            updated_at: 1_000,
        }
    }

    fn attempt(n: i64, status: Option<i64>, at: i64) -> AttemptRecord {
        AttemptRecord {
            attempt: n,
            started_at: at,
            duration_ms: 5,
            status,
            response: status.map(|s| format!("status {s}")),
            error: status.filter(|s| *s >= 300).map(|s| format!("HTTP {s}")),
            manual: false,
        }
    }

    fn outcome(
        job: &DeliveryJob,
        owner: &str,
        succeeded: bool,
        retry_at: Option<i64>,
        now: i64,
    ) -> AttemptOutcome {
        AttemptOutcome {
            delivery_id: job.delivery.id.clone(),
            owner: owner.into(),
            attempt: attempt(
                job.delivery.attempts + 1,
                Some(if succeeded { 200 } else { 500 }),
                now,
            ),
            succeeded,
            retry_at,
            gone: false,
            disable_after: 1_000_000,
            now,
        }
    }

    fn emitted(store_id: &str, event: &str, contact: Option<&str>, now: i64) -> outbox::Outgoing {
        let mut e = outbox::Outgoing::new(
            store_id,
            event,
            json!({"phoneNumber": contact}),
            contact.map(Into::into),
            now,
        );
        e.origin_key = Some(format!("origin-{}", e.id));
        e
    }

    pub async fn outgoing_events_commit_with_their_change(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        with_store(&s, "st_b").await;
        // Nothing is subscribed yet: a workflow and a run publish nothing.
        s.create_workflow(workflow("wf_1", "st_a", "W"))
            .await
            .unwrap();
        s.create_subscription(subscription("sub_runs", "st_a", &["run.*"], false))
            .await
            .unwrap();
        s.create_subscription(subscription("sub_all", "st_a", &["*"], false))
            .await
            .unwrap();
        s.create_subscription(subscription("sub_b", "st_b", &["*"], false))
            .await
            .unwrap();
        let mut off = subscription("sub_off", "st_a", &["*"], false);
        off.active = false;
        s.create_subscription(off).await.unwrap();
        assert!(
            s.claim_deliveries(lease("w", 10_000), 100, false)
                .await
                .unwrap()
                .is_empty()
        );
        // An event whose run completes at once: run.started and run.completed, to both of st_a's
        // active subscriptions; another store's subscription and the inactive one get nothing.
        let mut done = state(
            "run_1",
            "completed",
            vec![record(0, "s1", "completed", json!({"ok": true}))],
        );
        done.finished_at = Some(10_050);
        s.accept(
            event("evt_1", "st_a", None, 10_000),
            vec![new_run("st_a", "wf_1", done)],
        )
        .await
        .unwrap();
        let jobs = s
            .claim_deliveries(lease("w", 10_000), 100, false)
            .await
            .unwrap();
        let mut got: Vec<(String, String)> = jobs
            .iter()
            .map(|j| (j.delivery.subscription_id.clone(), j.delivery.event.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("sub_all".into(), "run.completed".into()),
                ("sub_all".into(), "run.started".into()),
                ("sub_runs".into(), "run.completed".into()),
                ("sub_runs".into(), "run.started".into())
            ]
        );
        let completed = jobs
            .iter()
            .find(|j| j.delivery.event == "run.completed")
            .unwrap();
        let data: serde_json::Value = serde_json::from_str(&completed.data).unwrap();
        assert_eq!(data["id"], "run_1");
        assert_eq!(data["workflowId"], "wf_1");
        assert_eq!(data["status"], "completed");
        assert_eq!(
            completed.url,
            "http://127.0.0.1:9/sub_all".replace("sub_all", &completed.delivery.subscription_id)
        );
        assert_eq!(
            completed.secrets,
            [format!("sealed-{}", completed.delivery.subscription_id)]
        );
        // Both subscriptions get the same event id (webhook-id).
        let ids: std::collections::HashSet<&str> = jobs
            .iter()
            .filter(|j| j.delivery.event == "run.completed")
            .map(|j| j.delivery.event_id.as_str())
            .collect();
        assert_eq!(ids.len(), 1);
        // A change that fails writes no event: a workflow name taken.
        assert!(
            s.create_workflow(workflow("wf_2", "st_a", "W"))
                .await
                .is_err()
        );
        s.merge_conversation(
            ConversationPatch {
                store_id: "st_a".into(),
                phone: "5511".into(),
                patch: json!({"a": 1}),
            },
            11_000,
        )
        .await
        .unwrap();
        s.delete_workflow("st_a", "wf_1", 11_000).await.unwrap();
        let jobs = s
            .claim_deliveries(lease("w", 11_000), 100, false)
            .await
            .unwrap();
        let mut got: Vec<&str> = jobs
            .iter()
            .filter(|j| j.delivery.subscription_id == "sub_all")
            .map(|j| j.delivery.event.as_str())
            .collect();
        got.sort();
        assert_eq!(got, ["conversation.updated", "workflow.deleted"]);
        assert!(
            jobs.iter().all(|j| j.delivery.subscription_id == "sub_all"),
            "run.* does not match them"
        );
        // A deleted subscription's pending deliveries are cancelled.
        s.emit_event(emitted("st_a", "lead.created", None, 12_000))
            .await
            .unwrap();
        assert!(
            s.delete_subscription("st_a", "sub_all", 12_000)
                .await
                .unwrap()
        );
        assert!(
            s.claim_deliveries(lease("w", 12_000), 100, false)
                .await
                .unwrap()
                .is_empty()
        );
        let cancelled = s
            .list_deliveries(
                "st_a",
                "sub_all",
                &DeliveryFilter {
                    status: Some(DeliveryStatus::Cancelled),
                    event: None,
                },
                &PageRequest::default(),
            )
            .await
            .unwrap();
        // Everything still pending: the four claimed and never finished, and the new one.
        assert_eq!(cancelled.items.len(), 5);
        assert_eq!(cancelled.items[0].event, "lead.created", "newest first");
        assert!(
            s.get_subscription("st_a", "sub_all")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.get_subscription("st_b", "sub_runs")
                .await
                .unwrap()
                .is_none(),
            "stores are isolated"
        );
    }

    pub async fn deliveries_are_leased_retried_and_logged(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        s.create_subscription(subscription("sub_1", "st_a", &["lead.created"], false))
            .await
            .unwrap();
        s.emit_event(emitted("st_a", "lead.created", None, 1_000))
            .await
            .unwrap();
        let jobs = s
            .claim_deliveries(lease("w1", 1_000), 10, false)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1);
        // Leased: another worker gets nothing until the lease runs out.
        assert!(
            s.claim_deliveries(lease("w2", 2_000), 10, false)
                .await
                .unwrap()
                .is_empty()
        );
        // Only the holder of the lease records the attempt.
        assert!(
            !s.finish_attempt(outcome(&jobs[0], "w2", false, Some(3_000), 2_000))
                .await
                .unwrap()
        );
        assert!(
            s.finish_attempt(outcome(&jobs[0], "w1", false, Some(3_000), 2_000))
                .await
                .unwrap()
        );
        assert!(
            s.claim_deliveries(lease("w1", 2_500), 10, false)
                .await
                .unwrap()
                .is_empty(),
            "not due yet"
        );
        let again = s
            .claim_deliveries(lease("w2", 3_000), 10, false)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].delivery.attempts, 1);
        assert!(
            s.finish_attempt(outcome(&again[0], "w2", true, None, 3_100))
                .await
                .unwrap()
        );
        let d = s
            .get_delivery("st_a", &again[0].delivery.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (d.status.as_str(), d.attempts, d.delivered_at, d.last_status),
            ("succeeded", 2, Some(3_100), Some(200))
        );
        let log = s.delivery_attempts(&d.id).await.unwrap();
        assert_eq!(
            log.iter().map(|a| a.status).collect::<Vec<_>>(),
            [Some(500), Some(200)]
        );
        assert!(s.get_delivery("st_b", &d.id).await.unwrap().is_none());
        // A manual retry of a delivered one: one attempt, and failing it leaves it succeeded.
        let retried = s
            .retry_delivery("st_a", &d.id, 4_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((retried.status.as_str(), retried.manual), ("pending", true));
        let job = s
            .claim_deliveries(lease("w1", 4_000), 10, false)
            .await
            .unwrap()
            .remove(0);
        assert!(job.delivery.manual);
        assert!(
            s.finish_attempt(outcome(&job, "w1", false, None, 4_100))
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_delivery("st_a", &d.id).await.unwrap().unwrap().status,
            DeliveryStatus::Succeeded
        );
        // Exhausted → failed; recover queues one manual attempt of each failed one in the window.
        s.emit_event(emitted("st_a", "lead.created", None, 5_000))
            .await
            .unwrap();
        let job = s
            .claim_deliveries(lease("w1", 5_000), 10, false)
            .await
            .unwrap()
            .remove(0);
        assert!(
            s.finish_attempt(outcome(&job, "w1", false, None, 5_100))
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_delivery("st_a", &job.delivery.id)
                .await
                .unwrap()
                .unwrap()
                .status,
            DeliveryStatus::Failed
        );
        assert_eq!(
            s.recover_deliveries("st_a", "sub_1", 6_000, None, 7_000)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            s.recover_deliveries("st_a", "sub_1", 5_000, Some(6_000), 7_000)
                .await
                .unwrap(),
            1
        );
        let job = s
            .claim_deliveries(lease("w1", 7_000), 10, false)
            .await
            .unwrap()
            .remove(0);
        assert!(job.delivery.manual);
        // A stale lease is stolen only when asked (a lone node restarting).
        assert!(
            s.claim_deliveries(lease("w9", 7_100), 10, false)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.claim_deliveries(lease("w9", 7_100), 10, true)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    pub async fn ordered_deliveries_go_one_contact_at_a_time(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        s.create_subscription(subscription("sub_o", "st_a", &["lead.step"], true))
            .await
            .unwrap();
        s.create_subscription(subscription("sub_u", "st_a", &["lead.step"], false))
            .await
            .unwrap();
        for n in 0..3 {
            s.emit_event(emitted("st_a", "lead.step", Some("5511"), 1_000 + n))
                .await
                .unwrap();
        }
        s.emit_event(emitted("st_a", "lead.step", Some("5522"), 1_010))
            .await
            .unwrap();
        let jobs = s
            .claim_deliveries(lease("w", 2_000), 100, false)
            .await
            .unwrap();
        let ordered: Vec<&DeliveryJob> = jobs
            .iter()
            .filter(|j| j.delivery.subscription_id == "sub_o")
            .collect();
        assert_eq!(ordered.len(), 2, "the head of each contact only");
        assert_eq!(
            jobs.iter()
                .filter(|j| j.delivery.subscription_id == "sub_u")
                .count(),
            4,
            "unordered: all"
        );
        let head = ordered.iter().find(|j| j.data.contains("5511")).unwrap();
        // The head fails: the contact's later deliveries stay held while it is retried.
        assert!(
            s.finish_attempt(outcome(head, "w", false, Some(3_000), 2_100))
                .await
                .unwrap()
        );
        assert!(
            s.claim_deliveries(lease("w", 2_500), 100, false)
                .await
                .unwrap()
                .is_empty()
        );
        let retry = s
            .claim_deliveries(lease("w", 3_000), 100, false)
            .await
            .unwrap();
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].delivery.id, head.delivery.id);
        assert!(
            s.finish_attempt(outcome(&retry[0], "w", true, None, 3_100))
                .await
                .unwrap()
        );
        let next = s
            .claim_deliveries(lease("w", 3_200), 100, false)
            .await
            .unwrap();
        assert_eq!(next.len(), 1, "the second of 5511 now");
        assert!(next[0].delivery.event_id > head.delivery.event_id);
        // A delivery that failed for good releases the ones after it.
        assert!(
            s.finish_attempt(outcome(&next[0], "w", false, None, 3_300))
                .await
                .unwrap()
        );
        assert_eq!(
            s.claim_deliveries(lease("w", 3_400), 100, false)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    pub async fn failing_subscriptions_are_disabled(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        s.create_subscription(subscription("sub_f", "st_a", &["lead.created"], false))
            .await
            .unwrap();
        s.create_subscription(subscription(
            "sub_w",
            "st_a",
            &["subscription.disabled"],
            false,
        ))
        .await
        .unwrap();
        s.emit_event(emitted("st_a", "lead.created", None, 1_000))
            .await
            .unwrap();
        let mut now = 1_000;
        let mut job = s
            .claim_deliveries(lease("w", now), 10, false)
            .await
            .unwrap()
            .remove(0);
        // Fails at 1 000 (failing since then), 501 000, 1 001 000: the limit is 1 000 000.
        loop {
            let mut o = outcome(&job, "w", false, Some(now + 500_000), now);
            o.disable_after = 1_000_000;
            assert!(s.finish_attempt(o).await.unwrap());
            let sub = s.get_subscription("st_a", "sub_f").await.unwrap().unwrap();
            assert_eq!(sub.failing_since, Some(1_000));
            if now >= 1_001_000 {
                assert!(!sub.active);
                assert_eq!(sub.disabled_at, Some(now));
                break;
            }
            assert!(sub.active);
            now += 500_000;
            job = s
                .claim_deliveries(lease("w", now), 10, false)
                .await
                .unwrap()
                .remove(0);
        }
        // Disabled: nothing more is claimed for it; the watcher hears subscription.disabled.
        let jobs = s
            .claim_deliveries(lease("w", now + 600_000), 10, false)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].delivery.subscription_id, "sub_w");
        let data: serde_json::Value = serde_json::from_str(&jobs[0].data).unwrap();
        assert_eq!(data["id"], "sub_f");
        assert_eq!(data["active"], false);
        assert!(data.get("secret").is_none(), "no secrets in events");
        // A success forgives earlier failures.
        assert!(
            s.finish_attempt(outcome(
                &jobs[0],
                "w",
                false,
                Some(now + 700_000),
                now + 600_000
            ))
            .await
            .unwrap()
        );
        assert!(
            s.get_subscription("st_a", "sub_w")
                .await
                .unwrap()
                .unwrap()
                .failing_since
                .is_some()
        );
        let job = s
            .claim_deliveries(lease("w", now + 700_000), 10, false)
            .await
            .unwrap()
            .remove(0);
        assert!(
            s.finish_attempt(outcome(&job, "w", true, None, now + 700_000))
                .await
                .unwrap()
        );
        assert!(
            s.get_subscription("st_a", "sub_w")
                .await
                .unwrap()
                .unwrap()
                .failing_since
                .is_none()
        );
    }

    pub async fn emitted_events_are_idempotent(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        // Kept even with no subscription, so a step run again gets the same id back.
        let mut e = emitted("st_a", "lead.created", None, 1_000);
        e.origin_key = Some("run_1:s1:1".into());
        let first = s.emit_event(e.clone()).await.unwrap();
        assert_eq!(first, e.id);
        let mut again = emitted("st_a", "lead.created", None, 1_100);
        again.origin_key = Some("run_1:s1:1".into());
        assert_eq!(s.emit_event(again).await.unwrap(), first);
        s.create_subscription(subscription("sub_1", "st_a", &["lead.*"], false))
            .await
            .unwrap();
        let mut third = emitted("st_a", "lead.created", None, 1_200);
        third.origin_key = Some("run_1:s1:1".into());
        s.emit_event(third).await.unwrap();
        assert!(
            s.claim_deliveries(lease("w", 2_000), 10, false)
                .await
                .unwrap()
                .is_empty(),
            "published once, before the subscription"
        );
        let mut filter = subscription("sub_1", "st_a", &["other.thing"], false);
        filter.updated_at = 2_000;
        s.update_subscription(filter).await.unwrap().unwrap();
        s.emit_event(emitted("st_a", "lead.created", None, 2_000))
            .await
            .unwrap();
        assert!(
            s.claim_deliveries(lease("w", 2_000), 10, false)
                .await
                .unwrap()
                .is_empty(),
            "the new filter applies"
        );
        let listed = s
            .list_subscriptions("st_a", &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(listed.items[0].events, ["other.thing"]);
    }

    pub async fn message_events_follow_the_status(s: Arc<dyn Store>) {
        with_store(&s, "st_a").await;
        s.create_subscription(subscription("sub_m", "st_a", &["message.*"], true))
            .await
            .unwrap();
        // Sent (an email is recorded as sent), then read, then a late "delivered" that moves nothing.
        s.record_message(
            message("msg_1", "st_a", "wamid.1", "sent", 1),
            Some("message.sent".into()),
        )
        .await
        .unwrap();
        s.message_status(report("st_a", "wamid.1", "read", 3, 20))
            .await
            .unwrap();
        s.message_status(report("st_a", "wamid.1", "delivered", 2, 30))
            .await
            .unwrap();
        // Recording a send after its status report came first publishes nothing more.
        s.message_status(report("st_a", "wamid.2", "delivered", 2, 40))
            .await
            .unwrap();
        s.record_message(
            message("msg_2", "st_a", "wamid.2", "sent", 1),
            Some("message.sent".into()),
        )
        .await
        .unwrap();
        let mut events = Vec::new();
        for now in [100, 200, 300, 400] {
            for job in s
                .claim_deliveries(lease("w", now), 10, false)
                .await
                .unwrap()
            {
                let data: serde_json::Value = serde_json::from_str(&job.data).unwrap();
                events.push((
                    job.delivery.event.clone(),
                    data["providerMessageId"].as_str().unwrap().to_owned(),
                    data["status"].as_str().unwrap().to_owned(),
                ));
                assert!(
                    s.finish_attempt(outcome(&job, "w", true, None, now))
                        .await
                        .unwrap()
                );
            }
        }
        events.sort();
        assert_eq!(
            events,
            [
                (
                    "message.delivered".to_owned(),
                    "wamid.2".to_owned(),
                    "delivered".to_owned()
                ),
                ("message.read".into(), "wamid.1".into(), "read".into()),
                ("message.sent".into(), "wamid.1".into(), "sent".into()),
            ]
        );
    }

    pub async fn nodes_report_in_and_config_changes_are_counted(s: Arc<dyn Store>) {
        let node = |id: &str, seen: i64, load: i64| NodeRecord {
            id: id.into(),
            address: format!("127.0.0.1:{}", 8000 + load),
            started_at: 1_000,
            last_seen_at: seen,
            runs_in_flight: load,
        };
        let live = |since: i64| {
            let s = s.clone();
            async move {
                let nodes = s.list_nodes(since).await.unwrap();
                nodes
                    .into_iter()
                    .map(|n| (n.id, n.last_seen_at, n.runs_in_flight))
                    .collect::<Vec<_>>()
            }
        };
        s.heartbeat(node("node_a", 10_000, 3), 0).await.unwrap();
        s.heartbeat(node("node_b", 12_000, 0), 0).await.unwrap();
        s.heartbeat(node("node_a", 14_000, 5), 0).await.unwrap();
        assert_eq!(
            live(11_000).await,
            [("node_a".into(), 14_000, 5), ("node_b".into(), 12_000, 0)]
        );
        assert_eq!(live(13_000).await.len(), 1, "node_b missed its heartbeat");
        s.remove_node("node_a").await.unwrap();
        assert!(live(13_000).await.is_empty(), "node_a left");
        s.heartbeat(node("node_c", 20_000, 0), 13_000)
            .await
            .unwrap();
        assert_eq!(
            live(0).await,
            [("node_c".into(), 20_000, 0)],
            "node_b forgotten"
        );

        // Changes to what nodes cache bump the generation in their transaction; runs do not.
        let generation = || {
            let s = s.clone();
            async move { s.config_generation().await.unwrap() }
        };
        let start = generation().await;
        s.create_store(store("st_a", "A"), None).await.unwrap();
        let after_store = generation().await;
        s.create_workflow(workflow("wf_1", "st_a", "W"))
            .await
            .unwrap();
        let after_workflow = generation().await;
        running_run(&s, "st_a", "run_1").await;
        let after_run = generation().await;
        s.create_token(token("tok_1", Some("st_a"), "h1"))
            .await
            .unwrap();
        let after_token = generation().await;
        match s.backend() {
            "sqlite" => assert_eq!(
                [start, after_store, after_workflow, after_run, after_token],
                [None; 5],
                "one node: no shared generation"
            ),
            _ => {
                let g: Vec<i64> = [start, after_store, after_workflow, after_run, after_token]
                    .into_iter()
                    .map(Option::unwrap)
                    .collect();
                assert!(
                    g[0] < g[1] && g[1] < g[2] && g[2] == g[3] && g[3] < g[4],
                    "{g:?}"
                );
            }
        }
    }
}
