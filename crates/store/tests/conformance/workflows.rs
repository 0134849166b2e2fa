//! Workflows, their versions and names, app installs.

use super::*;

conformance!(
    workflow_versions,
    workflow_names_are_unique_among_live_workflows,
    apps_install_and_uninstall_in_one_transaction
);

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

    assert_eq!(s.count_workflows("st_a").await.unwrap(), 1);
    assert_eq!(s.count_workflows("st_other").await.unwrap(), 0);
    assert!(s.delete_workflow("st_a", "wf_1", 5_000).await.unwrap());
    assert!(!s.delete_workflow("st_a", "wf_1", 5_000).await.unwrap());
    assert_eq!(s.get_workflow("st_a", "wf_1").await.unwrap(), None);
    // Its versions stay readable (its runs are understood by them), in its store only.
    let kept = s
        .list_versions("st_a", "wf_1", &PageRequest::default())
        .await
        .unwrap()
        .expect("a deleted workflow's versions");
    assert_eq!(kept.items.len(), 2);
    assert!(s.get_version("st_a", "wf_1", 1).await.unwrap().is_some());
    assert_eq!(
        s.list_versions("st_other", "wf_1", &PageRequest::default())
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
    assert_eq!(s.count_workflows("st_a").await.unwrap(), 0);
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
