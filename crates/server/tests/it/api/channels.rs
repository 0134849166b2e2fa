//! Channels end to end: settings, WhatsApp sends and inbound webhooks against a fake Graph API,
//! email through a real SMTP server (aiosmtpd), calls and signed status callbacks against a fake
//! Twilio, and the seed's three example workflows run as written.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::events::{create, run_of, settled, step};
use crate::harness::*;
use crate::providers::*;

/// Loopback only (the fakes), plain HTTP, and days made into seconds.
const CHANNELS: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    ("SWITCHBOARD_TIME_SCALE", "100000"),
];

mod both {
    use super::*;
    both_backends_with!(CHANNELS;
        channel_settings_are_write_only_and_checked,
        seed_workflows_run_against_the_providers,
        inbound_whatsapp_is_verified_recorded_and_starts_runs,
        inbound_messages_count_against_the_event_rate
    );
}

mod sqlite_only {
    use super::*;

    async fn sqlite() -> TestServer {
        TestServer::start_with(Backend::Sqlite, CHANNELS).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn provider_failures_retry_or_fail() {
        super::provider_failures_retry_or_fail(sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_go_through_twilio_and_report_back_signed() {
        super::calls_go_through_twilio_and_report_back_signed(sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn email_templates_and_inline_mail() {
        super::email_templates_and_inline_mail(sqlite().await).await;
    }
}

async fn put_channel(s: &TestServer, kind: &str, settings: &Value) -> Value {
    let (status, body) = send(
        s.admin(Method::PUT, &format!("/api/channels/{kind}"))
            .json(settings),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn email_channel(smtp: &testkit::SmtpServer) -> Value {
    json!({"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "Loja Azul <contato@loja-azul.example>"})
}

async fn messages(s: &TestServer, query: &str) -> Vec<Value> {
    let (status, body) = send(s.admin(Method::GET, &format!("/api/messages?{query}"))).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Waits until the SMTP server holds `n` messages.
async fn mail(smtp: &testkit::SmtpServer, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let got = smtp.messages();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the SMTP server got {} messages, not {n}",
        smtp.messages().len()
    );
}

async fn channel_settings_are_write_only_and_checked(s: TestServer) {
    let meta = Meta::start().await;
    let shown = put_channel(&s, "whatsapp", &meta.channel()).await;
    for secret in ["accessToken", "appSecret", "verifyToken"] {
        assert_eq!(shown[secret], "***", "{shown}");
    }
    assert_eq!(shown["phoneNumberId"], PHONE_NUMBER_ID);
    assert_eq!(shown["webhookUrl"], s.url("/channels/whatsapp/st_default"));

    // GET → PUT changes nothing (the secrets still work: the handshake answers).
    let (_, got) = send(s.admin(Method::GET, "/api/channels/whatsapp")).await;
    put_channel(&s, "whatsapp", &got).await;
    let handshake = format!(
        "/channels/whatsapp/st_default?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    );
    let res = s.client.get(s.url(&handshake)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "1158201444");
    let wrong = handshake.replace(VERIFY_TOKEN, "guess");
    assert_eq!(
        s.client.get(s.url(&wrong)).send().await.unwrap().status(),
        403
    );

    // Every problem at its pointer; nothing half-applied.
    let (status, body) = send(s.admin(Method::PUT, "/api/channels/email").json(&json!(
        {"host": "smtp.example.com", "port": 0, "security": "ssl", "from": "not an address", "password": "***"}))).await;
    assert_eq!(status, 400, "{body}");
    let pointers: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        ["/password", "/port", "/security", "/from"],
        "{body}"
    );
    let (status, _) = send(s.admin(Method::GET, "/api/channels/email")).await;
    assert_eq!(status, 404);
    let (status, _) = send(s.admin(Method::PUT, "/api/channels/sms").json(&json!({}))).await;
    assert_eq!(status, 404);

    // PATCH merges; the list shows what is configured.
    let (status, patched) = send(
        s.admin(Method::PATCH, "/api/channels/whatsapp")
            .json(&json!({"apiVersion": "v24.0"})),
    )
    .await;
    assert_eq!(
        (
            status,
            patched["apiVersion"].as_str(),
            patched["appSecret"].as_str()
        ),
        (200, Some("v24.0"), Some("***"))
    );
    let (_, list) = send(s.admin(Method::GET, "/api/channels")).await;
    let kinds: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["whatsapp"]);

    // Another store sees none of it; deleting removes it.
    let (_, other) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "outra"})),
    )
    .await;
    let token = other["token"].as_str().unwrap();
    let (_, list) = send(s.as_token(token, Method::GET, "/api/channels")).await;
    assert_eq!(list["data"], json!([]));
    let (status, _) = send(s.admin(Method::DELETE, "/api/channels/whatsapp")).await;
    assert_eq!(status, 200);
    assert_eq!(
        s.client
            .get(s.url(&handshake))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

async fn seed_workflows_run_against_the_providers(s: TestServer) {
    let meta = Meta::start().await;
    let smtp = testkit::SmtpServer::start();
    put_channel(&s, "whatsapp", &meta.channel()).await;
    put_channel(&s, "email", &email_channel(&smtp)).await;
    let (status, body) = send(s.admin(Method::POST, "/api/email-templates").json(&json!({
        "name": "product_guide",
        "subject": "{{variables.customer_name}}, seu guia da {{store.name}}",
        "text": "Olá {{variables.customer_name}}! Comece por aqui: {{variables.product_link}}",
        "html": "<p>Olá {{variables.customer_name}}!</p><a href=\"{{variables.product_link}}\">Guia</a>"
    }))).await;
    assert_eq!(status, 201, "{body}");
    for name in [
        "lead_follow_up.json",
        "abandoned_cart.json",
        "onboarding.json",
    ] {
        create(&s, &fixture(name)).await;
    }

    // Lead follow-up: a named-parameter template, then the conditional branch.
    let lead = run_of(&s, json!({"eventType": "Lead_Workflow_phase_1", "phoneNumber": "+55 11 99999-0001",
        "fullName": "Ana Maria Silva", "email": "ana@example.com", "issue": "boleto atrasado", "companies": [{"id": 1}]})).await;
    assert_eq!(lead["status"], "completed", "{lead}");
    let sent = &meta.received()[0];
    assert_eq!(sent["to"], "5511999990001");
    assert_eq!(sent["template"]["name"], "first_contact_charge_workflow");
    assert_eq!(sent["template"]["language"]["code"], "pt_BR");
    assert_eq!(
        sent["template"]["components"][0]["parameters"],
        json!([{"type": "text", "parameter_name": "first_name", "text": "Ana"},
               {"type": "text", "parameter_name": "attendent_name", "text": "Atendente da default"},
               {"type": "text", "parameter_name": "issue", "text": "boleto atrasado"}])
    );
    let step2 = step(&lead, "step2");
    assert_eq!(step2["output"]["messageId"], "wamid.FAKE000001");
    assert_eq!(step2["http"]["request"]["headers"]["authorization"], "***");
    assert!(!lead.to_string().contains(META_TOKEN));
    assert_eq!(
        step(&lead, "step3a")["output"]["companies"],
        json!([{"id": 1}])
    );

    // Abandoned cart: an hour's delay (scaled), then the recovery template.
    let cart = run_of(&s, json!({"eventType": "cart_abandoned", "phoneNumber": "5511999990002", "cartId": "c-77",
        "cartValue": 200, "items": [1, 2, 3], "customerName": "Bruno Costa", "recoveryUrl": "https://loja.example/c/77"})).await;
    assert_eq!(cart["status"], "completed", "{cart}");
    assert_eq!(step(&cart, "step1")["output"]["productCount"], 3);
    let recovery = meta
        .received()
        .into_iter()
        .find(|m| m["template"]["name"] == "cart_recovery")
        .unwrap();
    assert_eq!(
        recovery["template"]["components"][0]["parameters"][1]["text"],
        "R$ 200"
    );

    // Onboarding: welcome, a day, the stored email template, three days, a free-text follow-up.
    let onboarding = run_of(
        &s,
        json!({"eventType": "new_customer", "phoneNumber": "5511999990003",
        "fullName": "Carla Dias", "email": "carla@example.com"}),
    )
    .await;
    assert_eq!(onboarding["status"], "completed", "{onboarding}");
    let mails = mail(&smtp, 1).await;
    // The step's own subject wins over the template's.
    assert!(
        mails[0].contains("Subject: Your Guide to Getting Started"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("Ol=C3=A1 Carla Dias! Comece por aqui: https://example.com/guide"),
        "{}",
        mails[0]
    );
    let email_step = step(&onboarding, "step3");
    assert!(
        email_step["output"]["messageId"]
            .as_str()
            .unwrap()
            .contains("@loja-azul.example>")
    );
    let follow_up = meta
        .received()
        .into_iter()
        .find(|m| m["type"] == "text")
        .unwrap();
    assert!(
        follow_up["text"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Hi Carla, how are you finding")
    );

    // The conversation's messages, with their statuses.
    let history = messages(&s, "phoneNumber=%2B55%2011%2099999-0003").await;
    let kinds: Vec<(&str, &str)> = history
        .iter()
        .map(|m| {
            (
                m["content"]["type"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("template", "accepted"), ("text", "accepted")]);
    assert_eq!(history[0]["runId"], onboarding["id"]);
    let emails = messages(&s, "email=carla@example.com").await;
    assert_eq!(
        (emails.len(), emails[0]["status"].as_str()),
        (1, Some("sent"))
    );
}

async fn post_webhook(s: &TestServer, body: &[u8], signature: &str) -> (u16, Value) {
    let req = s
        .client
        .post(s.url("/channels/whatsapp/st_default"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body.to_vec());
    send(req).await
}

async fn inbound_whatsapp_is_verified_recorded_and_starts_runs(s: TestServer) {
    let meta = Meta::start().await;
    put_channel(&s, "whatsapp", &meta.channel()).await;
    let price = create(&s, &json!({"name": "price question", "trigger": {"type": "customer_message", "channel": "whatsapp", "match": "(?i)pre[çc]o"},
        "steps": [{"id": "reply", "type": "send_whatsapp_message", "config": {"phoneNumber": "{{trigger.phoneNumber}}",
            "message": "Oi {{trigger.name.split(' ')[0]}}, o preço é R$ 10"}}]})).await;
    create(&s, &json!({"name": "everything", "trigger": {"type": "customer_message"},
        "steps": [{"id": "keep", "type": "store_context_data", "config": {"data": {"last": "{{trigger.text}}"}}}]})).await;

    // Forged or missing signatures: 401, nothing recorded.
    let body = meta_json(&inbound_text("5511988887777", "wamid.IN1", "Qual o preço?"));
    assert!(body.contains("\\u00e7"), "Meta escapes non-ASCII: {body}");
    let (status, err) = post_webhook(
        &s,
        body.as_bytes(),
        &hub_signature("wrong-secret", body.as_bytes()),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = post_webhook(&s, body.as_bytes(), "").await;
    assert_eq!(status, 401);
    assert!(messages(&s, "phoneNumber=5511988887777").await.is_empty());

    // Malformed but signed: 400.
    let junk = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"id":"x"}]}}]}]}"#;
    let (status, err) = post_webhook(&s, junk, &hub_signature(APP_SECRET, junk)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("validation_failed")),
        "{err}"
    );

    // A real message: recorded, both matching workflows run; the text as the customer wrote it.
    let signature = hub_signature(APP_SECRET, body.as_bytes());
    let (status, first) = post_webhook(&s, body.as_bytes(), &signature).await;
    assert_eq!(status, 200, "{first}");
    let runs = first["messages"][0]["runIds"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2);
    let mut replied = false;
    for id in &runs {
        let run = settled(&s, id.as_str().unwrap()).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["trigger"]["text"], "Qual o preço?");
        if run["workflowId"] == price.as_str() {
            assert_eq!(run["trigger"]["phoneNumber"], "5511988887777");
            replied = true;
        }
    }
    assert!(replied);
    assert_eq!(
        meta.received()[0]["text"]["body"],
        "Oi Maria, o preço é R$ 10"
    );

    // Meta delivers it again: the first answer, no new runs.
    let (status, again) = post_webhook(&s, body.as_bytes(), &signature).await;
    assert_eq!((status, &again["messages"]), (200, &first["messages"]));

    // A message that does not match only starts the catch-all workflow.
    let other = meta_json(&inbound_text("5511988887777", "wamid.IN2", "obrigada!"));
    let (_, out) = post_webhook(
        &s,
        other.as_bytes(),
        &hub_signature(APP_SECRET, other.as_bytes()),
    )
    .await;
    assert_eq!(out["messages"][0]["runIds"].as_array().unwrap().len(), 1);

    // Statuses move the reply forward only: read, then a late delivered.
    for status in ["read", "delivered"] {
        let update = meta_json(&status_update("wamid.FAKE000001", "5511988887777", status));
        let (code, out) = post_webhook(
            &s,
            update.as_bytes(),
            &hub_signature(APP_SECRET, update.as_bytes()),
        )
        .await;
        assert_eq!((code, out["statuses"].as_u64()), (200, Some(1)));
    }
    let history = messages(&s, "phoneNumber=5511988887777").await;
    let seen: Vec<(&str, &str)> = history
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("inbound", "received"),
            ("outbound", "read"),
            ("inbound", "received")
        ]
    );
    assert_eq!(history[1]["content"]["text"], "Oi Maria, o preço é R$ 10");
}

