//! Bearer-token authentication and role checks.
//!
//! The config holds only each token's SHA-256. A presented token is hashed
//! and compared with every configured hash in constant time (no early exit,
//! so the timing says nothing about which hash came close). Each route group
//! carries the lowest role it needs; the caller's [`Actor`] is put into the
//! request's extensions for handlers that record who did something.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::config::{Role, TokenConfig};

/// Who is calling: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

/// The configured tokens, or anonymous access when there are none (the
/// daemon refuses to start without tokens on a non-loopback address).
#[derive(Debug)]
pub struct Auth {
    /// Replaced as a whole when the configuration is reloaded (SIGHUP).
    tokens: std::sync::RwLock<Vec<TokenConfig>>,
}

/// The actor name of requests when no tokens are configured.
pub const ANONYMOUS: &str = "anonymous";

impl Auth {
    pub fn new(tokens: Vec<TokenConfig>) -> Auth {
        Auth {
            tokens: std::sync::RwLock::new(tokens),
        }
    }

    pub fn is_open(&self) -> bool {
        self.tokens.read().expect("tokens lock").is_empty()
    }

    /// Takes the tokens of a reloaded configuration.
    pub fn replace(&self, tokens: Vec<TokenConfig>) {
        *self.tokens.write().expect("tokens lock") = tokens;
    }

    /// The caller named by the `Authorization` header, or why there is none.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        if self.is_open() {
            return Ok(Actor {
                name: ANONYMOUS.into(),
                role: Role::Admin,
            });
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized("missing Authorization: Bearer token"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        self.lookup(token)
            .ok_or_else(|| unauthorized("unknown token"))
    }

    /// The token whose hash matches; every configured hash is compared.
    fn lookup(&self, token: &str) -> Option<Actor> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for t in self.tokens.read().expect("tokens lock").iter() {
            if bool::from(digest.ct_eq(&t.sha256)) {
                found = Some(Actor {
                    name: t.name.clone(),
                    role: t.role,
                });
            }
        }
        found
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Middleware: lets the request through when its actor has at least `role`.
pub async fn require(
    State((auth, role)): State<(Arc<Auth>, Role)>,
    mut request: Request,
    next: Next,
) -> Response {
    let actor = match auth.identify(request.headers()) {
        Ok(actor) => actor,
        Err(e) => {
            let mut response = e.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"docvault\""),
            );
            return response;
        }
    };
    if actor.role < role {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {:?} has role {}; this needs {}",
                actor.name,
                role_name(actor.role),
                role_name(role)
            ),
        )
        .into_response();
    }
    request.extensions_mut().insert(actor);
    next.run(request).await
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Reader => "reader",
        Role::Editor => "editor",
        Role::Admin => "admin",
    }
}

/// A fresh random token and the SHA-256 the config stores for it.
pub fn new_token() -> std::io::Result<(String, String)> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(std::io::Error::other)?;
    let token = format!("dvt_{}", hex::encode(secret));
    let sha = hex::encode(Sha256::digest(token.as_bytes()));
    Ok((token, sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let token = |name: &str, role, secret: &str| TokenConfig {
            name: name.into(),
            role,
            sha256: Sha256::digest(secret.as_bytes()).into(),
        };
        Auth::new(vec![
            token("reader-bot", Role::Reader, "r-secret"),
            token("pmo", Role::Editor, "e-secret"),
        ])
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_matched_by_hash() {
        let a = auth();
        let actor = a.identify(&headers("Bearer e-secret")).unwrap();
        assert_eq!(actor.name, "pmo");
        assert_eq!(actor.role, Role::Editor);
        assert_eq!(
            a.identify(&headers("bearer r-secret")).unwrap().role,
            Role::Reader
        );
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_401() {
        let a = auth();
        for h in [
            HeaderMap::new(),
            headers("Bearer wrong"),
            headers("Basic e-secret"),
            headers("Bearer "),
            headers("e-secret"),
        ] {
            let err = a.identify(&h).unwrap_err();
            assert_eq!(err.status, StatusCode::UNAUTHORIZED, "{h:?}");
        }
    }

    #[test]
    fn no_tokens_means_anonymous_admin() {
        let actor = Auth::new(vec![]).identify(&HeaderMap::new()).unwrap();
        assert_eq!(actor.name, ANONYMOUS);
        assert_eq!(actor.role, Role::Admin);
    }

    #[test]
    fn new_tokens_are_random_and_hash_as_the_config_expects() {
        let (t1, h1) = new_token().unwrap();
        let (t2, _) = new_token().unwrap();
        assert_ne!(t1, t2);
        assert_eq!(t1.len(), 4 + 64);
        assert_eq!(h1, hex::encode(Sha256::digest(t1.as_bytes())));
    }
}
