//! Console sign-in: a browser trades an API token for a session cookie, and its writes
//! carry a CSRF token.
//!
//! - `POST /api/session` with `{"token": "..."}` checks the token as [`super::auth`]
//!   does and answers `{name, role, csrf}` with `Set-Cookie: hie_session=...; HttpOnly;
//!   SameSite=Strict; Path=/`. The cookie holds a random session id, never the token.
//! - `GET /api/session` says who the cookie (or bearer token) is; `DELETE` signs out.
//! - A request signed in by cookie that is not a read (GET, HEAD) must carry the
//!   session's `X-CSRF-Token` header, or it is refused with 403.
//!
//! # Invariants
//! - Sessions live in memory only and end after [`SESSION_TTL`] or at sign-out; an engine
//!   restart signs everyone out (the token still works).
//! - Session ids and CSRF tokens are 32 random bytes each, compared in constant time.
//! - A write whose `Origin` (or `Sec-Fetch-Site`) says it comes from another site is
//!   refused in every mode, loopback without tokens included: a web page the operator
//!   happens to visit cannot pause an item or resend a message through their browser.

use super::auth::Role;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a console session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The cookie's name.
pub const COOKIE: &str = "hie_session";

/// The header a cookie-signed write carries.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// What its writes must carry in [`CSRF_HEADER`].
    pub csrf: String,
    /// When it ends.
    expires: Instant,
}

/// The signed-in sessions, by id.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

fn random_hex() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a session: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal in constant time for equal lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    /// Starts a session for `name` with `role`: its id (for the cookie) and the session.
    pub fn start(&self, name: &str, role: Role) -> Result<(String, Session), String> {
        let id = random_hex()?;
        let session =
            Session { name: name.to_string(), role, csrf: random_hex()?, expires: Instant::now() + SESSION_TTL };
        let mut all = self.0.lock().map_err(|_| "the session table is poisoned".to_string())?;
        let now = Instant::now();
        all.retain(|_, s| s.expires > now);
        all.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session of the cookie in `headers`, with its id.
    pub fn of(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, COOKIE)?;
        let all = self.0.lock().ok()?;
        let (key, s) = all.iter().find(|(k, _)| same(k, &id))?;
        (s.expires > Instant::now()).then(|| (key.clone(), s.clone()))
    }

    /// Ends the session `id`.
    pub fn end(&self, id: &str) {
        if let Ok(mut all) = self.0.lock() {
            all.remove(id);
        }
    }
}

/// The value of cookie `name` in `headers`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether a request with `method` and `headers` is a write from another site (its
/// `Sec-Fetch-Site` says `cross-site`, or its `Origin` is not this host).
pub fn cross_site_write(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (text("origin"), text("host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
            !origin_host.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

/// Whether a cookie-signed request may go on: reads always, writes with the session's
/// CSRF token.
pub fn csrf_ok(method: &Method, headers: &HeaderMap, session: &Session) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        || headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|t| same(t, &session.csrf))
}

/// The `Set-Cookie` value of session `id` (`None`: the cookie that signs out).
pub fn set_cookie(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", SESSION_TTL.as_secs()),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    }
}

/// Answers `/api/session`: `POST` signs in, `GET` says who is signed in, `DELETE` signs out.
pub async fn answer(gate: &super::auth::Gate, current: Option<(String, Session)>, request: Request) -> Response {
    let method = request.method().clone();
    let bearer = super::auth::bearer(request.headers()).map(str::to_string);
    let me =
        |name: &str, role: Role, csrf: Option<&str>| Json(json!({ "name": name, "role": role.as_str(), "csrf": csrf }));
    let unauthorized = |why: &str| (StatusCode::UNAUTHORIZED, Json(json!({ "error": why }))).into_response();
    let Some(tokens) = &gate.tokens else {
        // Loopback without tokens: everyone is the loopback admin; there is nothing to sign in to.
        return me("loopback", Role::Admin, None).into_response();
    };
    match method {
        Method::POST => {
            let body = axum::body::to_bytes(request.into_body(), 4096).await.unwrap_or_default();
            let token = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_string))
                .unwrap_or_default();
            let Some((name, role)) = tokens.identify(token.trim().as_bytes()) else {
                tracing::warn!("console sign-in refused: wrong token");
                return unauthorized("that is not a token of this engine");
            };
            match gate.sessions.start(name, role) {
                Ok((id, session)) => {
                    tracing::info!(who = %name, role = role.as_str(), "console signed in");
                    ([(header::SET_COOKIE, set_cookie(Some(&id)))], me(name, role, Some(&session.csrf))).into_response()
                }
                Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": e }))).into_response(),
            }
        }
        Method::GET => match (bearer.as_deref().and_then(|t| tokens.identify(t.as_bytes())), current) {
            (Some((name, role)), _) => me(name, role, None).into_response(),
            (None, Some((_, s))) => me(&s.name, s.role, Some(&s.csrf)).into_response(),
            (None, None) => unauthorized("not signed in"),
        },
        Method::DELETE => {
            if let Some((id, _)) = current {
                gate.sessions.end(&id);
            }
            ([(header::SET_COOKIE, set_cookie(None))], Json(json!({ "signed_out": true }))).into_response()
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "error": "GET, POST or DELETE" }))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_its_writes_need_its_csrf_token() {
        let sessions = Sessions::default();
        let (id, s) = sessions.start("ops", Role::Operator).expect("session");
        assert_eq!((id.len(), s.csrf.len()), (64, 64));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("theme=dark; {COOKIE}={id}")).expect("cookie"));
        let (found, s) = sessions.of(&h).expect("found");
        assert_eq!((found.as_str(), s.name.as_str()), (id.as_str(), "ops"));
        assert!(csrf_ok(&Method::GET, &h, &s));
        assert!(!csrf_ok(&Method::POST, &h, &s), "a write without the token");
        h.insert(CSRF_HEADER, HeaderValue::from_str(&s.csrf).expect("csrf"));
        assert!(csrf_ok(&Method::POST, &h, &s));
        sessions.end(&id);
        assert!(sessions.of(&h).is_none(), "signed out");
    }

    #[test]
    fn a_write_from_another_site_is_told_apart_from_one_from_the_console() {
        let from = |origin, site| {
            let mut pairs = vec![("host", "127.0.0.1:9840")];
            if let Some(o) = origin {
                pairs.push(("origin", o));
            }
            if let Some(s) = site {
                pairs.push(("sec-fetch-site", s));
            }
            cross_site_write(&Method::POST, &headers(&pairs))
        };
        assert!(!from(Some("http://127.0.0.1:9840"), Some("same-origin")));
        assert!(!from(None, None), "curl and scripts send no Origin");
        assert!(from(Some("https://evil.example"), None));
        assert!(from(None, Some("cross-site")));
        assert!(from(Some("null"), None));
        assert!(
            !cross_site_write(&Method::GET, &headers(&[("origin", "https://evil.example")])),
            "reads are not writes"
        );
    }
}
