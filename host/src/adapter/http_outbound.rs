//! HTTP outbound: a small HTTP/1.1 client for operations that call web services
//! (demographics lookups, FHIR endpoints).
//!
//! Settings (IRIS EnsLib.HTTP.OutboundAdapter names): `HTTPServer`, `HTTPPort` (80),
//! `URL` (path prefix), `ConnectTimeout` (5), `ResponseTimeout` (30), `SSLConfig` (HTTPS:
//! a TLS configuration, see [`super::tls`]). Call parameters:
//! `Method` (GET when the body is empty, else POST), `Path` (appended to URL),
//! `ContentType`. The reply body comes back with parameter `Status`. One connection per
//! call (`Connection: close`): simple, and lookups are not the hot path.

use super::{AdapterResult, AdapterSettings, OutboundAdapter, SettingsSource};
use futures::future::BoxFuture;
use hie_plugin_api::abi::{ErrorKind, PluginError};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connection settings.
struct Config {
    host: String,
    /// HTTPS (`SSLConfig`); `None` = plain HTTP.
    tls: Option<super::tls::Connector>,
    port: u16,
    url: String,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
}

/// The HTTP client of one operation.
pub struct HttpClient {
    config: Arc<Config>,
}

impl HttpClient {
    /// A client for the settings.
    pub fn new(settings: &AdapterSettings) -> Result<Self, String> {
        let host = settings.text("HTTPServer");
        if host.is_empty() {
            return Err("adapter setting HTTPServer is required".into());
        }
        let port = match settings.present("HTTPPort") {
            Some(p) => hie_plugin_api::settings::parse_port(&p).map_err(|e| e.named("HTTPPort").to_string())?,
            None => 80,
        };
        let e = |e: hie_plugin_api::settings::NamedSettingError| e.to_string();
        Ok(HttpClient {
            config: Arc::new(Config {
                tls: super::tls::connector(settings, &host),
                host,
                port,
                url: settings.text("URL"),
                connect_timeout: settings
                    .seconds_or("ConnectTimeout", Some(Duration::from_secs(5)))
                    .map_err(e)?
                    .unwrap_or(Duration::from_secs(5)),
                response_timeout: settings.seconds_or("ResponseTimeout", Some(Duration::from_secs(30))).map_err(e)?,
            }),
        })
    }
}

/// A parsed HTTP response.
struct Response {
    status: u16,
    body: Vec<u8>,
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("response has no header end")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("response has no status")?;
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).map_err(|e| e.to_string())?;
            if size == 0 || rest.len() < eol + 2 + size {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[(eol + 4 + size).min(rest.len())..];
        }
        body = out;
    } else if let Some(len) = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
    }) && body.len() < len
    {
        // A connection cut short: never take half a body for the whole answer.
        return Err(format!("response body cut short: {} of {len} bytes", body.len()));
    }
    Ok(Response { status, body })
}

impl OutboundAdapter for HttpClient {
    fn call(&self, body: Vec<u8>, params: Vec<(String, String)>) -> BoxFuture<'static, AdapterResult> {
        let config = self.config.clone();
        Box::pin(async move {
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let method = get("Method").unwrap_or_else(|| if body.is_empty() { "GET".into() } else { "POST".into() });
            let path = format!("{}{}", config.url, get("Path").unwrap_or_default());
            let path = if path.starts_with('/') { path } else { format!("/{path}") };
            let address = format!("{}:{}", config.host, config.port);
            let connect = async {
                let tcp = tokio::net::TcpStream::connect(&address).await?;
                super::tls::over(tcp, config.tls.as_ref()).await
            };
            let mut stream = match tokio::time::timeout(config.connect_timeout, connect).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return Err(PluginError::new(ErrorKind::Disconnected, format!("cannot connect to {address}: {e}")));
                }
                Err(_) => {
                    return Err(PluginError::new(
                        ErrorKind::Disconnected,
                        format!("cannot connect to {address}: timed out"),
                    ));
                }
            };
            let mut request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
                config.host,
                body.len()
            );
            if let Some(ct) = get("ContentType") {
                request.push_str(&format!("Content-Type: {ct}\r\n"));
            }
            request.push_str("\r\n");
            let exchange = async {
                stream.write_all(request.as_bytes()).await?;
                stream.write_all(&body).await?;
                stream.flush().await?;
                let mut raw = Vec::new();
                match stream.read_to_end(&mut raw).await {
                    Ok(_) => {}
                    // Many HTTPS servers close without TLS's close_notify; what arrived
                    // is kept, and a body shorter than its Content-Length is refused below.
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && config.tls.is_some() => {}
                    Err(e) => return Err(e),
                }
                Ok::<_, std::io::Error>(raw)
            };
            let raw = match config.response_timeout {
                Some(t) => match tokio::time::timeout(t, exchange).await {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(PluginError::new(
                            ErrorKind::Timeout,
                            format!("no response from {address}{path} within {}s", t.as_secs_f64()),
                        ));
                    }
                },
                None => exchange.await,
            }
            .map_err(|e| PluginError::new(ErrorKind::Disconnected, format!("{address}{path}: {e}")))?;
            let response = parse_response(&raw)
                .map_err(|e| PluginError::new(ErrorKind::Failed, format!("{address}{path}: {e}")))?;
            if !(200..300).contains(&response.status) {
                return Err(PluginError::new(
                    ErrorKind::Failed,
                    format!(
                        "{method} {address}{path}: HTTP {}: {}",
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    ),
                ));
            }
            Ok((response.body, vec![("Status".to_string(), response.status.to_string())]))
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    #[test]
    fn chunked_and_plain_responses_are_read() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
        assert_eq!((r.status, r.body), (200, b"hi".to_vec()));
        let r =
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .unwrap();
        assert_eq!(r.body, b"abcde".to_vec());
    }
}
