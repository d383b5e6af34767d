//! The endpoint's SCRAM-SHA-256 client (RFC 5802, RFC 7677) for its own logins: warm
//! connections opened ahead of a flip and sessions re-bound to a new upstream. The salted
//! password (4096 rounds of PBKDF2 by default, milliseconds of CPU) is remembered per salt,
//! iteration count and password, so only the first login to a server pays for it; a switchover
//! that opens a dozen logins at once otherwise starves the sessions it is moving of CPU. The
//! first derivation runs off the async threads.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The most PBKDF2 rounds a server may ask for (a hostile server could otherwise make the
/// proxy spin).
const MAX_ITERATIONS: u32 = 1_000_000;
/// Salted passwords remembered (one per server and role in practice).
const REMEMBERED: usize = 64;

type Key = (Vec<u8>, u32, [u8; 32]);

fn remembered() -> &'static Mutex<HashMap<Key, [u8; 32]>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, [u8; 32]>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// One SCRAM exchange.
pub struct Scram {
    password: Vec<u8>,
    nonce: String,
    first_bare: String,
    /// After the proof: the salted password and the auth message, to check the server.
    sent: Option<([u8; 32], String)>,
}

impl Scram {
    /// Starts an exchange; returns it and the client-first message.
    #[must_use]
    pub fn start(password: &str) -> (Scram, String) {
        let nonce: String = (0..24)
            .map(|_| {
                let c = rand::random_range(0x21u8..0x7e);
                char::from(if c == b',' { b'~' } else { c })
            })
            .collect();
        Scram::with_nonce(password, "", nonce)
    }

    fn with_nonce(password: &str, user: &str, nonce: String) -> (Scram, String) {
        let first_bare = format!("n={user},r={nonce}");
        let first = format!("n,,{first_bare}");
        let password = match stringprep::saslprep(password) {
            Ok(prepared) => prepared.into_owned().into_bytes(),
            Err(_) => password.as_bytes().to_vec(),
        };
        let scram = Scram {
            password,
            nonce,
            first_bare,
            sent: None,
        };
        (scram, first)
    }

    /// Answers the server-first message with the client-final message (and its proof).
    pub async fn proof(&mut self, server_first: &[u8]) -> Result<String, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "the server's SCRAM message is not text".to_string())?;
        let (nonce, salt, iterations) = parse_first(server_first)?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's SCRAM nonce does not extend the proxy's".into());
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| "the server's SCRAM salt is not base64".to_string())?;
        let salted = salted_password(&self.password, salt, iterations).await?;
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.sent = Some((salted, auth_message));
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)))
    }

    /// Checks the server-final message: the server proves it knows the password too.
    pub fn verify(&mut self, server_final: &[u8]) -> Result<(), String> {
        let (salted, auth_message) = self
            .sent
            .take()
            .ok_or("the server ended SCRAM before the proxy's proof")?;
        let text = std::str::from_utf8(server_final).unwrap_or_default();
        if let Some(error) = text.strip_prefix("e=") {
            return Err(format!("the server refused the SCRAM login: {error}"));
        }
        let verifier = text
            .split(',')
            .find_map(|part| part.strip_prefix("v="))
            .and_then(|v| STANDARD.decode(v).ok())
            .ok_or("the server's SCRAM signature is missing")?;
        let server_key = hmac(&salted, b"Server Key");
        let expected = hmac(&server_key, auth_message.as_bytes());
        if bool::from(expected.ct_eq(verifier.as_slice())) {
            Ok(())
        } else {
            Err("the server's SCRAM signature did not verify".into())
        }
    }
}

fn parse_first(message: &str) -> Result<(&str, &str, u32), String> {
    let field = |name: &str| {
        message
            .split(',')
            .find_map(|part| part.strip_prefix(name))
            .ok_or_else(|| format!("the server's SCRAM message lacks {name}"))
    };
    let iterations: u32 = field("i=")?
        .parse()
        .map_err(|_| "the server's SCRAM iteration count is not a number".to_string())?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(format!(
            "the server asks for {iterations} SCRAM iterations (at most {MAX_ITERATIONS})"
        ));
    }
    Ok((field("r=")?, field("s=")?, iterations))
}

/// The salted password, remembered, or derived off the async threads.
async fn salted_password(password: &[u8], salt: Vec<u8>, i: u32) -> Result<[u8; 32], String> {
    let key: Key = (salt, i, Sha256::digest(password).into());
    let lock = || {
        remembered()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(salted) = lock().get(&key) {
        return Ok(*salted);
    }
    let password = password.to_vec();
    let salt = key.0.clone();
    let salted = tokio::task::spawn_blocking(move || hi(&password, &salt, i))
        .await
        .map_err(|_| "the SCRAM derivation failed".to_string())?;
    let mut cache = lock();
    if cache.len() >= REMEMBERED {
        cache.clear();
    }
    cache.insert(key, salted);
    Ok(salted)
}

/// PBKDF2-HMAC-SHA-256 with one block (RFC 5802's Hi).
pub(super) fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

pub(super) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC accepts every key length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3: user "user", password "pencil".
    #[tokio::test]
    async fn the_rfc_7677_exchange_gives_its_proof_and_accepts_its_server_signature() {
        let (mut scram, first) = Scram::with_nonce("pencil", "user", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(first, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let last = scram.proof(server_first.as_bytes()).await.expect("proof");
        assert_eq!(
            last,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram
            .verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .expect("the server's signature verifies");
        // The second exchange with the same salt uses the remembered salted password and
        // gives the same proof.
        let (mut again, _) = Scram::with_nonce("pencil", "user", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(
            again.proof(server_first.as_bytes()).await.expect("proof"),
            last
        );
    }

    #[tokio::test]
    async fn a_wrong_server_signature_a_foreign_nonce_and_a_huge_iteration_count_are_refused() {
        let (mut scram, _) = Scram::with_nonce("pencil", "user", "abc".into());
        assert!(scram.proof(b"r=xyz123,s=QUJD,i=4096").await.is_err());
        assert!(scram.proof(b"r=abc123,s=QUJD,i=99999999").await.is_err());
        let (mut scram, _) = Scram::with_nonce("pencil", "user", "abc".into());
        scram.proof(b"r=abc123,s=QUJD,i=16").await.expect("proof");
        assert!(scram.verify(b"v=AAAA").is_err());
        let (mut scram, _) = Scram::with_nonce("pencil", "user", "abc".into());
        scram.proof(b"r=abc123,s=QUJD,i=16").await.expect("proof");
        let refused = scram.verify(b"e=invalid-proof").expect_err("refused");
        assert!(refused.contains("invalid-proof") && !refused.contains("pencil"));
    }
}
