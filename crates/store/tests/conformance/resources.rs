//! Named resources by kind, name and store; soft deletion.

use super::*;

conformance!(
    resources_by_kind_name_and_store,
    soft_deleted_resources_list_apart_and_restore
);

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
