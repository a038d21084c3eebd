//! A dialect's request as its one handler reads it: the venue's state, the peer, the path below
//! the dialect's prefix, the method, URI, headers, raw query and body. Every dialect takes the
//! same parts, so one extractor reads them for all.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, RawQuery, Request};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// One request to a dialect's API, read whole (the body as text, as the venues sign it).
pub(super) struct ApiRequest {
    pub state: Arc<AppState>,
    pub peer: SocketAddr,
    /// What the route's wildcard matched: the endpoint's path below the dialect's prefix.
    pub path: String,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: String,
}

impl FromRequest<Arc<AppState>> for ApiRequest {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(path) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let RawQuery(query) = RawQuery::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        // Last, as axum takes the body: after the parts, through the same `String` extractor
        // (UTF-8 and the body limit) a handler argument would use.
        let body = String::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: Arc::clone(state),
            peer,
            path,
            method,
            uri,
            headers,
            query,
            body,
        })
    }
}
