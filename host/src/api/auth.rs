//! Who may use the management API, and as what.
//!
//! The API can resend, edit and purge clinical messages, so anything that reaches it
//! must be trusted. With a token file (`hie run --api-token-file`) every request needs
//! `Authorization: Bearer <token>`; without one the API must stay on loopback, which
//! `hie run` enforces, and a loopback caller is `loopback`, an admin. The file lives on
//! disk, not on the command line, where every local user could read it.
//!
//! The file is one token (that token is `admin`, role admin), or named tokens, one per
//! line: `NAME ROLE TOKEN` (`#` starts a comment). Roles, each including the one before:
//! - `viewer`: states, counts, headers, searches, sessions; no message bodies;
//! - `operator`: bodies, resend, suspend, pause, resume, restart;
//! - `admin`: reload, rollback, purge, packs, lookup tables, the audit trail.
//!
//! # Invariants
//! - Every request passes [`authorize`]: it names the caller, checks the role the
//!   request needs ([`required_role`]) and records what the audit trail keeps
//!   ([`audited`]) before the answer leaves; a body read that cannot be recorded is not
//!   answered (503).
//! - Tokens are compared in time that does not depend on where they differ.

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
    /// Reads the token a client presents from `path`: the file's one token (surrounding
    /// whitespace trimmed), or the token of its first `NAME ROLE TOKEN` line. Refused
    /// when the file cannot be read or the token is shorter than [`MIN_TOKEN_LEN`].
    pub fn load(path: &Path) -> Result<ApiToken, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the API token file {}: {e}", path.display()))?;
        let first = text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).find(|l| !l.is_empty());
        let token = first.and_then(|l| l.split_whitespace().last()).unwrap_or("");
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

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// States, counts, headers; no bodies.
    Viewer,
    /// Bodies and the actions on messages and items.
    Operator,
    /// Everything: reload, rollback, purge, packs, lookups, the audit trail.
    Admin,
}

impl Role {
    /// Reads `viewer`, `operator` or `admin` (any case).
    pub fn parse(text: &str) -> Option<Role> {
        match text.to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// Who is calling: put on every request by [`authorize`] for the handlers.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's name (`loopback` without tokens).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The peer's address.
    pub from: String,
}

/// The tokens the engine accepts, each with a name and a role.
#[derive(Clone, Debug)]
pub struct Tokens(Arc<[(String, Role, ApiToken)]>);

impl Tokens {
    /// Reads a token file: one bare token (admin), or `NAME ROLE TOKEN` lines. Refused,
    /// naming the line, when a line does not read, a role is unknown, a name repeats or
    /// a token is shorter than [`MIN_TOKEN_LEN`].
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the API token file {}: {e}", path.display()))?;
        Tokens::parse(&text).map_err(|e| format!("API token file {}: {e}", path.display()))
    }

    /// [`Tokens::load`] over the file's text.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.split('#').next().unwrap_or("").trim()))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        let short = |line: usize, len: usize| {
            format!(
                "line {line}: the token is {len} characters long; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)"
            )
        };
        if let [(n, only)] = lines.as_slice()
            && !only.contains(char::is_whitespace)
        {
            if only.len() < MIN_TOKEN_LEN {
                return Err(short(*n, only.len()));
            }
            return Ok(Tokens(Arc::from(vec![(
                "admin".to_string(),
                Role::Admin,
                ApiToken(Arc::from(only.as_bytes())),
            )])));
        }
        let mut out: Vec<(String, Role, ApiToken)> = Vec::new();
        for (n, line) in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, role, token] = fields.as_slice() else {
                return Err(format!("line {n}: expected `NAME ROLE TOKEN` (role viewer, operator or admin)"));
            };
            let role = Role::parse(role)
                .ok_or_else(|| format!("line {n}: unknown role {role:?}: expected viewer, operator or admin"))?;
            if token.len() < MIN_TOKEN_LEN {
                return Err(short(n, token.len()));
            }
            if out.iter().any(|(other, _, _)| other == name) {
                return Err(format!("line {n}: the name {name:?} is used twice"));
            }
            out.push((name.to_string(), role, ApiToken(Arc::from(token.as_bytes()))));
        }
        if out.is_empty() {
            return Err("no token in the file".to_string());
        }
        Ok(Tokens(Arc::from(out)))
    }

    /// The name and role of the token `presented`, if it is one of them.
    pub(super) fn identify(&self, presented: &[u8]) -> Option<(&str, Role)> {
        // Every token is compared, so the time taken says nothing about which matched.
        let mut found = None;
        for (name, role, token) in self.0.iter() {
            if token.matches(presented) && found.is_none() {
                found = Some((name.as_str(), *role));
            }
        }
        found
    }
}

/// The role a request needs.
pub fn required_role(method: &axum::http::Method, path: &str) -> Role {
    use axum::http::Method;
    let admin = path == "/api/reload"
        || path.starts_with("/api/packs")
        || path.starts_with("/api/config/rollback")
        || path.starts_with("/api/config/versions/")
        || path == "/api/purge"
        || path == "/api/audit"
        || (path.starts_with("/api/lookups") && method != Method::GET);
    if admin {
        return Role::Admin;
    }
    if method != Method::GET {
        return Role::Operator;
    }
    // A message's own page holds its body: viewers get it without (the handler strips it).
    Role::Viewer
}

