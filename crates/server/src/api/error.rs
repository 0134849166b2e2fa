//! The API's error shape: `{"error": {"code", "message", "details"?}}` with stable codes. A 500
//! never shows internals; they are logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use switchboard_core::Problem;
use switchboard_engine::triggers::TriggerError;
use switchboard_store::StoreError;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds after which the same request may succeed (`Retry-After`).
    pub retry_after: Option<u16>,
}

/// The code of an error response, kept on it for the request's log line.
#[derive(Debug, Clone, Copy)]
pub struct Code(pub &'static str);

/// How long a client waits before it tries a write again while the database is unavailable.
const UNAVAILABLE_RETRY_AFTER_S: u16 = 5;

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code: `unauthorized`, `forbidden`, `not_found`, `store_required`,
    /// `validation_failed`, `invalid_json`, `payload_too_large`, `unsupported_media_type`,
    /// `method_not_allowed`, `conflict`, `limit_reached` (409: a store's ceiling, e.g. of
    /// workflows; `details` `{name, value, setting}`), `rate_limited` (429: the store's allowance a second is
    /// spent; `details` `{name, value, setting}`, `Retry-After`), `unavailable` (503: the database cannot take writes now;
    /// `details.reason` says why, `Retry-After` when to try again), `internal`.
    pub code: String,
    pub message: String,
    /// `[{pointer, message}]`, `[{line, column, message}]` for `invalid_json`, or `{reason}` for
    /// `unavailable` (`disk_full`, `read_only`, `io_error`, `database_unreachable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// Problems with the request body, each with its JSON pointer.
    pub fn validation(message: impl Into<String>, problems: &[Problem]) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message)
            .with_details(json!(problems))
    }

    pub fn invalid_field(pointer: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::validation(
            message.clone(),
            &[Problem {
                pointer: pointer.into(),
                message,
            }],
        )
    }

    pub fn conflict(pointer: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::CONFLICT, "conflict", message.clone())
            .with_details(json!([{"pointer": pointer, "message": message}]))
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field, message } => {
                ApiError::conflict(&format!("/{field}"), message)
            }
            StoreError::Unavailable { fault, message } => {
                tracing::warn!(reason = fault.as_str(), error = %message, "the database is unavailable");
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!(
                        "the database cannot take writes now ({}); nothing was changed: try again later",
                        fault.as_str()
                    ),
                )
                .with_details(json!({"reason": fault.as_str()}));
                e.retry_after = Some(UNAVAILABLE_RETRY_AFTER_S);
                e
            }
            other => ApiError::internal(other),
        }
    }
}

/// A check on a JS thread that never answered (its thread failed).
impl From<switchboard_script::Lost> for ApiError {
    fn from(lost: switchboard_script::Lost) -> Self {
        ApiError::internal(lost)
    }
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        match e {
            TriggerError::KeyReused => ApiError::conflict("", e.to_string()),
            TriggerError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(details) = self.details {
            error["details"] = details;
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        response.extensions_mut().insert(Code(self.code));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// Unknown routes.
pub async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Known routes with another method.
pub async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}
