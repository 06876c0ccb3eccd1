//! Small helpers shared by the CLI, its feeds and the demo: signals, UTC times.

/// Resolves on SIGINT or SIGTERM, with the signal's name.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// Formats Unix milliseconds as UTC `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339).
pub fn utc(ms: u64) -> String {
    tisa_core::Timestamp(ms).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_419_811_200_000), "2014-12-29T00:00:00Z");
        assert_eq!(utc(951_782_400_999), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_716_820_330_000), "2024-05-27T14:32:10Z");
    }
}
