//! Text from outside (a peer's rejection detail, names, source keys,
//! subjects, anything a peer or a user supplied) made safe to log: no byte
//! of it can end a log line, start a forged one or drive a terminal.
//!
//! [`loggable`] is the one function every log site applies to such text;
//! [`fmt_hex`] writes bytes (key ids, nonces) as hex for display.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` could forge or hide log output: control characters (C0,
/// DEL, C1: newline, carriage return, escape, …), the Unicode line and
/// paragraph separators, and the bidirectional formatting characters (which
/// reorder what a reader sees).
fn unsafe_in_logs(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `s` with every control character (and line separator, and bidi control)
/// replaced by its visible escape (`\n`, `\u{1b}`, …): one line, printable,
/// and still showing what was sent. Borrowed when there was nothing to replace.
pub fn loggable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_in_logs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_in_logs(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `d` as lower-case hex to `f`, 32 bytes at a time through a
/// buffer on the stack (a `write!` per byte was a per-byte trip through
/// the formatting machinery, for every key id and nonce in every document).
pub fn fmt_hex(f: &mut std::fmt::Formatter<'_>, d: &[u8]) -> std::fmt::Result {
    let mut buf = [0u8; 64];
    for chunk in d.chunks(32) {
        let out = &mut buf[..chunk.len() * 2];
        ::hex::encode_to_slice(chunk, out).map_err(|_| std::fmt::Error)?;
        f.write_str(std::str::from_utf8(out).map_err(|_| std::fmt::Error)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn controls_become_visible_escapes_and_clean_text_is_borrowed() {
        let forged = "ok\n2026-01-01T00:00:00Z  INFO forged\r\x1b[31mred\x1b[0m\u{9b}\u{2028}\u{202e}x\u{7f}";
        let s = loggable(forged);
        assert!(!s.chars().any(|c| c.is_control()), "{s:?}");
        assert!(!s.contains('\u{2028}') && !s.contains('\u{202e}'), "{s:?}");
        assert_eq!(s.lines().count(), 1);
        assert!(s.starts_with("ok\\n2026-01-01T00:00:00Z  INFO forged\\r\\u{1b}[31mred"), "{s}");
        // Control: the raw text has the line break and the escape.
        assert_eq!(forged.lines().count(), 2);
        assert!(forged.contains('\x1b'));
        assert!(matches!(loggable("KR-abc: plain text, ünïcode ok"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(loggable("a\tb"), "a\\tb");
    }
}
