//! The side inference server (feature `server`): serves any
//! [`InferenceProvider`] over HTTP the way the official off-chain node and
//! [`HttpProvider`](crate::HttpProvider) expect.
//!
//! - `GET /inference/{token}`: the model's value for `token` as plain text
//!   (`2531.4410`), or as a JSON number when the request says
//!   `?format=json` or `Accept: application/json`. A model with labeled
//!   outputs answers a JSON object (`{"up":0.7,"down":0.3}`) either way.
//!   Optional query parameters `topic_id` and `block_height` are passed to
//!   the model.
//! - `GET /healthz`: `ok`.
//!
//! Failures answer with a non-2xx status and the error text (as
//! `{"error": "..."}` in JSON mode), so a client never mistakes them for a
//! value: 504 when the model is too slow, 500 when it produced something
//! that is not a valid value, 502 otherwise.

use std::sync::Arc;
use std::time::Duration;

use crate::{Dec, InferError, InferenceProvider, InferenceRequest, Prediction};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::time::Instant;

/// What the server serves and how long a model may take per request.
#[derive(Clone)]
pub struct ServerState {
    model: Arc<dyn InferenceProvider>,
    model_timeout: Duration,
}

impl ServerState {
    /// Serves `model`, giving each request `model_timeout`.
    pub fn new(model: Arc<dyn InferenceProvider>, model_timeout: Duration) -> Self {
        ServerState {
            model,
            model_timeout,
        }
    }
}

/// Serves [`router`] on `listener` until `shutdown` completes, letting open
/// requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The server's routes.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/inference/{token}", get(inference))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct InferenceQuery {
    topic_id: Option<u64>,
    block_height: Option<i64>,
    format: Option<String>,
}

async fn inference(
    State(state): State<ServerState>,
    Path(token): Path<String>,
    Query(query): Query<InferenceQuery>,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(query.format.as_deref(), &headers);
    let req = InferenceRequest::new(
        query.topic_id.unwrap_or(0),
        query.block_height.unwrap_or(0),
        Instant::now() + state.model_timeout,
    )
    .with_token(token);
    match state.model.infer(&req).await {
        Ok(Prediction::Single(v)) if json => json_response(StatusCode::OK, v.into_string()),
        // Canonical decimal text is also a valid JSON number.
        Ok(Prediction::Single(v)) => {
            ([(header::CONTENT_TYPE, "text/plain")], v.into_string()).into_response()
        }
        Ok(Prediction::Labeled(pairs)) => json_response(StatusCode::OK, labeled_json(&pairs)),
        Err(err) => error_response(&err, json),
    }
}

fn wants_json(format: Option<&str>, headers: &HeaderMap) -> bool {
    match format {
        Some(f) => f.eq_ignore_ascii_case("json"),
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json")),
    }
}

fn labeled_json(pairs: &[(String, Dec)]) -> String {
    let fields: Vec<String> = pairs
        .iter()
        .map(|(label, value)| format!("{}:{value}", serde_json::Value::from(label.as_str())))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_response(err: &InferError, json: bool) -> Response {
    let status = match err {
        InferError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        InferError::InvalidValue { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    };
    if json {
        json_response(
            status,
            serde_json::json!({ "error": err.to_string() }).to_string(),
        )
    } else {
        (status, err.to_string()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labeled_values_are_a_json_object_in_order() {
        let pairs = vec![
            ("up".to_string(), "0.70".parse().unwrap()),
            ("d\"own".to_string(), "1E-7".parse().unwrap()),
        ];
        let text = labeled_json(&pairs);
        assert_eq!(text, r#"{"up":0.70,"d\"own":1E-7}"#);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(parsed.is_object());
    }

    #[test]
    fn json_is_chosen_by_query_then_accept() {
        let mut headers = HeaderMap::new();
        assert!(!wants_json(None, &headers));
        assert!(wants_json(Some("json"), &headers));
        headers.insert(header::ACCEPT, "application/json".parse().unwrap());
        assert!(wants_json(None, &headers));
        assert!(!wants_json(Some("text"), &headers));
    }
}
