//! Nodes and the config generation.

use super::*;

conformance!(nodes_report_in_and_config_changes_are_counted);

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
