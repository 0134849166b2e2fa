//! What every operation of the OpenAPI document shares, added once the handlers' annotations are
//! merged: the security schemes (a bearer token; `StoreId`, which the admin token must send and a
//! store token may), the error answers the extractors and layers give every route they guard
//! (each with the error body), and a description on every response.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// Applies the shared parts to the merged document.
pub fn finish(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        "storeId",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "StoreId",
            "The store a request acts on: required with the admin token; a store token may omit it \
             (it acts on its own store)",
        ))),
    );
    for item in doc.paths.paths.values_mut() {
        let methods = [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
        ];
        for (method, operation) in methods {
            if let Some(operation) = operation {
                finish_operation(method, operation);
            }
        }
    }
}

fn finish_operation(method: &str, operation: &mut Operation) {
    let schemes: Vec<String> = operation
        .security
        .iter()
        .flatten()
        .flat_map(|requirement| {
            serde_json::to_value(requirement)
                .ok()
                .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
                .unwrap_or_default()
        })
        .collect();
    let secured = schemes.iter().any(|s| s == "bearer");
    let store_scoped = schemes.iter().any(|s| s == "storeId");
    let writes = method != "get";
    let has_body = operation.request_body.is_some();
    let has_query = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    let mut errors: Vec<(&str, &str)> = Vec::new();
    if has_query && !has_body {
        errors.push((
            "400",
            "A parameter is not valid: `error.message` names it and says why",
        ));
    }
    if has_body {
        errors.push((
            "400",
            "The request is not valid: `error.details` names each problem at its JSON pointer",
        ));
        errors.push(("413", "The body is larger than the server's limit"));
        errors.push(("415", "The body is not `application/json`"));
    }
    if secured {
        errors.push(("401", "No token, or one the server does not know"));
        errors.push((
            "403",
            "The token may not act here (another store's, or not the admin token)",
        ));
    }
    if store_scoped {
        errors.push((
            "400",
            "The admin token named no store (`StoreId`), or the request is not valid",
        ));
        errors.push(("404", "Not found in the store (or no such store)"));
        errors.push((
            "429",
            "The store's allowance of requests a second is spent (`Retry-After`)",
        ));
    }
    if writes {
        errors.push((
            "503",
            "The database cannot take writes now; nothing was changed (`Retry-After`)",
        ));
    }
    let responses = &mut operation.responses.responses;
    for (status, description) in errors {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = default_description(status).to_owned();
        }
    }
}

fn error_response(description: &str) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        "application/json".into(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody")))),
    );
    response
}

/// What a response the handler's annotation left undescribed means, by its status.
fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no body",
        "400" => "The request is not valid: `error.details` names each problem at its JSON pointer",
        "401" => "No token, or one the server does not know",
        "403" => "The token may not act here",
        "404" => "Not found",
        "409" => "In conflict with the current state (`error.code` says how)",
        "410" => "Gone",
        "413" => "The body is larger than the server's limit",
        "415" => "The body is not `application/json`",
        "422" => "Understood but not processable",
        "429" => "Too many requests (`Retry-After`)",
        "503" => "Unavailable now (`Retry-After`)",
        _ => "The answer",
    }
}

/// A body that may be left out is not one that may be `null`: utoipa marks `Option<T>` bodies
/// nullable as well as optional, and no handler takes a `null` body. Works on the serialised
/// document.
pub fn optional_bodies(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(body) = operation.get_mut("requestBody") else {
            continue;
        };
        if body["required"] == json!(true) {
            continue;
        }
        let Some(content) = body["content"].as_object_mut() else {
            continue;
        };
        for media in content.values_mut() {
            let schema = &mut media["schema"];
            if let Some([inner, null]) = schema["oneOf"].as_array().map(Vec::as_slice)
                && *null == json!({"type": "null"})
            {
                *schema = inner.clone();
            } else if let Some(types) = schema["type"].as_array() {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                schema["type"] = match kept.as_slice() {
                    [one] => one.clone(),
                    _ => Value::Array(kept),
                };
            }
        }
    }
}
