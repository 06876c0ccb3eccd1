//! The command line's own behaviour, without a broker: what it does when its
//! reader goes away, and what it refuses to overwrite.

mod common;

use std::process::Stdio;

use common::*;

/// `tisa … | head -1`: once the reader is gone, a command that prints ends
/// quietly (status 0, no panic), whichever command it is.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    for args in [&["agreement", "show"][..], &["agreement", "show", "--json"]] {
        // The pipe's reading end is closed before the command starts: its
        // first write fails with EPIPE, whatever the timing.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = tisa_command(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "tisa {args:?}: {stderr}");
        assert!(stderr.is_empty(), "tisa {args:?}: nothing to say: {stderr}");
        assert_eq!(out.status.code(), Some(0), "tisa {args:?}: {stderr}");
    }
}

/// A second `tisa broker config` into the same directory would replace every
/// party's credentials: refused (one line saying what to do) without `--force`.
#[test]
fn broker_config_refuses_to_overwrite_credentials_without_force() {
    let dir = tisa_kit::natsd::scratch_dir("cli-broker").unwrap();
    let out_dir = dir.join("broker");
    let out = out_dir.to_str().unwrap();
    let first = tisa(&["broker", "config", "--out", out]);
    assert!(first.status.success(), "{}", describe(&first));
    let seed = out_dir.join("kr-node.nk");
    let before = std::fs::read_dir(&out_dir).unwrap().count();
    let kr_seed = std::fs::read(&seed).unwrap_or_else(|e| panic!("{}: {e}", seed.display()));

    let again = tisa(&["broker", "config", "--out", out]);
    let line = one_line_error(&again, "a second broker config");
    assert!(line.contains("--force") && line.contains("another --out"), "{line}");
    assert_eq!(std::fs::read(&seed).unwrap(), kr_seed, "the credentials are untouched");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), before);

    let forced = tisa(&["broker", "config", "--out", out, "--force"]);
    assert!(forced.status.success(), "{}", describe(&forced));
    assert_ne!(std::fs::read(&seed).unwrap(), kr_seed, "--force writes new credentials");
    let _ = std::fs::remove_dir_all(dir);
}
