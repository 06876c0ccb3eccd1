//! `tisa demo`: placeholder, replaced below.
pub async fn run(_keep: bool) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("not yet")
}
