//! The README's main command, as a test: `tisa demo` generates a deployment
//! (three accounts with link-only exports/imports, per-user permissions,
//! nkeys, signing keys, an agreement registering them), starts the broker
//! and the three node processes on it, plays the foundation's scenarios
//! through the same code paths as the CLI, and exits non-zero if any rule
//! did not hold. So the positive scenarios are proven on the enforced
//! topology, not only on an open broker.

use crate::common;

use std::process::Command;

#[test]
fn the_demo_plays_every_scenario_on_the_generated_deployment() {
    let _permit = common::ClusterPermit::acquire();
    let nats = common::nats_bin();
    let out =
        Command::new(common::BIN).arg("demo").env("TISA_NATS_SERVER", &nats).env_remove("RUST_LOG").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "accounts KR, US, JP; exports/imports only US<->KR and US<->JP",
        "does not hold",
        "approved",
        "tearline only",
        "denied",
        "JPN DENIED",
        "not releasable to JPN: OTHER is outside the trilateral scope",
        "demo complete: every rule held.",
    ] {
        assert!(stdout.contains(line), "the demo's timeline lacks {line:?}:\n{stdout}");
    }
}
