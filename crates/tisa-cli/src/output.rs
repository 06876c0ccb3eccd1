//! How every command ends when things go wrong: stdout or stderr that
//! cannot be written, and errors under `--json`.
//!
//! Under `--json`, an error is also printed on stdout as one JSON object,
//! `{"error": {"message": "…", "code": "…"}}` (`code`: the node's, e.g.
//! `UNAUTHORIZED`, or `USAGE` for a command line clap refused), so a script
//! reading stdout sees why; stderr keeps its one `error:` line.
//!
//! `println!` panics when a write fails. Rust ignores SIGPIPE, so
//! `tisa inbox | head -1` would end in a panic once `head` has gone. The
//! hook installed here turns that panic, whoever printed, into the quiet
//! end a reader who stopped reading expects (status 0, nothing said), and
//! any other failed write to the terminal (a full disk) into one line and
//! status 1. Every other panic keeps the default report.

use std::io::ErrorKind;

use serde_json::{json, Value};
use tisa_kit::operator::Refused;

/// Whether the command line asks for JSON output.
pub(crate) fn json_requested() -> bool {
    std::env::args_os().skip(1).any(|a| a == "--json")
}

/// An error as `--json` prints it.
pub(crate) fn error_json(e: &anyhow::Error) -> Value {
    let code = e.chain().find_map(|c| c.downcast_ref::<Refused>()).map(|r| r.code.as_str());
    json!({"error": {"message": format!("{e:#}"), "code": code}})
}

/// A command line clap refused, as `--json` prints it (its first line).
pub(crate) fn usage_json(e: &clap::Error) -> Value {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
    json!({"error": {"message": first, "code": "USAGE"}})
}

/// What to do about a panic whose message is `message`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OnPanic {
    /// The reader of our output has gone: exit 0, silently.
    QuietExit,
    /// Our output cannot be written for another reason: one line, exit 1.
    Fail(String),
    /// A real panic: report it as usual.
    Report,
}

/// Classifies a panic by its message. `println!` and `eprintln!` panic with
/// `failed printing to stdout: <io error>` (or `stderr`).
pub(crate) fn classify(message: &str) -> OnPanic {
    let Some(rest) = message
        .strip_prefix("failed printing to stdout: ")
        .or_else(|| message.strip_prefix("failed printing to stderr: "))
    else {
        return OnPanic::Report;
    };
    if rest == std::io::Error::from(ErrorKind::BrokenPipe).to_string() || rest == broken_pipe_os_text() {
        OnPanic::QuietExit
    } else {
        OnPanic::Fail(format!("error: cannot write the output: {rest}"))
    }
}

/// How an `EPIPE` from the operating system reads (`Broken pipe (os error 32)`).
fn broken_pipe_os_text() -> String {
    // EPIPE is 32 on Linux and the BSDs (macOS included).
    std::io::Error::from_raw_os_error(32).to_string()
}

/// Installs the hook (once, first thing in `main`).
pub(crate) fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        match classify(message) {
            OnPanic::QuietExit => std::process::exit(0),
            OnPanic::Fail(line) => {
                // stderr may be the stream that failed: then say nothing.
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "{line}");
                std::process::exit(1)
            }
            OnPanic::Report => default(info),
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_a_quiet_exit_other_write_errors_one_line_other_panics_reported() {
        let epipe = std::io::Error::from_raw_os_error(32);
        assert_eq!(classify(&format!("failed printing to stdout: {epipe}")), OnPanic::QuietExit);
        assert_eq!(classify(&format!("failed printing to stderr: {epipe}")), OnPanic::QuietExit);
        let full = std::io::Error::from_raw_os_error(28);
        assert_eq!(
            classify(&format!("failed printing to stdout: {full}")),
            OnPanic::Fail(format!("error: cannot write the output: {full}"))
        );
        assert_eq!(classify("index out of bounds"), OnPanic::Report);
    }

    #[test]
    fn errors_as_json_carry_the_nodes_code() {
        let refused = anyhow::Error::from(Refused { code: "UNAUTHORIZED".into(), message: "no".into() });
        let v = error_json(&refused.context("approve"));
        assert_eq!(v["error"]["code"], "UNAUTHORIZED");
        assert_eq!(v["error"]["message"], "approve: no [UNAUTHORIZED]");
        assert!(error_json(&anyhow::anyhow!("plain"))["error"]["code"].is_null());
    }
}
