//! Bearer tokens with two roles. The server keeps only SHA-256 digests of tokens and compares
//! them in constant time; a token never reaches a log, an event or an error message.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and the event stream.
    Viewer,
    /// Everything.
    Operator,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// Who is calling: the token's name (the actor recorded in events) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

#[derive(Clone)]
struct Entry {
    principal: Principal,
    digest: [u8; 32],
}

/// The tokens a server accepts.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} entries)", self.entries.len())
    }
}

/// The SHA-256 of a token, as hex: what a tokens file stores.
#[must_use]
pub fn digest_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits, hex).
#[must_use]
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("lst_{}", hex::encode(bytes))
}

impl Tokens {
    /// Parses a tokens file: one `name, role, sha256hex` per line; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [name, role, digest] = fields.as_slice() else {
                return Err(format!(
                    "line {}: expected `name, role, sha256hex`, found {} field(s)",
                    n + 1,
                    fields.len()
                ));
            };
            if name.is_empty() {
                return Err(format!("line {}: the token's name is empty", n + 1));
            }
            let role = Role::parse(role).ok_or_else(|| {
                format!(
                    "line {}: unknown role '{role}': use viewer or operator",
                    n + 1
                )
            })?;
            let digest: [u8; 32] = hex::decode(digest)
                .ok()
                .and_then(|d| d.try_into().ok())
                .ok_or_else(|| {
                    format!(
                        "line {}: the third field must be the token's SHA-256 as 64 hex digits (`printf %s TOKEN | sha256sum`)",
                        n + 1
                    )
                })?;
            entries.push(Entry {
                principal: Principal {
                    name: (*name).to_string(),
                    role,
                },
                digest,
            });
        }
        if entries.is_empty() {
            return Err("the tokens file has no token".into());
        }
        Ok(Tokens { entries })
    }

    /// Reads and parses a tokens file.
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
        Tokens::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// One token of `role` named `name`.
    #[must_use]
    pub fn single(name: &str, role: Role, token: &str) -> Tokens {
        Tokens {
            entries: vec![Entry {
                principal: Principal {
                    name: name.to_string(),
                    role,
                },
                digest: Sha256::digest(token.as_bytes()).into(),
            }],
        }
    }

    /// Adds a token.
    pub fn add(&mut self, name: &str, role: Role, token: &str) {
        self.entries
            .extend(Tokens::single(name, role, token).entries);
    }

    /// Who holds `token`, if anyone. Looks at every entry, whatever matches, in constant time
    /// per entry, so timing tells nothing about how close a guess was.
    #[must_use]
    pub fn check(&self, token: &str) -> Option<Principal> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for e in &self.entries {
            if bool::from(e.digest.ct_eq(&presented)) && found.is_none() {
                found = Some(e.principal.clone());
            }
        }
        found
    }
}

/// Paths anyone may read.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/v1/openapi.json")
}

/// Checks the bearer token, then the role: reads for viewers, everything for operators.
pub async fn require_token(
    State(tokens): State<Arc<Tokens>>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(presented) = presented else {
        return unauthorized("this endpoint needs a token: send `Authorization: Bearer TOKEN`");
    };
    let Some(principal) = tokens.check(presented) else {
        return unauthorized("the token is not known to this server: check --token");
    };
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads && principal.role != Role::Operator {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "'{}' holds a viewer token, which reads only: ask for an operator token to change anything",
                principal.name
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

fn unauthorized(message: &str) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_tokens_file_and_checks_tokens_by_digest() {
        let text = format!(
            "# team tokens\nalice, operator, {}\nbob, viewer, {}\n\n",
            digest_hex("a-secret"),
            digest_hex("b-secret")
        );
        let tokens = Tokens::parse(&text).expect("parses");
        assert_eq!(
            tokens.check("a-secret"),
            Some(Principal {
                name: "alice".into(),
                role: Role::Operator
            })
        );
        assert_eq!(tokens.check("b-secret").map(|p| p.role), Some(Role::Viewer));
        assert_eq!(tokens.check("guess"), None);
    }

    #[test]
    fn refuses_a_tokens_file_line_that_is_not_name_role_digest() {
        let err = Tokens::parse("alice, admin, 00").expect_err("bad role");
        assert!(err.contains("line 1") && err.contains("admin"), "{err}");
        let err = Tokens::parse("alice, viewer, xyz").expect_err("bad digest");
        assert!(err.contains("SHA-256"), "{err}");
        assert!(Tokens::parse("# nothing\n").is_err());
    }

    #[test]
    fn new_tokens_differ_and_never_appear_in_debug_output() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        let tokens = Tokens::single("ops", Role::Operator, &a);
        assert!(!format!("{tokens:?}").contains(&a));
    }
}