/// What the audit trail records of a request (`None`: nothing): every action that is
/// not a read, and every read of a message body.
pub fn audited(method: &axum::http::Method, path: &str, role: Role) -> Option<&'static str> {
    use axum::http::Method;
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if *method == Method::GET {
        return match parts.as_slice() {
            ["", "api", "messages", id] if id.parse::<u64>().is_ok() && role >= Role::Operator => Some("read-body"),
            _ => None,
        };
    }
    Some(match parts.as_slice() {
        [.., "resend"] => "resend",
        [.., "resend-suspended"] => "resend-suspended",
        [.., "suspend"] => "suspend",
        [.., "pause"] => "pause",
        [.., "resume"] => "resume",
        [.., "restart"] => "restart",
        ["", "api", "purge"] => "purge",
        ["", "api", "reload"] => "reload",
        ["", "api", "config", "rollback", ..] => "rollback",
        ["", "api", "packs", ..] => "pack-reload",
        ["", "api", "lookups", ..] => "lookup-edit",
        _ => "write",
    })
}

/// Whether the token file can be read by other users (worth a warning: the token is a
/// key to every message).
pub fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o077 != 0).unwrap_or(false)
}

/// What [`authorize`] needs: the tokens (none: loopback, every caller an admin), the
/// console's sessions and the audit trail.
#[derive(Clone)]
pub struct Gate {
    /// The accepted tokens; `None` when the API runs on loopback without them.
    pub tokens: Option<Tokens>,
    /// Browsers signed in with a token ([`super::session`]).
    pub sessions: super::session::Sessions,
    /// Where audited actions are recorded.
    pub audit: Arc<crate::audit::AuditLog>,
}

/// Paths anyone may fetch: the console's page and assets (they hold no data), and the
/// sign-in itself.
fn public(method: &axum::http::Method, path: &str) -> bool {
    path == "/"
        || path == "/console"
        || path.starts_with("/console/")
        || (path == "/api/session" && method == axum::http::Method::POST)
}

/// The peer of a connection, put on its requests by the server.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

fn refuse(status: StatusCode, text: String) -> Response {
    let mut response = super::ApiError(status, text).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    response
}

/// The bearer token of a request's `Authorization` header (the scheme is
/// case-insensitive, RFC 9110).
pub(super) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")))
        .map(|(_, t)| t.trim())
}

