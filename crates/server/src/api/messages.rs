//! `GET /api/messages`: what was sent and received on the channels, with each message's latest
//! delivery status, for one conversation (`?phoneNumber=`), one email address, or the whole store.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use switchboard_core::run::phone_key;
use switchboard_store::{MessageFilter, MessageRecord};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Query;
use super::list::{List, ListParams, Paging};
use super::views::MessageView;
use crate::app::Shared;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(list_messages))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct MessageQuery {
    /// A conversation: the phone number in any spelling (its digits are the key).
    phone_number: Option<String>,
    /// An email address.
    email: Option<String>,
    /// `whatsapp`, `email` or `voice`.
    channel: Option<String>,
}

/// A message as the API shows it and `message.*` events carry it.
pub fn view(m: &MessageRecord) -> Value {
    switchboard_store::outbox::message_view(m)
}

/// Messages sent and received, oldest first, with their delivery status.
#[utoipa::path(get, path = "/api/messages", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(MessageQuery, ListParams),
    responses((status = 200, body = List<MessageView>), (status = 400, body = ErrorBody)))]
async fn list_messages(
    scope: Scope,
    State(state): State<Shared>,
    Query(query): Query<MessageQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<List<Value>>> {
    let contact = match (&query.phone_number, &query.email) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "",
                "give 'phoneNumber' or 'email', not both",
            ));
        }
        (Some(phone), None) => {
            let digits = phone_key(phone);
            if digits.is_empty() {
                return Err(ApiError::invalid_field(
                    "",
                    format!("phoneNumber '{phone}' holds no digits"),
                ));
            }
            Some(digits)
        }
        (None, email) => email.as_ref().map(|e| e.trim().to_owned()),
    };
    let filter = MessageFilter {
        contact,
        channel: query.channel,
    };
    let page = state
        .store
        .list_messages(&scope.store.id, &filter, &page)
        .await?;
    Ok(Json(List::from_page(page, |m| view(&m))))
}
