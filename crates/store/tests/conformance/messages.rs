//! Messages and their statuses.

use super::*;

conformance!(message_statuses_only_move_forward);

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
