//! `send_email`: an email over the store's SMTP channel, inline or from a stored email template.

use serde_json::{Value, json};
use switchboard_channels::email::{self, Email};
use switchboard_core::run::StepError;
use switchboard_core::template::{Scope, Template};
use switchboard_script::Evaluator;
use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, Reference, ReferenceKind, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub to: Template,
    pub from: Option<Template>,
    pub content: Content,
}

#[derive(Debug, Clone)]
pub enum Content {
    Inline { subject: Template, text: Option<Template>, html: Option<Template> },
    /// A stored email template's name, with `variables` in scope for it.
    Stored { template: String, subject: Option<Template>, variables: Option<TValue> },
}

/// Sends an email through the store's SMTP channel: `subject` with `body` and/or `html`, or a
/// stored `template` with `variables`. Output: `{messageId}`.
#[derive(utoipa::ToSchema)]
#[schema(as = SendEmailConfig)]
#[allow(dead_code)]
pub struct Doc {
    /// The recipient's address, a template.
    to: String,
    /// The sender (default: the channel's `from`).
    from: Option<String>,
    /// The subject, a template (required without `template`).
    subject: Option<String>,
    /// The plain-text body, a template.
    body: Option<String>,
    /// The HTML body, a template.
    html: Option<String>,
    /// The name of a stored email template; excludes `body` and `html`.
    template: Option<String>,
    /// The stored template's `variables` root: an object of templates.
    #[schema(value_type = Option<Object>)]
    variables: Option<serde_json::Value>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::External;

    fn example() -> serde_json::Value {
        serde_json::json!({"to": "{{trigger.email}}", "subject": "Welcome, {{trigger.fullName}}", "body": "Thanks for signing up."})
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let to = f.template("to", REQUIRED);
        let from = f.template("from", OPTIONAL);
        let content = if f.present("template") {
            let template = f.string("template", REQUIRED);
            if let Some(name) = &template {
                let name = name.clone();
                f.reference("template", |pointer| Reference { kind: ReferenceKind::EmailTemplate, key: name, pointer });
            }
            let subject = f.template("subject", OPTIONAL);
            let variables = f.object("variables", OPTIONAL);
            for key in ["body", "html"] {
                if !f.present(key) {
                    continue;
                }
                f.raw(key, OPTIONAL);
                f.error(key, format!("'{key}' cannot be combined with 'template': the stored template gives the content"));
            }
            template.map(|template| Content::Stored { template, subject, variables })
        } else {
            let subject = f.template("subject", REQUIRED);
            let text = f.template("body", OPTIONAL);
            let html = f.template("html", OPTIONAL);
            if text.is_none() && html.is_none() && !f.present("body") && !f.present("html") {
                let at = f.at().to_owned();
                f.ctx.report.error(at, "config of send_email: give 'body', 'html' or 'template'");
                return None;
            }
            subject.map(|subject| Content::Inline { subject, text, html })
        };
        Some(Config { to: to?, from, content: content? })
    }

    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        let addresses = env.text(&self.to).and_then(|to| Ok((to, self.from.as_ref().map(|f| env.text(f)).transpose()?)));
        let (to, from) = match addresses {
            Ok(r) => r,
            Err(e) => return crate::StepRun::failed(Value::Null, e),
        };
        let mut input = json!({"to": to});
        if let Some(from) = &from {
            input["from"] = from.clone().into();
        }
        let parts = match parts(self, env, &mut input).await {
            Ok(p) => p,
            Err(e) => return crate::StepRun::failed(input, e),
        };
        input["subject"] = parts.subject.clone().into();
        let config = match env.services.email().await {
            Ok(config) => config,
            Err(e) => return crate::StepRun::failed(input, e),
        };
        let email = Email {
            from,
            to: to.clone(),
            subject: parts.subject.clone(),
            text: parts.text,
            html: parts.html,
            id: env.idempotency_key.replace(':', "."),
        };
        let attempt = email::send(env.services.http(), &config, &email).await;
        let mut record = json!({"type": "email", "subject": parts.subject});
        if let Some(template) = input.get("template") {
            record["template"] = template.clone();
        }
        let contact = email::mailbox(&to).map(|m| m.email.to_string()).unwrap_or(to);
        env.delivered(input, "email", contact, record, attempt, |sent| json!({"messageId": sent.provider_id}))
            .await
    }
}

/// A stored email template (`/api/email-templates`): templates over a step's roots, with the
/// step's resolved `variables` as the `variables` root.
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    pub subject: Template,
    pub text: Option<Template>,
    pub html: Option<Template>,
}

/// Checks an email template `{name, description?, subject, text?, html?}`.
pub fn stored_template(
    body: &Value,
    options: &switchboard_core::workflow::Options,
    js: crate::Js,
) -> (Option<(String, StoredTemplate)>, switchboard_core::Report) {
    let (read, report) = crate::named(body, options, "the email template", js, |f| {
        let subject = f.template("subject", REQUIRED);
        let text = f.template("text", OPTIONAL);
        let html = f.template("html", OPTIONAL);
        if !f.present("text") && !f.present("html") {
            let at = f.at().to_owned();
            f.ctx.report.error(at, "give 'text', 'html' or both");
            return None;
        }
        Some(StoredTemplate { subject: subject?, text, html })
    });
    (read.map(|(name, template, _)| (name, template)), report)
}

/// The email's resolved parts.
struct Parts {
    subject: String,
    text: Option<String>,
    html: Option<String>,
}

async fn parts(c: &Config, env: &crate::StepEnv<'_>, input: &mut Value) -> Result<Parts, StepError> {
    let optional = |t: &Option<Template>, ev: &Evaluator| -> Result<Option<String>, StepError> {
        t.as_ref().map(|t| ev.text(t).map_err(crate::expression_error)).transpose()
    };
    match &c.content {
        Content::Inline { subject, text, html } => Ok(Parts {
            subject: env.text(subject)?,
            text: optional(text, &env.evaluator())?,
            html: optional(html, &env.evaluator())?,
        }),
        Content::Stored { template, subject, variables } => {
            let variables = match variables {
                Some(v) => env.value(v)?,
                None => Value::Object(Default::default()),
            };
            input["template"] = template.clone().into();
            input["variables"] = variables.clone();
            let stored = env.services.email_template(template).await?;
            // The stored template's own templates see the step's `variables`; computed now.
            let scope = Scope { variables: &variables, ..env.scope };
            let computed = env.compute(&scope, &[&stored.subject, &stored.text, &stored.html]).await;
            let ev = Evaluator::with(scope, &computed);
            let subject = match subject {
                Some(own) => env.text(own)?,
                None => ev.text(&stored.subject).map_err(crate::expression_error)?,
            };
            Ok(Parts { subject, text: optional(&stored.text, &ev)?, html: optional(&stored.html, &ev)? })
        }
    }
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Scene, error_code, spec};

    #[tokio::test]
    async fn without_a_channel_nothing_is_sent_but_the_message_is_rendered() {
        let step = spec("send_email", <super::Config as crate::Step>::example());
        let services = FakeServices::default();
        let run = Scene::new(json!({"email": "ana@example.com", "fullName": "Ana"})).run(&step, &services).await;
        assert_eq!(error_code(&run), "channel_not_configured");
        assert_eq!(run.input["to"], "ana@example.com");
        assert!(services.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_unknown_stored_template_fails_before_sending() {
        let step = spec("send_email", json!({"to": "a@b.c", "template": "welcome"}));
        let run = Scene::new(json!({})).run(&step, &FakeServices::default()).await;
        assert_eq!(error_code(&run), "email_template_not_found");
    }
}
