//! Scheduled calls and cron ticks.

use super::*;

conformance!(
    scheduled_calls_are_idempotent_and_fire_once,
    cron_ticks_follow_their_workflow
);

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
