//! The `tisa` binary: everything lives in the `tisa-cli` crate; this file only
//! hands over so that `CARGO_BIN_EXE_tisa` exists for the integration tests.
fn main() -> std::process::ExitCode {
    tisa_cli::main()
}
