//! The HTTP client the command-line tools use to talk to the running daemon.

use std::path::Path;

use anyhow::Context;

use crate::config::Config;

/// A client for the daemon named by the configuration's `server.listen`.
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    /// `DOCVAULT_URL` overrides the address; `DOCVAULT_TOKEN` is sent as a bearer token.
    pub fn from_config(config: Option<&Path>) -> anyhow::Result<Client> {
        let base = match std::env::var("DOCVAULT_URL") {
            Ok(url) => url.trim_end_matches('/').to_owned(),
            Err(_) => {
                let config = Config::load(&Config::locate(config)?)?;
                let mut addr = config.server.listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
        };
        let token = std::env::var("DOCVAULT_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        Ok(Client {
            base,
            http: reqwest::Client::new(),
            token,
        })
    }

    /// GETs `route` (already encoded); an error status becomes the API's message.
    pub async fn get(&self, route: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{route}", self.base);
        self.send(self.http.get(&url)).await
    }

    /// POSTs a JSON body to `route` (already encoded).
    pub async fn post(
        &self,
        route: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{route}", self.base);
        self.send(self.http.post(&url).json(body)).await
    }

    /// DELETEs `route` (already encoded).
    pub async fn delete(&self, route: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{route}", self.base);
        self.send(self.http.delete(&url)).await
    }

    async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.with_context(|| {
            format!(
                "cannot reach docvault at {} (is `docvault serve` running?)",
                self.base
            )
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_owned();
        anyhow::bail!("{message} (HTTP {})", status.as_u16())
    }
}

/// Percent-encodes each segment of a document path for a URL.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            percent_encoding::utf8_percent_encode(seg, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A current-thread runtime for one client command.
pub fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f))
}
