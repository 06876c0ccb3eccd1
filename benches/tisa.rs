//! `cargo bench --bench tisa [-- ARGS]`: runs `tisa bench ARGS` (the same
//! harness as the subcommand: its own nats-servers and node processes).
//! Not a timed test: it prints figures and exits non-zero only if the
//! benchmark itself fails.

fn main() {
    // cargo passes `--bench` (and libtest flags) to harness-less benches: drop them.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tisa"))
        .arg("bench")
        .args(&args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run tisa bench: {e}"));
    std::process::exit(status.code().unwrap_or(1));
}
