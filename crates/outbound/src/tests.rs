//! The client against raw loopback servers that misbehave on purpose.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn loopback_allowed() -> Client {
    Client::new(
        Policy {
            allow: Policy::parse_allow("127.0.0.0/8").unwrap(),
            allow_http: true,
        },
        Limits::default(),
    )
}

fn get(url: &str, timeout_ms: u64) -> Request {
    Request {
        method: Method::GET,
        url: Url::parse(url).unwrap(),
        headers: vec![("x-test".into(), "1".into())],
        body: None,
        timeout: Duration::from_millis(timeout_ms),
    }
}

/// A server that answers each connection with `handle`, after reading the request head.
async fn serve<F, Fut>(handle: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                handle(socket).await;
            });
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn loopback_is_refused_when_the_allow_list_is_empty() {
    let url = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await;
    })
    .await;
    let client = Client::new(
        Policy {
            allow: vec![],
            allow_http: true,
        },
        Limits::default(),
    );
    let port = Url::parse(&url).unwrap().port().unwrap();
    for target in [
        url.clone(),
        format!("http://localhost:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        match client.send(get(&target, 2000)).await {
            Err(Error::Blocked(b)) => assert_eq!(b.range, "loopback", "{target}"),
            other => panic!("{target}: expected a refusal, got {other:?}"),
        }
    }
    // With the allow-list the same server is reached.
    let ok = loopback_allowed().send(get(&url, 2000)).await.unwrap();
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn the_resolver_refuses_names_that_resolve_to_blocked_addresses() {
    use reqwest::dns::Resolve;
    let resolver = GuardedResolver {
        policy: Arc::new(Policy::default()),
    };
    let err = match resolver.resolve("localhost".parse().unwrap()).await {
        Err(e) => e,
        Ok(_) => panic!("localhost resolved"),
    };
    assert!(err.downcast_ref::<Blocked>().is_some(), "{err}");
}

#[tokio::test]
async fn plain_http_and_other_schemes_need_permission() {
    let strict = Client::new(Policy::default(), Limits::default());
    assert!(matches!(
        strict.check_url("http://example.com/"),
        Err(Error::Refused(_))
    ));
    assert!(matches!(
        strict.check_url("ftp://example.com/"),
        Err(Error::InvalidUrl(_))
    ));
    assert!(matches!(
        strict.check_url("not a url"),
        Err(Error::InvalidUrl(_))
    ));
    assert!(strict.check_url("https://example.com/x?y=1").is_ok());
    assert!(matches!(
        strict.check_url("https://169.254.169.254/latest/meta-data"),
        Err(Error::Blocked(_))
    ));
}

#[tokio::test]
async fn a_huge_body_is_cut_at_the_limit_and_memory_stays_bounded() {
    let url = serve(|mut s| async move {
        let total = 50 << 20;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {total}\r\n\r\n"
        );
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..(total / chunk.len()) {
            if s.write_all(&chunk).await.is_err() {
                return; // the client stopped reading, as it should
            }
        }
    })
    .await;
    let response = loopback_allowed().send(get(&url, 10_000)).await.unwrap();
    assert!(response.truncated);
    assert_eq!(response.body.len(), 1 << 20);
    let recorded = loopback_allowed().recorded(&response.body, response.truncated);
    assert!(
        recorded.ends_with("…[cut: more than 1048576 bytes in all]"),
        "{}",
        &recorded[recorded.len() - 60..]
    );
    assert_eq!(
        recorded.len(),
        (16 << 10) + "…[cut: more than 1048576 bytes in all]".len()
    );
}

#[tokio::test]
async fn a_target_that_hangs_times_out() {
    let url = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let started = Instant::now();
    let err = loopback_allowed().send(get(&url, 200)).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_reset_connection_is_a_retryable_connection_failure() {
    let url = serve(|s| async move {
        // SO_LINGER 0: closing sends RST instead of FIN.
        s.set_zero_linger().unwrap();
        drop(s);
    })
    .await;
    let err = loopback_allowed().send(get(&url, 2000)).await.unwrap_err();
    assert!(matches!(err, Error::Connection(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn redirects_are_answers_and_repeated_headers_are_joined() {
    let url = serve(|mut s| async move {
        let _ = s
            .write_all(
                b"HTTP/1.1 302 Found\r\nlocation: http://10.0.0.1/\r\nX-Tag: a\r\nx-tag: b\r\ncontent-length: 0\r\n\r\n",
            )
            .await;
    })
    .await;
    let response = loopback_allowed().send(get(&url, 2000)).await.unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(response.header("X-Tag"), Some("a, b"));
    assert_eq!(response.header("location"), Some("http://10.0.0.1/"));
}

#[test]
fn retry_after_takes_seconds_or_a_date() {
    assert_eq!(retry_after_ms("120"), Some(120_000));
    assert_eq!(retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
    assert_eq!(retry_after_ms("soon"), None);
}
