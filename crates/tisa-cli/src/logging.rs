//! Logging: tracing to stderr, never report content.

/// Logs to stderr; `RUST_LOG` overrides `default`; `TISA_LOG_FORMAT=json`
/// for JSON lines.
///
/// async-nats logs whole protocol operations, payloads included, at debug
/// and trace level, and a payload is report content. So its events above
/// `info` are dropped whatever `RUST_LOG` says: no log line of tisa's may
/// carry a title, body, tearline or source.
pub fn init_tracing(default: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{fmt, EnvFilter, Layer};
    let spec = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("{default},async_nats=warn"));
    let env = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new(default));
    let no_payloads = filter_fn(|m| !(m.target().starts_with("async_nats") && *m.level() > tracing::Level::INFO));
    let layer: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> =
        if std::env::var("TISA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json")) {
            fmt::layer().json().with_writer(std::io::stderr).with_filter(env).with_filter(no_payloads).boxed()
        } else {
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(env)
                .with_filter(no_payloads)
                .boxed()
        };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
