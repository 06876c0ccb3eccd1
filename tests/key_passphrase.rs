//! `tisa keys generate --passphrase-file` seals a key, and a command that
//! loads it (`tisa node --key`) takes the passphrase from the environment:
//! missing or wrong, one clear line; right, the key loads (the control: the
//! same command then gets past the key, to the check that it is a node key).

use crate::common;

use std::path::Path;

use crate::common::{describe, one_line_error, tisa_command};

fn node_with(key: &Path, env: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd =
        tisa_command(&["node", "--party", "kr", "--key", &key.to_string_lossy(), "--nats", "nats://127.0.0.1:9"]);
    cmd.env_remove("TISA_KEY_PASSPHRASE").env_remove("TISA_KEY_PASSPHRASE_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_sealed_key_from_the_cli_needs_its_passphrase_to_load() {
    let dir = std::env::temp_dir().join(format!("tisa-pass-cli-{}-{}", std::process::id(), common::canary("p")));
    std::fs::create_dir_all(&dir).unwrap();
    let (right, wrong) = (dir.join("right.txt"), dir.join("wrong.txt"));
    std::fs::write(&right, "a long passphrase\n").unwrap();
    std::fs::write(&wrong, "not it\n").unwrap();
    let out_dir = dir.join("keys");
    let gen = |pass: &Path| {
        tisa_command(&["keys", "generate", "--party", "kr", "--operator", "kim", "--out"])
            .arg(&out_dir)
            .arg("--passphrase-file")
            .arg(pass)
            .env_remove("TISA_KEY_PASSPHRASE")
            .env_remove("TISA_KEY_PASSPHRASE_FILE")
            .output()
            .unwrap()
    };
    let e = one_line_error(&gen(&dir.join("absent.txt")), "a missing passphrase file");
    assert!(e.contains("passphrase file"), "{e}");
    let out = gen(&right);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sealed under the passphrase"), "{}", describe(&out));
    let key = out_dir.join("kr-kim.key");
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.contains("[sealed]") && !text.contains("\nseed"), "{text}");

    let e = one_line_error(&node_with(&key, &[]), "no passphrase");
    assert!(e.contains("protected by a passphrase") && e.contains("TISA_KEY_PASSPHRASE_FILE"), "{e}");
    let e = one_line_error(&node_with(&key, &[("TISA_KEY_PASSPHRASE_FILE", &wrong)]), "a wrong passphrase");
    assert!(e.contains("wrong passphrase"), "{e}");
    // Control: with the right passphrase the key loads; the node then
    // refuses it for what it is (an approver's key, not KR's node key).
    let e = one_line_error(&node_with(&key, &[("TISA_KEY_PASSPHRASE_FILE", &right)]), "the right passphrase");
    assert!(e.contains("is not a node key"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