async fn provider_failures_retry_or_fail(s: TestServer) {
    let meta = Meta::start().await;
    let workflow = |name: &str, event: &str| {
        json!({"name": name, "trigger": {"type": "webhook", "eventType": event},
            "steps": [{"id": "send", "type": "send_whatsapp_message", "config": {"phoneNumber": "{{trigger.phoneNumber}}", "message": "oi"}}]})
    };
    create(&s, &workflow("send", "ping")).await;

    // No channel yet: a clear step error.
    let run = run_of(
        &s,
        json!({"eventType": "ping", "phoneNumber": "5511900000001"}),
    )
    .await;
    assert_eq!(
        (run["status"].as_str(), run["error"]["code"].as_str()),
        (Some("failed"), Some("channel_not_configured")),
        "{run}"
    );
    assert_eq!(step(&run, "send")["attempts"], 1);

    put_channel(&s, "whatsapp", &meta.channel()).await;
    // Throughput limits pass with retries.
    meta.fail_next(2, 429, 130429, "Rate limit hit");
    let run = run_of(
        &s,
        json!({"eventType": "ping", "phoneNumber": "5511900000002"}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step(&run, "send")["attempts"], 3);

    // Outside the 24-hour window: permanent, Meta's code in history.
    meta.fail_next(1, 400, 131047, "Re-engagement message");
    let run = run_of(
        &s,
        json!({"eventType": "ping", "phoneNumber": "5511900000003"}),
    )
    .await;
    assert_eq!(run["status"], "failed");
    let error = &step(&run, "send")["error"];
    assert_eq!(
        (error["code"].as_str(), error["providerCode"].as_i64()),
        (Some("provider_error"), Some(131047)),
        "{error}"
    );
    assert_eq!(step(&run, "send")["attempts"], 1);
    assert_eq!(step(&run, "send")["http"]["response"]["status"], 400);

    // An outage: retries, then a failed step carrying the last answer.
    meta.fail_next(3, 500, 131000, "Something went wrong");
    let run = run_of(
        &s,
        json!({"eventType": "ping", "phoneNumber": "5511900000004"}),
    )
    .await;
    assert_eq!(
        (
            run["status"].as_str(),
            step(&run, "send")["attempts"].as_i64()
        ),
        (Some("failed"), Some(3))
    );

    // The provider unreachable: connection_failed, retried.
    let (status, _) = send(
        s.admin(Method::PATCH, "/api/channels/whatsapp")
            .json(&json!({"baseUrl": "http://127.0.0.1:9"})),
    )
    .await;
    assert_eq!(status, 200);
    let run = run_of(
        &s,
        json!({"eventType": "ping", "phoneNumber": "5511900000005"}),
    )
    .await;
    assert_eq!(run["error"]["code"], "connection_failed", "{run}");
    assert_eq!(step(&run, "send")["attempts"], 3);

    // Email with the SMTP server down, then a refused recipient (5xx is permanent).
    let smtp = testkit::SmtpServer::start();
    let mut channel = email_channel(&smtp);
    channel["port"] = json!(testkit::free_port());
    put_channel(&s, "email", &channel).await;
    create(&s, &json!({"name": "mail", "trigger": {"type": "webhook", "eventType": "mail"},
        "steps": [{"id": "m", "type": "send_email", "config": {"to": "{{trigger.email}}", "subject": "s", "body": "b"}}]})).await;
    let run = run_of(&s, json!({"eventType": "mail", "email": "x@example.com"})).await;
    assert_eq!(
        (
            run["error"]["code"].as_str(),
            step(&run, "m")["attempts"].as_i64()
        ),
        (Some("connection_failed"), Some(3)),
        "{run}"
    );
    let run = run_of(&s, json!({"eventType": "mail", "email": "not an address"})).await;
    assert_eq!(
        (
            run["error"]["code"].as_str(),
            step(&run, "m")["attempts"].as_i64()
        ),
        (Some("invalid_address"), Some(1)),
        "{run}"
    );
}

async fn calls_go_through_twilio_and_report_back_signed(s: TestServer) {
    let twilio = Twilio::start().await;
    let shown = put_channel(&s, "voice", &twilio.channel()).await;
    assert_eq!(shown["authToken"], "***");
    let callback = s.url("/channels/voice/st_default/status");
    assert_eq!(shown["statusCallbackUrl"], callback.as_str());
    create(&s, &json!({"name": "call", "trigger": {"type": "webhook", "eventType": "call"},
        "steps": [{"id": "c", "type": "make_phone_call", "config": {"phoneNumber": "{{trigger.phoneNumber}}",
            "message": "Olá {{trigger.name}}, seu pedido <123> saiu & chega hoje."}}]})).await;
    let run = run_of(
        &s,
        json!({"eventType": "call", "phoneNumber": "55 11 97777-6666", "name": "Davi"}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    let sid = step(&run, "c")["output"]["callSid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(step(&run, "c")["output"]["status"], "queued");
    let form = &twilio.received()[0];
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(field("To").as_deref(), Some("+5511977776666"));
    assert_eq!(
        field("Twiml").as_deref(),
        Some(
            "<Response><Say>Olá Davi, seu pedido &lt;123&gt; saiu &amp; chega hoje.</Say></Response>"
        )
    );
    assert_eq!(field("StatusCallback").as_deref(), Some(callback.as_str()));
    let events: Vec<&str> = form
        .iter()
        .filter(|(n, _)| n == "StatusCallbackEvent")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(events, ["initiated", "ringing", "answered", "completed"]);
    assert_eq!(
        step(&run, "c")["http"]["request"]["headers"]["authorization"],
        "***"
    );

    // Twilio reports progress; the signature is checked over URL and form.
    let report = |status: &str| -> Vec<(String, String)> {
        [
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", sid.as_str()),
            ("CallStatus", status),
            ("To", "+5511977776666"),
            ("From", "+15005550006"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let post = |form: Vec<(String, String)>, signature: String| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        s.client
            .post(&callback)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
    };
    let signed = |form: &[(String, String)]| {
        switchboard_channels::voice::signature(AUTH_TOKEN, &callback, form)
    };
    let forged =
        switchboard_channels::voice::signature("not-the-token", &callback, &report("completed"));
    let (status, _) = send(post(report("completed"), forged)).await;
    assert_eq!(status, 401);
    for status in ["ringing", "completed", "in-progress"] {
        let (code, body) = send(post(report(status), signed(&report(status)))).await;
        assert_eq!(code, 200, "{body}");
    }
    let calls = messages(&s, "phoneNumber=5511977776666&channel=voice").await;
    assert_eq!(
        (calls.len(), calls[0]["status"].as_str()),
        (1, Some("completed")),
        "{calls:?}"
    );
}

async fn email_templates_and_inline_mail(s: TestServer) {
    let smtp = testkit::SmtpServer::start();
    put_channel(&s, "email", &email_channel(&smtp)).await;

    // Templates are checked like steps: pointers, JS syntax, unknown fields warned.
    let (status, body) = send(s.admin(Method::POST, "/api/email-templates").json(&json!(
        {"name": "bad", "subject": "{{ variables.x + }}", "colour": "blue"})))
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(pointers(&body), ["", "/subject"], "{body}");
    let (status, created) = send(s.admin(Method::POST, "/api/email-templates").json(&json!(
        {"name": "receipt", "subject": "Pedido {{variables.order}}", "html": "<b>{{variables.total}}</b>", "colour": "blue"}))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["warnings"][0]["pointer"], "/colour");
    let (status, _) = send(
        s.admin(Method::POST, "/api/email-templates")
            .json(&json!({"name": "receipt", "subject": "x", "text": "y"})),
    )
    .await;
    assert_eq!(status, 409);

    // A template the workflow names must exist when it is saved; one deleted since fails the step.
    let (status, gone) = send(
        s.admin(Method::POST, "/api/email-templates")
            .json(&json!({"name": "missing", "subject": "x", "text": "y"})),
    )
    .await;
    assert_eq!(status, 201, "{gone}");
    create(&s, &json!({"name": "mails", "trigger": {"type": "webhook", "eventType": "order"},
        "steps": [
            {"id": "t", "type": "send_email", "config": {"to": "{{trigger.email}}", "template": "receipt", "variables": {"order": "{{trigger.order}}", "total": "R$ {{trigger.total}}"}}},
            {"id": "i", "type": "send_email", "config": {"to": "Eva <{{trigger.email}}>", "from": "vendas@loja.example", "subject": "Obrigado!", "body": "Volte sempre, {{trigger.name}}."}},
            {"id": "gone", "type": "send_email", "config": {"to": "{{trigger.email}}", "template": "missing"}, "onError": "continue"}
        ]})).await;
    let path = format!("/api/email-templates/{}", gone["id"].as_str().unwrap());
    assert_eq!(send(s.admin(Method::DELETE, &path)).await.0, 200);
    let run = run_of(&s, json!({"eventType": "order", "email": "eva@example.com", "order": 42, "total": 99.5, "name": "Eva"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step(&run, "t")["input"]["subject"], "Pedido 42");
    assert_eq!(
        step(&run, "gone")["error"]["code"],
        "email_template_not_found"
    );
    let mails = mail(&smtp, 2).await;
    assert!(
        mails[0].contains("Subject: Pedido 42") && mails[0].contains("<b>R$ 99.5</b>"),
        "{}",
        mails[0]
    );
    assert!(
        mails[1].contains("From: vendas@loja.example") && mails[1].contains("Volte sempre, Eva."),
        "{}",
        mails[1]
    );

    // STARTTLS is required, never opportunistic: a server that cannot upgrade gets nothing.
    let mut tls = email_channel(&smtp);
    tls["security"] = json!("starttls");
    put_channel(&s, "email", &tls).await;
    let failed = run_of(&s, json!({"eventType": "order", "email": "eva@example.com", "order": 43, "total": 1, "name": "Eva"})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let message = step(&failed, "t")["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.to_lowercase().contains("tls"), "{message}");
    assert_eq!(smtp.messages().len(), 2);

    // The same visit retried sends the same Message-ID, so receivers can drop the repeat.
    let id = step(&run, "t")["output"]["messageId"].as_str().unwrap();
    assert!(
        id.starts_with(&format!("<{}.t.1@", run["id"].as_str().unwrap())),
        "{id}"
    );
    assert!(mails[0].contains(&format!("Message-ID: {id}")));
}

/// A customer's message is an event of its store: past the store's event rate, Meta's webhook is
/// answered 429 (Meta sends it again later) and the message is not recorded yet.
async fn inbound_messages_count_against_the_event_rate(s: TestServer) {
    let meta = Meta::start().await;
    put_channel(&s, "whatsapp", &meta.channel()).await;
    let (status, body) =
        crate::api::store_limits::patch(&s, "st_default", json!({"limits": {"eventRate": 2}}))
            .await;
    assert_eq!(status, 200, "{body}");
    let mut statuses = Vec::new();
    for n in 0..4 {
        let body = meta_json(&inbound_text(
            "5511988887777",
            &format!("wamid.RATE{n}"),
            "oi",
        ));
        let signature = hub_signature(APP_SECRET, body.as_bytes());
        let (status, answer) = post_webhook(&s, body.as_bytes(), &signature).await;
        if status == 429 {
            assert_eq!(answer["error"]["details"]["name"], "event_rate", "{answer}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses[..2], [200, 200], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
}
