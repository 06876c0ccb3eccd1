//! Who may use the console: a single-use, short-lived login link shown to
//! the operator at start, then a session (an unguessable id in an
//! `HttpOnly`, `SameSite=Strict` cookie, a fresh one at every login, ended
//! by logout or idleness) with its own CSRF token, which every form must
//! carry. Tokens are compared in constant time.
//!
//! Sans-IO: time comes in as an argument, so the rules are tested on a
//! fake clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "tisa_console";

/// How long a login link stays usable by default.
pub const LOGIN_TTL: Duration = Duration::from_secs(120);
/// How long a session lasts without a request by default.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// How long a session lasts at most, used or not.
pub const MAX_AGE: Duration = Duration::from_secs(8 * 3600);

/// 32 random bytes, hex: a login token, a session id or a CSRF token.
pub fn token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// One logged-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
    started: Instant,
    last_seen: Instant,
}

/// Why a request is not let in.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No session cookie, or one for no (or an ended) session.
    #[error("not logged in (open the login link the console printed when it started)")]
    NoSession,
    /// A login link that is unknown, used already, or too old.
    #[error("this login link is not valid (used already, or expired): restart `tisa console` for a new one")]
    BadLogin,
    /// A form without the session's CSRF token, or with another.
    #[error("this form did not come from this console's session (missing or wrong CSRF token): reload the page")]
    BadCsrf,
}

/// Login links and sessions.
#[derive(Debug)]
pub struct Sessions {
    logins: Vec<(String, Instant)>,
    sessions: HashMap<String, Session>,
    login_ttl: Duration,
    idle: Duration,
}

impl Sessions {
    /// No login link and no session yet.
    pub fn new(login_ttl: Duration, idle: Duration) -> Sessions {
        Sessions { logins: Vec::new(), sessions: HashMap::new(), login_ttl, idle }
    }

    /// A new single-use login token, valid from `now` for the login TTL.
    pub fn issue_login(&mut self, now: Instant) -> String {
        let t = token();
        self.logins.push((t.clone(), now));
        t
    }

    /// Spends a login token: a new session (its id and CSRF token) if the
    /// token is known and fresh. The token is gone either way.
    pub fn login(&mut self, presented: &str, now: Instant) -> Result<(String, Session), Refusal> {
        let ttl = self.login_ttl;
        self.logins.retain(|(_, at)| now.saturating_duration_since(*at) < ttl);
        let found = self.logins.iter().position(|(t, _)| same(t, presented)).ok_or(Refusal::BadLogin)?;
        self.logins.swap_remove(found);
        let id = token();
        let s = Session { csrf: token(), started: now, last_seen: now };
        self.sessions.insert(id.clone(), s.clone());
        Ok((id, s))
    }

    /// The session `id` names, if it is live at `now` (it counts as used).
    pub fn check(&mut self, id: Option<&str>, now: Instant) -> Result<Session, Refusal> {
        let idle = self.idle;
        self.sessions.retain(|_, s| {
            now.saturating_duration_since(s.last_seen) < idle && now.saturating_duration_since(s.started) < MAX_AGE
        });
        let id = id.ok_or(Refusal::NoSession)?;
        // Constant time over each candidate: the map's own lookup would compare early-out.
        let key = self.sessions.keys().find(|k| same(k, id)).cloned().ok_or(Refusal::NoSession)?;
        let s = self.sessions.get_mut(&key).ok_or(Refusal::NoSession)?;
        s.last_seen = now;
        Ok(s.clone())
    }

    /// Whether session `id` is live at `now`, without counting as use (a
    /// page's open live-update stream must not keep an idle session alive).
    pub fn alive(&self, id: &str, now: Instant) -> bool {
        self.sessions.iter().any(|(k, s)| {
            same(k, id)
                && now.saturating_duration_since(s.last_seen) < self.idle
                && now.saturating_duration_since(s.started) < MAX_AGE
        })
    }

    /// [`Sessions::check`], and the form's CSRF token must be the session's.
    pub fn check_form(&mut self, id: Option<&str>, csrf: Option<&str>, now: Instant) -> Result<Session, Refusal> {
        let s = self.check(id, now)?;
        match csrf {
            Some(c) if same(c, &s.csrf) => Ok(s),
            _ => Err(Refusal::BadCsrf),
        }
    }

    /// Ends session `id` (logout).
    pub fn end(&mut self, id: &str) {
        self.sessions.retain(|k, _| !same(k, id));
    }
}

