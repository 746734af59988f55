//! Bearer-token authentication of the management API.
//!
//! The API can resend, edit and purge clinical messages, so anything that reaches it
//! must be trusted. With a token configured (`hie run --api-token-file`), every request
//! needs `Authorization: Bearer <token>`; without one the API must stay on loopback,
//! which `hie run` enforces. The token lives in a file, not on the command line, where
//! every local user could read it in the process list.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::Arc;

/// Shortest token accepted: a guessable one protects nothing.
pub const MIN_TOKEN_LEN: usize = 16;

/// The shared secret clients present.
#[derive(Clone)]
pub struct ApiToken(Arc<[u8]>);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

impl ApiToken {
    /// Reads the token from `path` (surrounding whitespace trimmed). Refused when the
    /// file cannot be read or the token is shorter than [`MIN_TOKEN_LEN`].
    pub fn load(path: &Path) -> Result<ApiToken, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the API token file {}: {e}", path.display()))?;
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the API token in {} is {} characters long; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32 > {}`)",
                path.display(),
                token.len(),
                path.display()
            ));
        }
        Ok(ApiToken(Arc::from(token.as_bytes())))
    }

    /// The token, for a client to send.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Whether `presented` is the token, compared in time that does not depend on where
    /// they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        presented.len() == self.0.len()
            && presented.iter().zip(self.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Whether the token file can be read by other users (worth a warning: the token is a
/// key to every message).
pub fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o077 != 0).unwrap_or(false)
}

/// The middleware: passes a request with the right bearer token, answers 401 otherwise.
pub async fn require_token(State(token): State<ApiToken>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110).
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")))
        .map(|(_, t)| t.trim().as_bytes());
    match presented {
        Some(t) if token.matches(t) => next.run(request).await,
        _ => {
            tracing::warn!(path = %request.uri().path(), "management API request refused: missing or wrong bearer token");
            let mut response = super::ApiError(
                StatusCode::UNAUTHORIZED,
                "this API needs `Authorization: Bearer <token>` (hie: --api-token-file)".into(),
            )
            .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_read_trimmed_and_a_short_token_is_refused() {
        let dir = std::env::temp_dir().join(format!("hie-api-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let good = dir.join("good");
        std::fs::write(&good, "  0123456789abcdef0123\n").expect("write");
        let token = ApiToken::load(&good).expect("a 20-character token");
        assert_eq!(token.as_str(), "0123456789abcdef0123");
        assert!(token.matches(b"0123456789abcdef0123"));
        assert!(!token.matches(b"0123456789abcdef0124") && !token.matches(b"0123456789abcdef012"));
        let short = dir.join("short");
        std::fs::write(&short, "secret\n").expect("write");
        assert!(ApiToken::load(&short).unwrap_err().contains("at least 16"));
        assert!(ApiToken::load(&dir.join("missing")).unwrap_err().contains("cannot read"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
