//! `send_email`: an email over the store's SMTP channel, inline or from a stored email template.

use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, TValue};

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

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let to = f.template("to", REQUIRED);
    let from = f.template("from", OPTIONAL);
    let content = if f.present("template") {
        let template = f.string("template", REQUIRED);
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

pub const EFFECTS: crate::Effects = crate::Effects::External;

pub async fn run(_: &Config, _: &crate::StepEnv<'_>) -> crate::StepRun {
    crate::env::unavailable("send_email", "the messaging channels (issue 5)")
}
