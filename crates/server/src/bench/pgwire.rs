//! `--count-round-trips`: a loopback TCP proxy in front of PostgreSQL that counts the client's
//! round trips. Every extended-protocol exchange ends with a Sync message ('S') and every
//! simple query is one Query message ('Q'); the client waits for the server after each, so their
//! count is the number of round trips. Bytes pass through unchanged; only the client's side is
//! parsed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Protocol codes of the untyped messages a connection may open with before its StartupMessage.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// Starts the proxy; gives the database URL that goes through it and the round-trip counter.
pub async fn start(database_url: &str) -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let mut url = reqwest::Url::parse(database_url).context("parse --database-url")?;
    let upstream = format!(
        "{}:{}",
        url.host_str().context("the database URL has no host")?,
        url.port().unwrap_or(5432)
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    url.set_host(Some("127.0.0.1"))?;
    url.set_port(Some(local.port()))
        .map_err(|_| anyhow::anyhow!("cannot set the proxy's port"))?;
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, count) = (upstream.clone(), count.clone());
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(&upstream).await {
                    let _ = relay(client, server, &count).await;
                }
            });
        }
    });
    Ok((url.to_string(), counter))
}

async fn relay(client: TcpStream, server: TcpStream, count: &AtomicU64) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let answers =
        tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
    let mut parser = Parser::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = from_client.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        to_server.write_all(&buf[..n]).await?;
        count.fetch_add(parser.feed(&buf[..n]), Ordering::Relaxed);
    }
    answers.abort();
    Ok(())
}

/// Splits the client's byte stream into messages and counts Sync and Query messages.
#[derive(Default)]
struct Parser {
    pending: Vec<u8>,
    /// The StartupMessage went by: messages are typed from here on.
    started: bool,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        let mut round_trips = 0;
        loop {
            let rest = &self.pending[at..];
            let (kind, header) = if self.started {
                (rest.first().copied(), 1)
            } else {
                (None, 0)
            };
            let Some(len) = rest
                .get(header..header + 4)
                .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
            else {
                break;
            };
            if rest.len() < header + len {
                break;
            }
            match kind {
                Some(b'S' | b'Q') => round_trips += 1,
                Some(_) => {}
                None => {
                    let code = rest
                        .get(4..8)
                        .map_or(0, |b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
                    self.started = code != SSL_REQUEST && code != GSSENC_REQUEST;
                }
            }
            at += header + len;
        }
        self.pending.drain(..at);
        round_trips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn counts_syncs_and_queries_across_split_reads() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&8u32.to_be_bytes());
        stream.extend_from_slice(&SSL_REQUEST.to_be_bytes());
        stream.extend_from_slice(&9u32.to_be_bytes());
        stream.extend_from_slice(&196_608u32.to_be_bytes());
        stream.push(0);
        for m in [
            typed(b'p', b"secret\0"),
            typed(b'P', b"\0SELECT 1\0\0\0"),
            typed(b'B', b"\0\0\0\0\0\0\0\0"),
            typed(b'E', b"\0\0\0\0\0"),
            typed(b'S', b""),
            typed(b'Q', b"BEGIN\0"),
            typed(b'S', b""),
        ] {
            stream.extend(m);
        }
        let mut parser = Parser::default();
        let counted: u64 = stream.chunks(3).map(|c| parser.feed(c)).sum();
        assert_eq!(counted, 3);
        assert!(parser.pending.is_empty());
    }
}
