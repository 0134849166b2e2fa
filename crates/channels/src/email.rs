//! Email over SMTP with lettre (docs/protocols.md §3): no TLS, STARTTLS (required, never opportunistic)
//! or implicit TLS. The server's name is resolved through the outbound guard and lettre connects
//! to the allowed address, while TLS still verifies the certificate against the name.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use switchboard_core::run::StepError;
use switchboard_outbound::Client;

use crate::{Attempt, MessageStatus, Sent, provider_error};

/// SMTP command timeout (lettre's default is 60 s).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    None,
    StartTls,
    Tls,
}

impl Security {
    pub const NAMES: [&str; 3] = ["none", "starttls", "tls"];

    pub fn parse(name: &str) -> Option<Security> {
        match name {
            "none" => Some(Security::None),
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            _ => None,
        }
    }
}

/// A store's email channel.
#[derive(Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The default sender, `Name <address>` or a bare address.
    pub from: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Smtp({}:{}, ***)", self.host, self.port)
    }
}

/// One email.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// Overrides the channel's sender.
    pub from: Option<String>,
    pub to: String,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    /// The left part of the `Message-ID` (the same on every attempt, so receivers can drop
    /// repeats).
    pub id: String,
}

/// Checks an address as a mailbox (`Name <a@b>` or `a@b`).
pub fn mailbox(address: &str) -> Result<Mailbox, String> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("'{address}' is not an email address: {e}"))
}

/// Sends one email; the result's provider id is its `Message-ID`.
pub async fn send(client: &Client, config: &Config, email: &Email) -> Attempt {
    let message = match build(config, email) {
        Ok(m) => m,
        Err(e) => return Attempt::failed(e),
    };
    let message_id = message
        .headers()
        .get_raw("Message-ID")
        .unwrap_or_default()
        .to_owned();
    if client.simulation().is_some() {
        // A dry run: the message as it would go out, and nothing sent.
        let smtp = json!({"smtp": {
            "host": config.host, "port": config.port, "to": email.to,
            "message": String::from_utf8_lossy(&message.formatted()),
        }});
        return Attempt {
            result: Ok(Sent {
                provider_id: message_id,
                status: MessageStatus::Simulated,
            }),
            http: Some(smtp),
        };
    }
    let address = match client.resolve(&config.host, config.port).await {
        Ok(addresses) => addresses[0],
        Err(e) => return Attempt::failed(e.into()),
    };
    let tls = |host: &str| {
        TlsParameters::new(host.to_owned()).map_err(|e| {
            StepError::new(
                "connection_failed",
                format!("TLS settings for '{host}': {e}"),
            )
        })
    };
    let tls = match config.security {
        Security::None => Tls::None,
        Security::StartTls => match tls(&config.host) {
            Ok(params) => Tls::Required(params),
            Err(e) => return Attempt::failed(e),
        },
        Security::Tls => match tls(&config.host) {
            Ok(params) => Tls::Wrapper(params),
            Err(e) => return Attempt::failed(e),
        },
    };
    let mut transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
            .port(address.port())
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let result = match transport.build().send(message).await {
        Ok(response) => Ok(Sent {
            provider_id: message_id,
            status: if response.is_positive() {
                MessageStatus::Sent
            } else {
                MessageStatus::Failed
            },
        }),
        Err(e) => Err(smtp_error(&config.host, e)),
    };
    Attempt { result, http: None }
}

fn build(config: &Config, email: &Email) -> Result<Message, StepError> {
    let invalid = |e: String| StepError::new("invalid_address", e);
    let from = mailbox(email.from.as_deref().unwrap_or(&config.from)).map_err(invalid)?;
    let to = mailbox(&email.to).map_err(invalid)?;
    let domain = from.email.domain().to_owned();
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", email.id)));
    let text = |t: &String| SinglePart::plain(t.clone());
    let html = |h: &String| SinglePart::html(h.clone());
    let built = match (&email.text, &email.html) {
        (Some(t), Some(h)) => builder.multipart(
            MultiPart::alternative()
                .singlepart(text(t))
                .singlepart(html(h)),
        ),
        (None, Some(h)) => builder.singlepart(html(h)),
        (Some(t), None) => builder.singlepart(text(t)),
        (None, None) => builder.header(ContentType::TEXT_PLAIN).body(String::new()),
    };
    built.map_err(|e| StepError::new("invalid_address", format!("the email cannot be built: {e}")))
}

/// 4xx replies may pass later, 5xx never will; a connection that failed or timed out is retried.
fn smtp_error(host: &str, e: lettre::transport::smtp::Error) -> StepError {
    if let Some(code) = e.status() {
        let status = u16::from(code.severity as u8) * 100
            + u16::from(code.category as u8) * 10
            + u16::from(code.detail as u8);
        return provider_error(
            "smtp",
            status,
            Some(Value::from(status)),
            format!("the SMTP server {host} refused the email: {e}"),
            e.is_transient(),
        );
    }
    let code = if e.is_timeout() {
        "timeout"
    } else {
        "connection_failed"
    };
    StepError::new(code, format!("SMTP server {host}: {e}")).retryable()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 25,
            security: Security::None,
            username: None,
            password: None,
            from: "Loja <loja@example.com>".into(),
        }
    }

    #[test]
    fn messages_carry_a_stable_id_and_both_parts() {
        let email = Email {
            from: None,
            to: "ana@example.com".into(),
            subject: "Olá".into(),
            text: Some("plain".into()),
            html: Some("<b>rich</b>".into()),
            id: "run_1.step3.1".into(),
        };
        let message = build(&config(), &email).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <run_1.step3.1@example.com>"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative") && raw.contains("text/html"));
        let bad = Email {
            to: "not an address".into(),
            ..email
        };
        assert_eq!(build(&config(), &bad).unwrap_err().code, "invalid_address");
    }
}
