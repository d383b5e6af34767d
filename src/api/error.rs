//! Every error the API answers is JSON that names the problem: `{"error", "code", "rule"}`.
//! Extractor rejections (bad JSON, wrong types, unknown fields, too large, bad path) are
//! turned into the same shape, so no answer is an HTML page or an empty 500.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::engine::EngineError;
use crate::model::RuleError;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What was wrong and what to do instead, for a person.
    pub error: String,
    /// A stable machine word: `refused`, `not_found`, `conflict`, `invalid`, `bad_request`,
    /// `unauthorized`, `forbidden`, `too_large`, `unavailable`.
    pub code: String,
    /// The rule id (P4, V2 …) when a rule refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The refusal exactly as the engine gave it, so a remote client rebuilds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_error: Option<RuleError>,
}

/// An error answer: a status and its JSON body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status (never 500).
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with a status, a code word and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: message.into(),
                code: code.into(),
                rule: None,
                rule_error: None,
            },
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 422: well-formed but not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        match e {
            EngineError::Refused(rule_error) => {
                let (status, code) = match &rule_error {
                    RuleError::Refused { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
                    RuleError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
                    RuleError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
                };
                let mut err = ApiError::new(status, code, message);
                err.body.rule = rule_error.rule_id().map(str::to_string);
                err.body.rule_error = Some(rule_error);
                err
            }
            EngineError::Invalid(m) => ApiError::invalid(m),
            EngineError::NoDatabase(_) | EngineError::Storage(_) | EngineError::Closed => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// A JSON body whose rejections answer with [`ErrorBody`].
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(r) => Err(json_rejection(&r)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let status = r.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        _ => "bad_request",
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than 1 MiB: send less".to_string()
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "the request body must be JSON: send `Content-Type: application/json`".to_string()
        }
        _ => r.body_text(),
    };
    ApiError::new(status, code, message)
}

/// A path parameter whose rejections answer with [`ErrorBody`].
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| PathParams(v))
            .map_err(|r: PathRejection| ApiError::bad_request(r.body_text()))
    }
}

/// A query string whose rejections answer with [`ErrorBody`].
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| QueryParams(v))
            .map_err(|r: QueryRejection| ApiError::bad_request(r.body_text()))
    }
}

/// The answer for a path nothing serves.
pub async fn unknown_path(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such path '{}': see /v1/openapi.json for what this server offers",
        uri.path()
    ))
}

/// The answer for a method a path does not take.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on '{}': see /v1/openapi.json",
            method,
            uri.path()
        ),
    )
}
