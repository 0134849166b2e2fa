//! Deliveries: leases, retries, the attempt log, ordering per contact, disabling.

use super::*;
use crate::outbox::{emitted, outcome, subscription};

conformance!(
    deliveries_are_leased_retried_and_logged,
    ordered_deliveries_go_one_contact_at_a_time,
    failing_subscriptions_are_disabled
);

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