/// The session id in a `Cookie` header's value, if any.
pub fn cookie_session(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|kv| kv.strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The `Set-Cookie` value for a new session (`secure` over TLS).
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{}", if secure { "; Secure" } else { "" })
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> (Sessions, Instant) {
        (Sessions::new(LOGIN_TTL, IDLE), Instant::now())
    }

    #[test]
    fn a_login_link_works_once_and_gives_a_fresh_session_each_time() {
        let (mut s, now) = sessions();
        let t = s.issue_login(now);
        let (id, session) = s.login(&t, now).expect("the first use");
        assert_eq!(s.login(&t, now).unwrap_err(), Refusal::BadLogin, "a second use");
        assert_eq!(s.check(Some(&id), now).unwrap().csrf, session.csrf);
        let t2 = s.issue_login(now);
        let (id2, session2) = s.login(&t2, now).unwrap();
        assert_ne!(id, id2, "rotated at login");
        assert_ne!(session.csrf, session2.csrf);
        assert_eq!(id.len(), 64);
    }

    #[test]
    fn a_login_link_expires() {
        let (mut s, now) = sessions();
        let t = s.issue_login(now);
        assert_eq!(s.login(&t, now + LOGIN_TTL).unwrap_err(), Refusal::BadLogin);
        // Control: within its time it works.
        let t = s.issue_login(now);
        assert!(s.login(&t, now + LOGIN_TTL - Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn unknown_tokens_and_ids_are_refused() {
        let (mut s, now) = sessions();
        s.issue_login(now);
        assert_eq!(s.login(&token(), now).unwrap_err(), Refusal::BadLogin);
        assert_eq!(s.login("", now).unwrap_err(), Refusal::BadLogin);
        assert_eq!(s.check(None, now).unwrap_err(), Refusal::NoSession);
        assert_eq!(s.check(Some(&token()), now).unwrap_err(), Refusal::NoSession);
    }

    #[test]
    fn an_idle_session_ends_and_a_used_one_lives_on() {
        let (mut s, now) = sessions();
        let t = s.issue_login(now);
        let (id, _) = s.login(&t, now).unwrap();
        let half = now + IDLE / 2;
        assert!(s.check(Some(&id), half).is_ok(), "used before it went idle");
        assert!(s.check(Some(&id), half + IDLE - Duration::from_secs(1)).is_ok(), "idle counted from the last use");
        assert_eq!(s.check(Some(&id), half + IDLE * 3).unwrap_err(), Refusal::NoSession);
    }

    #[test]
    fn a_session_ends_at_its_maximum_age_however_busy() {
        let (mut s, now) = sessions();
        let t = s.issue_login(now);
        let (id, _) = s.login(&t, now).unwrap();
        let mut at = now;
        while at < now + MAX_AGE - IDLE {
            at += IDLE / 2;
            assert!(s.check(Some(&id), at).is_ok());
        }
        assert_eq!(s.check(Some(&id), now + MAX_AGE).unwrap_err(), Refusal::NoSession);
    }

    #[test]
    fn a_form_needs_the_sessions_own_csrf_token() {
        let (mut s, now) = sessions();
        let (id, session) = {
            let t = s.issue_login(now);
            s.login(&t, now).unwrap()
        };
        let (_, other) = {
            let t = s.issue_login(now);
            s.login(&t, now).unwrap()
        };
        assert_eq!(s.check_form(Some(&id), None, now).unwrap_err(), Refusal::BadCsrf);
        assert_eq!(s.check_form(Some(&id), Some(&token()), now).unwrap_err(), Refusal::BadCsrf);
        assert_eq!(s.check_form(Some(&id), Some(&other.csrf), now).unwrap_err(), Refusal::BadCsrf, "another session's");
        assert_eq!(s.check_form(None, Some(&session.csrf), now).unwrap_err(), Refusal::NoSession);
        // Control: its own token passes.
        assert!(s.check_form(Some(&id), Some(&session.csrf), now).is_ok());
    }

    #[test]
    fn logout_ends_the_session() {
        let (mut s, now) = sessions();
        let t = s.issue_login(now);
        let (id, _) = s.login(&t, now).unwrap();
        s.end(&id);
        assert_eq!(s.check(Some(&id), now).unwrap_err(), Refusal::NoSession);
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict() {
        let c = set_cookie("abc", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"), "{c}");
        assert!(set_cookie("abc", true).contains("; Secure"));
        assert_eq!(cookie_session("a=1; tisa_console=abc; b=2"), Some("abc"));
        assert_eq!(cookie_session("tisa_console_x=abc"), None);
        assert_eq!(cookie_session("a=1"), None);
    }

    #[test]
    fn a_live_stream_sees_the_session_end_without_keeping_it_alive() {
        let t0 = Instant::now();
        let mut s = Sessions::new(LOGIN_TTL, Duration::from_secs(60));
        let login = s.issue_login(t0);
        let (id, _) = s.login(&login, t0).expect("a session");
        assert!(s.alive(&id, t0 + Duration::from_secs(59)));
        // alive() is not use: the session still idles out at 60 s.
        assert!(!s.alive(&id, t0 + Duration::from_secs(60)));
        assert!(s.check(Some(&id), t0 + Duration::from_secs(60)).is_err());
        // Control: a page request (check) is use.
        let login = s.issue_login(t0);
        let (id, _) = s.login(&login, t0).expect("a session");
        assert!(s.check(Some(&id), t0 + Duration::from_secs(50)).is_ok());
        assert!(s.alive(&id, t0 + Duration::from_secs(100)));
        s.end(&id);
        assert!(!s.alive(&id, t0 + Duration::from_secs(100)), "ended by logout");
    }
}
