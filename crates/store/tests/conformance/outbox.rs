//! Outgoing events, subscriptions and what they publish.

use super::*;

conformance!(
    outgoing_events_commit_with_their_change,
    emitted_events_are_idempotent,
    message_events_follow_the_status
);

pub(crate) fn subscription(
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

pub(crate) fn outcome(
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

pub(crate) fn emitted(
    store_id: &str,
    event: &str,
    contact: Option<&str>,
    now: i64,
) -> switchboard_store::outbox::Outgoing {
    let mut e = switchboard_store::outbox::Outgoing::new(
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
