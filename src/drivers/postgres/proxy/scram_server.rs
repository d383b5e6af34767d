//! The endpoint's SCRAM-SHA-256 server side (RFC 5802, RFC 7677), for the logins it answers
//! itself when it hands a client a pooled server connection: the client proves it knows the
//! password the endpoint logs in with, exactly as PostgreSQL would check it. The verifier
//! (salt, StoredKey, ServerKey) is derived once per password, off the async threads; no
//! password or key ever appears in an error.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::scram::{hi, hmac};

/// The longest client nonce taken (it is echoed back to the client).
const MAX_CLIENT_NONCE: usize = 256;

/// PBKDF2 rounds the endpoint asks clients for (PostgreSQL's default).
const ITERATIONS: u32 = 4096;

/// What checks a client's SCRAM proof for one password.
#[derive(Clone)]
pub(super) struct Verifier {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(***)")
    }
}

impl Verifier {
    /// Derives a verifier for `password` with a fresh salt (milliseconds of CPU; runs on a
    /// blocking thread).
    pub(super) async fn derive(password: &str) -> Result<Verifier, String> {
        let salt: Vec<u8> = (0..16).map(|_| rand::random::<u8>()).collect();
        let password = match stringprep::saslprep(password) {
            Ok(prepared) => prepared.into_owned().into_bytes(),
            Err(_) => password.as_bytes().to_vec(),
        };
        tokio::task::spawn_blocking(move || Verifier::with_salt(&password, salt, ITERATIONS))
            .await
            .map_err(|_| "the endpoint could not derive its SCRAM verifier".to_string())
    }

    fn with_salt(password: &[u8], salt: Vec<u8>, iterations: u32) -> Verifier {
        let salted = hi(password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        Verifier {
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
            salt,
            iterations,
        }
    }
}

/// One exchange, from the client-first message on.
pub(super) struct Exchange {
    verifier: Verifier,
    gs2_header: String,
    first_bare: String,
    server_first: String,
    nonce: String,
}

impl Exchange {
    /// Reads the client-first message and returns the exchange and the server-first message.
    pub(super) fn start(
        verifier: Verifier,
        client_first: &[u8],
    ) -> Result<(Exchange, String), String> {
        let text = std::str::from_utf8(client_first).map_err(|_| malformed())?;
        // gs2-header: "n,," (no channel binding) or "y,," (client could but thinks the server
        // cannot); "p=…" asks for binding, which needs TLS the endpoint does not offer.
        let (gs2_header, first_bare) = match text.get(..3) {
            Some("n,," | "y,,") => (text[..3].to_string(), text[3..].to_string()),
            _ => return Err("channel binding is not offered by the endpoint".into()),
        };
        let client_nonce = first_bare
            .split(',')
            .find_map(|part| part.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or_else(malformed)?;
        // Echoed back in the server's first message: bounded, as libpq's own are 24 bytes.
        if client_nonce.len() > MAX_CLIENT_NONCE {
            return Err(format!(
                "a client nonce of {} bytes is longer than the {MAX_CLIENT_NONCE} allowed",
                client_nonce.len()
            ));
        }
        let extra: Vec<u8> = (0..18).map(|_| rand::random::<u8>()).collect();
        let nonce = format!("{client_nonce}{}", STANDARD.encode(extra));
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&verifier.salt),
            verifier.iterations
        );
        let exchange = Exchange {
            verifier,
            gs2_header,
            first_bare,
            server_first: server_first.clone(),
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Checks the client-final message; returns the server-final message when the proof holds.
    pub(super) fn finish(self, client_final: &[u8]) -> Result<String, String> {
        let text = std::str::from_utf8(client_final).map_err(|_| malformed())?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(malformed)?;
        let field = |name: &str| {
            without_proof
                .split(',')
                .find_map(|part| part.strip_prefix(name))
        };
        if field("c=") != Some(STANDARD.encode(&self.gs2_header).as_str())
            || field("r=") != Some(self.nonce.as_str())
        {
            return Err(malformed());
        }
        let proof = STANDARD.decode(proof).map_err(|_| malformed())?;
        let auth_message = format!("{},{},{without_proof}", self.first_bare, self.server_first);
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(refused());
        }
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let stored: [u8; 32] = Sha256::digest(&client_key).into();
        if !bool::from(stored.ct_eq(&self.verifier.stored_key)) {
            return Err(refused());
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)))
    }
}

fn malformed() -> String {
    "the client's SCRAM message is malformed".into()
}

fn refused() -> String {
    "the password is wrong".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3 (user "user", password "pencil"), from the server's side.
    #[test]
    fn the_rfc_7677_proof_is_accepted_and_answered_with_its_server_signature() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let verifier = Verifier::with_salt(b"pencil", salt, 4096);
        let (mut exchange, server_first) =
            Exchange::start(verifier, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").expect("starts");
        assert!(server_first.starts_with("r=rOprNGfwEbeRWgbNEkqO"));
        // The RFC's server nonce, to reproduce its proof.
        exchange.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into();
        exchange.server_first = format!("r={},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", exchange.nonce);
        let last = exchange
            .finish(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .expect("the proof holds");
        assert_eq!(last, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    #[test]
    fn a_wrong_proof_a_foreign_nonce_and_channel_binding_are_refused() {
        let verifier = Verifier::with_salt(b"pencil", b"salt".to_vec(), 16);
        let (exchange, server_first) =
            Exchange::start(verifier.clone(), b"n,,n=,r=abc").expect("starts");
        let nonce = server_first[2..]
            .split(',')
            .next()
            .expect("nonce")
            .to_string();
        let wrong = format!("c=biws,r={nonce},p={}", STANDARD.encode([7u8; 32]));
        assert_eq!(exchange.finish(wrong.as_bytes()), Err(refused()));
        let (exchange, _) = Exchange::start(verifier.clone(), b"n,,n=,r=abc").expect("starts");
        let foreign = format!("c=biws,r=abcXYZ,p={}", STANDARD.encode([7u8; 32]));
        assert_eq!(exchange.finish(foreign.as_bytes()), Err(malformed()));
        assert!(Exchange::start(verifier, b"p=tls-server-end-point,,n=,r=abc").is_err());
    }
}
