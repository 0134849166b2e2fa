//! Events, runs, claims, checkpoints, cancel and retry; conversations.

use super::*;

conformance!(
    events_and_runs_commit_together,
    idempotency_keys_repeat_within_their_window,
    checkpoints_need_the_lease,
    claims_take_due_runs_without_a_live_lease,
    waking_runs_are_claimed_store_by_store,
    cancel_and_retry_follow_the_status,
    cancels_close_open_visits_and_reruns_supersede,
    runs_are_listed_newest_first_by_filter,
    conversations_merge_and_stay_in_their_store
);

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

pub async fn waking_runs_are_claimed_store_by_store(s: Arc<dyn Store>) {
    for store in ["st_a", "st_b", "st_c", "st_d"] {
        with_store(&s, store).await;
    }
    let parked = [
        ("st_a", "a1", 30_000),
        ("st_a", "a2", 30_001),
        ("st_a", "a3", 30_002),
        ("st_a", "a4", 99_000),
        ("st_b", "b1", 30_005),
        ("st_c", "c1", 99_000),
    ];
    for (store, id, wake_at) in parked {
        running_run(&s, store, id).await;
        let mut waiting = state(id, "waiting", Vec::new());
        waiting.wake_at = Some(wake_at);
        assert!(s.checkpoint(waiting).await.unwrap());
    }
    running_run(&s, "st_d", "d1").await;
    let waking = |now| {
        let s = s.clone();
        async move {
            let mut stores = s.stores_with_waking_runs(now).await.unwrap();
            stores.sort();
            stores
        }
    };
    assert_eq!(
        waking(50_000).await,
        ["st_a", "st_b"],
        "stores with due waiting runs; not ones due later, nor running runs"
    );
    let ids = |runs: Vec<RunRecord>| {
        let mut ids: Vec<String> = runs.into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    };
    let quotas = vec![("st_a".to_owned(), 2), ("st_b".to_owned(), 5)];
    let taken = s
        .claim_waking_runs(lease("node_x", 50_000), quotas)
        .await
        .unwrap();
    assert!(taken.iter().all(|r| r.status == RunStatus::Running));
    assert_eq!(
        ids(taken),
        ["a1", "a2", "b1"],
        "oldest first, each to its quota"
    );
    assert_eq!(
        waking(50_001).await,
        ["st_a"],
        "claimed runs are not waking"
    );
    let rest = s
        .claim_waking_runs(lease("node_y", 50_001), vec![("st_a".to_owned(), 5)])
        .await
        .unwrap();
    assert_eq!(ids(rest), ["a3"], "a4 is not due yet");
    assert!(waking(50_002).await.is_empty());
    // Claimed runs are running: if their node dies, they are taken over as orphans.
    assert!(waking(56_000).await.is_empty());
    let orphans = s
        .claim_runs(lease("node_z", 56_000), 10, false)
        .await
        .unwrap();
    assert_eq!(ids(orphans), ["a1", "a2", "a3", "b1", "d1"]);
}

/// A retry of a failed run at its first node, on version 1.
fn retry(store_id: &str, run_id: &str, lease: Lease) -> RunRetry {
    RunRetry {
        store_id: store_id.into(),
        run_id: run_id.into(),
        from: vec![RunStatus::Failed],
        version: 1,
        next_node: 0,
        supersede_from: None,
        action: json!({"action": "retry"}),
        lease,
    }
}

pub async fn cancel_and_retry_follow_the_status(s: Arc<dyn Store>) {
    with_store(&s, "st_a").await;
    with_store(&s, "st_b").await;
    running_run(&s, "st_a", "run_1").await;
    assert_eq!(
        s.cancel_run("st_b", "run_1", json!({"action": "cancel"}), 11_000)
            .await
            .unwrap(),
        None,
        "another store's run is not found"
    );
    let cancelled = s
        .cancel_run("st_a", "run_1", json!({"action": "cancel"}), 11_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cancelled.status.as_str(), cancelled.finished_at),
        ("cancelled", Some(11_000))
    );
    assert_eq!(cancelled.error.as_ref().unwrap()["code"], "cancelled");
    assert_eq!(cancelled.error_code.as_deref(), Some("cancelled"));
    assert_eq!(cancelled.actions, [json!({"action": "cancel"})]);
    assert!(matches!(
        s.cancel_run("st_a", "run_1", json!({"action": "cancel"}), 12_000)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.retry_run(retry("st_a", "run_1", lease("node_a", 12_000)))
            .await,
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
        s.retry_run(retry("st_b", "run_2", lease("node_a", 13_000)))
            .await
            .unwrap(),
        None
    );
    let retried = s
        .retry_run(retry("st_a", "run_2", lease("node_a", 13_000)))
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
    assert_eq!(
        (retried.error_code, retried.failed_step, retried.actions),
        (None, None, vec![json!({"action": "retry"})]),
        "the failure is cleared and the retry recorded"
    );
}

pub async fn cancels_close_open_visits_and_reruns_supersede(s: Arc<dyn Store>) {
    with_store(&s, "st_a").await;
    running_run(&s, "st_a", "run_1").await;
    let waiting = state(
        "run_1",
        "waiting",
        vec![
            record(0, "a", "completed", json!({"x": 1})),
            record(1, "b", "waiting", json!(null)),
        ],
    );
    assert!(s.checkpoint(waiting).await.unwrap());
    s.cancel_run("st_a", "run_1", json!({"action": "cancel"}), 11_000)
        .await
        .unwrap();
    let statuses: Vec<_> = s
        .run_steps("run_1")
        .await
        .unwrap()
        .iter()
        .map(|r| r.status.as_str())
        .collect();
    assert_eq!(
        statuses,
        ["completed", "cancelled"],
        "the open visit ends with the run"
    );

    // A rerun from step `b` on version 2 supersedes the visits from its first one on.
    let mut rerun = retry("st_a", "run_1", lease("node_a", 12_000));
    rerun.from = vec![
        RunStatus::Failed,
        RunStatus::Completed,
        RunStatus::Cancelled,
    ];
    rerun.version = 2;
    rerun.next_node = 1;
    rerun.supersede_from = Some(1);
    let run = s.retry_run(rerun).await.unwrap().unwrap();
    assert_eq!(
        (run.status.as_str(), run.workflow_version, run.next_node),
        ("queued", 2, Some(1))
    );
    let superseded: Vec<_> = s
        .run_steps("run_1")
        .await
        .unwrap()
        .iter()
        .map(|r| (r.step_id.clone(), r.superseded_at))
        .collect();
    assert_eq!(
        superseded,
        [("a".to_owned(), None), ("b".to_owned(), Some(12_000))]
    );
    let noted = s
        .record_run_action("st_a", "run_1", json!({"action": "replay"}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        noted.actions.len(),
        3,
        "cancel, retry, replay: {:?}",
        noted.actions
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
    let by_contact = RunFilter {
        contact: Some("5511999".into()),
        email: Some("ana@example.com".into()),
        ..Default::default()
    };
    assert_eq!(ids(by_contact).await, ["run_4", "run_2", "run_1", "run_0"]);
    let nobody = RunFilter {
        contact: Some("5511000".into()),
        ..Default::default()
    };
    assert!(ids(nobody).await.is_empty());
    let by_type = RunFilter {
        trigger_type: Some("manual".into()),
        ..Default::default()
    };
    assert!(ids(by_type).await.is_empty());
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
