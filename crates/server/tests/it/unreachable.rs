//! A lost PostgreSQL loses nothing: the server reaches its database through a loopback proxy the
//! test can cut. While cut, events answer 503 `unavailable` (`database_unreachable`, with
//! `Retry-After`), never a 500 or a 2xx, `/healthz` stays up and `/readyz` says why; once the
//! proxy heals the server takes events again without a restart, and every acknowledged event's
//! run completes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::api::events::{create, simple};
use crate::faults::{post_event, recovers_and_loses_nothing};
use crate::harness::*;

/// A TCP proxy to PostgreSQL that can drop every connection and refuse new ones.
struct Cuttable {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Cuttable {
    async fn start(upstream: u16) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (is_open, all) = (open.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let link = tokio::spawn(async move {
                    let mut server = TcpStream::connect(("127.0.0.1", upstream)).await?;
                    tokio::io::copy_bidirectional(&mut client, &mut server).await
                });
                all.lock().unwrap().push(link.abort_handle());
            }
        });
        Cuttable { port, open, links }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn heal(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_postgres_answers_503_loses_nothing_and_recovers() {
    let cluster = testkit::pg_cluster();
    let direct = cluster.create_database();
    let upstream: u16 = direct
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let proxy = Cuttable::start(upstream).await;
    let url = direct.replace(&format!(":{upstream}/"), &format!(":{}/", proxy.port));
    let s = TestServer::start_with(Backend::Postgres, &[("SWITCHBOARD_DATABASE_URL", &url)]).await;
    create(&s, &simple("lead", "lead.created")).await;
    let mut acked = Vec::new();
    for n in 0..20 {
        let (status, body, _) = post_event(&s, "Ana", n).await;
        assert_eq!(status, 202, "{body}");
        acked.push(body["runIds"][0].as_str().unwrap().to_owned());
    }

    proxy.cut();
    let mut refused = 0;
    for n in 100..110 {
        let (status, body, retry_after) = post_event(&s, "Ana", n).await;
        match status {
            202 => acked.push(body["runIds"][0].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(body["error"]["code"], "unavailable", "{body}");
                assert_eq!(
                    body["error"]["details"]["reason"], "database_unreachable",
                    "{body}"
                );
                assert!(retry_after.is_some());
                refused += 1;
            }
            other => panic!("event answered {other}: {body}"),
        }
    }
    assert!(
        refused >= 5,
        "only {refused} of 10 events refused while the database was gone"
    );
    let (status, _) = send(s.client.get(s.url("/healthz"))).await;
    assert_eq!(status, 200);
    let (status, readiness) = send(s.client.get(s.url("/readyz"))).await;
    assert_eq!(
        (status, &readiness["reason"]),
        (503, &json!("database_unreachable")),
        "{readiness}"
    );

    proxy.heal();
    recovers_and_loses_nothing(&s, acked).await;
}
