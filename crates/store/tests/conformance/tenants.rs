//! Stores, tokens, settings, isolation, paging and concurrent writes.

use super::*;

conformance!(
    meta_is_set_once,
    stores_and_tokens,
    store_names_are_unique,
    stores_are_isolated,
    pages_follow_the_cursor,
    concurrent_writes_commit_independently
);

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
            created_at: 1_000,
            limits: StoreLimits::default(),
        }
    );
    assert_eq!(s.get_store("st_a").await.unwrap(), Some(created.clone()));
    assert_eq!(s.get_store("st_nope").await.unwrap(), None);

    // A store's own limits are kept, and cleared again with `None`.
    let own = StoreLimits {
        event_rate: Some(10),
        max_runs_in_flight: Some(3),
        js_ms_per_minute: Some(600),
        ..StoreLimits::default()
    };
    let limited = s.set_store_limits("st_a", own).await.unwrap().unwrap();
    assert_eq!(limited.limits, own);
    assert_eq!(s.get_store("st_a").await.unwrap().unwrap().limits, own);
    assert_eq!(s.set_store_limits("st_nope", own).await.unwrap(), None);
    let cleared = s.set_store_limits("st_a", StoreLimits::default()).await;
    assert_eq!(cleared.unwrap(), Some(created));
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
