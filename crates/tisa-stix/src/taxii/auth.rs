//! TAXII clients' credentials: HTTP Basic (`user:password`) or a bearer
//! token (`<user>.<secret>`), each stored only as an Argon2id PHC string
//! (`tisa taxii --hash-secret`). Verification is argon2's (`password-hash`
//! compares the derived outputs in constant time, through `subtle`); an
//! unknown user is verified against a dummy hash, so a wrong name costs the
//! same time as a wrong password.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use subtle::ConstantTimeEq;

/// Argon2id cost of new hashes: 19 MiB, 2 passes, 1 lane (OWASP's first
/// recommendation: cheap enough to verify on every request).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string to store for `secret`.
pub fn hash_secret(secret: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `secret` matches the stored PHC string (false on a malformed one).
pub fn verify(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(secret.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// One client's stored credentials.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The user (a reader in the party's roster).
    pub name: String,
    /// Argon2id PHC string of the Basic password.
    pub password_hash: Option<String>,
    /// Argon2id PHC string of the bearer token's secret.
    pub token_hash: Option<String>,
}

/// What an `Authorization` header claims.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    Basic { user: String, password: String },
    Bearer { user: String, secret: String },
}

fn claim(header: &str) -> Option<Claim> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, password) = text.split_once(':')?;
        return Some(Claim::Basic { user: user.to_owned(), password: password.to_owned() });
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let (user, secret) = rest.split_once('.')?;
        return Some(Claim::Bearer { user: user.to_owned(), secret: secret.to_owned() });
    }
    None
}

/// A hash nobody's secret matches, verified for unknown users.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Z4UnpLrn0x8Xq9AmbzGWMhz0p7VHxNo1qcOuLxvxZ0g";

/// The index in `users` of the user the header authenticates, if any.
/// Runs Argon2: call it off the async threads.
pub fn authenticate(users: &[Stored], header: Option<&str>) -> Option<usize> {
    let claim = claim(header?)?;
    let (name, secret, basic) = match &claim {
        Claim::Basic { user, password } => (user, password, true),
        Claim::Bearer { user, secret } => (user, secret, false),
    };
    // Names are not secret; compare them in constant time all the same.
    let found = users.iter().position(|u| bool::from(u.name.as_bytes().ct_eq(name.as_bytes())));
    let stored =
        found.and_then(|i| if basic { users[i].password_hash.as_deref() } else { users[i].token_hash.as_deref() });
    let ok = verify(secret, stored.unwrap_or(DUMMY));
    (ok && stored.is_some()).then_some(found).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer() {
        let users = vec![Stored {
            name: "kr-misp".into(),
            password_hash: Some(hash_secret("pw-1").unwrap()),
            token_hash: Some(hash_secret("tok").unwrap()),
        }];
        let basic = |u: &str, p: &str| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
        };
        assert_eq!(authenticate(&users, Some(&basic("kr-misp", "pw-1"))), Some(0));
        assert_eq!(authenticate(&users, Some(&basic("kr-misp", "pw-2"))), None);
        assert_eq!(authenticate(&users, Some(&basic("jp-misp", "pw-1"))), None);
        assert_eq!(authenticate(&users, Some("Bearer kr-misp.tok")), Some(0));
        assert_eq!(authenticate(&users, Some("Bearer kr-misp.pw-1")), None, "a password is not a token");
        assert_eq!(authenticate(&users, None), None);
        assert_eq!(authenticate(&users, Some("Digest x")), None);
        // The stored form is a hash, never the secret.
        assert!(!users[0].password_hash.as_deref().unwrap().contains("pw-1"));
        let no_token = vec![Stored { token_hash: None, ..users[0].clone() }];
        assert_eq!(authenticate(&no_token, Some("Bearer kr-misp.tok")), None);
    }
}