/// The middleware: names the caller (401 without a right token), checks the role the
/// request needs (403), runs it and records it in the audit trail when it is audited.
pub async fn authorize(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let from = request.extensions().get::<Peer>().map(|p| p.0.to_string()).unwrap_or_default();
    if super::session::cross_site_write(request.method(), request.headers()) {
        tracing::warn!(path = %request.uri().path(), %from, "management API write refused: it came from another site");
        return refuse(StatusCode::FORBIDDEN, "a write from another site is refused".into());
    }
    let cookie_session = gate.sessions.of(request.headers());
    if request.uri().path() == "/api/session" {
        return super::session::answer(&gate, cookie_session, request).await;
    }
    let anonymous = public(request.method(), request.uri().path());
    let caller = match &gate.tokens {
        None => Caller { name: "loopback".into(), role: Role::Admin, from },
        Some(tokens) => {
            let presented = bearer(request.headers());
            match (presented.and_then(|t| tokens.identify(t.as_bytes())), cookie_session) {
                (Some((name, role)), _) => Caller { name: name.to_string(), role, from },
                (None, Some((_, session))) => {
                    if !super::session::csrf_ok(request.method(), request.headers(), &session) {
                        tracing::warn!(who = %session.name, path = %request.uri().path(), "console write refused: no CSRF token");
                        return refuse(
                            StatusCode::FORBIDDEN,
                            format!("a write signed in by cookie needs the {} header", super::session::CSRF_HEADER),
                        );
                    }
                    Caller { name: session.name, role: session.role, from }
                }
                (None, None) if anonymous => return next.run(request).await,
                (None, None) => {
                    tracing::warn!(path = %request.uri().path(), %from, "management API request refused: missing or wrong bearer token");
                    return refuse(
                        StatusCode::UNAUTHORIZED,
                        "this API needs `Authorization: Bearer <token>` (hie: --api-token-file)".into(),
                    );
                }
            }
        }
    };
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let needed = required_role(&method, &path);
    let action = audited(&method, &path, caller.role);
    // A refused action is recorded too: the trail shows who tried what.
    let response = if caller.role < needed {
        tracing::warn!(who = %caller.name, role = caller.role.as_str(), %path, "management API request refused: role too low");
        refuse(
            StatusCode::FORBIDDEN,
            format!(
                "{} {path} needs the {} role; {} is {}",
                method,
                needed.as_str(),
                caller.name,
                caller.role.as_str()
            ),
        )
    } else {
        request.extensions_mut().insert(caller.clone());
        next.run(request).await
    };
    let Some(action) = action else { return response };
    let entry = crate::audit::AuditEntry {
        time: crate::audit::now(),
        who: caller.name.clone(),
        role: caller.role.as_str().to_string(),
        action: action.to_string(),
        target: format!("{method} {path}"),
        from: caller.from.clone(),
        status: response.status().as_u16(),
    };
    let audit = gate.audit.clone();
    let failed = match tokio::task::spawn_blocking(move || audit.record(&entry)).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(format!("the audit writer failed: {e}")),
    };
    match failed {
        None => response,
        Some(why) if action == "read-body" => {
            tracing::error!(error = %why, %path, "a message body was not shown: its read cannot be audited");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the audit trail cannot be written, so no body is shown: {why}"),
            )
        }
        Some(why) => {
            tracing::error!(error = %why, %path, action, "an API action was done but could not be audited");
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

    #[test]
    fn a_token_file_is_one_admin_token_or_named_tokens_with_roles() {
        let one = Tokens::parse("  0123456789abcdef0123\n").expect("one token");
        assert_eq!(one.identify(b"0123456789abcdef0123"), Some(("admin", Role::Admin)));
        let named = Tokens::parse(
            "# who may use the API\nward-view viewer aaaaaaaaaaaaaaaa1\nops operator bbbbbbbbbbbbbbbb2 # the night shift\nroot ADMIN cccccccccccccccc3\n",
        )
        .expect("named tokens");
        assert_eq!(named.identify(b"aaaaaaaaaaaaaaaa1"), Some(("ward-view", Role::Viewer)));
        assert_eq!(named.identify(b"bbbbbbbbbbbbbbbb2"), Some(("ops", Role::Operator)));
        assert_eq!(named.identify(b"cccccccccccccccc3"), Some(("root", Role::Admin)));
        assert_eq!(named.identify(b"dddddddddddddddd4"), None);
        let err = |t: &str| Tokens::parse(t).unwrap_err();
        assert!(err("a viewer short\n").contains("line 1: the token is 5 characters long"));
        assert!(err("short\n").contains("line 1: the token is 5 characters long"));
        assert!(err("a boss aaaaaaaaaaaaaaaa1\n").contains("line 1: unknown role \"boss\""));
        assert!(
            err("a viewer aaaaaaaaaaaaaaaa1\na admin bbbbbbbbbbbbbbbb2\n")
                .contains("line 2: the name \"a\" is used twice")
        );
        assert!(err("x y\n").contains("line 1: expected `NAME ROLE TOKEN`"));
        assert!(err("# nothing\n").contains("no token"));
    }

    #[test]
    fn reads_need_a_viewer_actions_an_operator_and_engine_wide_changes_an_admin() {
        use axum::http::Method;
        let need = |m: Method, p: &str| required_role(&m, p);
        assert_eq!(need(Method::GET, "/api/production"), Role::Viewer);
        assert_eq!(need(Method::GET, "/api/messages/7"), Role::Viewer, "viewers get the header without the body");
        assert_eq!(need(Method::POST, "/api/messages/7/resend"), Role::Operator);
        assert_eq!(need(Method::POST, "/api/items/EPR_Out/pause"), Role::Operator);
        for p in ["/api/reload", "/api/packs/reload", "/api/config/rollback/3", "/api/purge", "/api/audit"] {
            assert_eq!(need(Method::POST, p), Role::Admin, "{p}");
        }
        assert_eq!(need(Method::GET, "/api/audit"), Role::Admin);
        assert_eq!(need(Method::GET, "/api/config/versions"), Role::Viewer);
        assert_eq!(need(Method::GET, "/api/config/versions/2"), Role::Admin, "a production file may hold credentials");
        assert_eq!(need(Method::GET, "/api/lookups/Sex"), Role::Viewer);
        assert_eq!(need(Method::PUT, "/api/lookups/Sex/M"), Role::Admin);
    }

    #[test]
    fn body_reads_and_every_action_are_audited_and_other_reads_are_not() {
        use axum::http::Method;
        assert_eq!(audited(&Method::GET, "/api/messages/7", Role::Operator), Some("read-body"));
        assert_eq!(audited(&Method::GET, "/api/messages/7", Role::Viewer), None, "a viewer reads no body");
        assert_eq!(audited(&Method::GET, "/api/messages", Role::Admin), None);
        assert_eq!(audited(&Method::GET, "/api/production", Role::Admin), None);
        assert_eq!(audited(&Method::POST, "/api/messages/7/resend", Role::Operator), Some("resend"));
        assert_eq!(audited(&Method::POST, "/api/messages/7/suspend", Role::Operator), Some("suspend"));
        assert_eq!(audited(&Method::POST, "/api/purge", Role::Admin), Some("purge"));
        assert_eq!(audited(&Method::POST, "/api/config/rollback/2", Role::Admin), Some("rollback"));
        assert_eq!(audited(&Method::POST, "/api/packs/reload", Role::Admin), Some("pack-reload"));
        assert_eq!(audited(&Method::POST, "/api/items/A/pause", Role::Operator), Some("pause"));
    }
}
