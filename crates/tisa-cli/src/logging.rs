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
    let layer: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> = if std::env::var("TISA_LOG_FORMAT")
        .is_ok_and(|v| v.eq_ignore_ascii_case("json"))
    {
        fmt::layer().json().with_writer(std::io::stderr).with_filter(env).with_filter(no_payloads).boxed()
    } else {
        text_layer(std::io::stderr, std::io::stderr().is_terminal()).with_filter(env).with_filter(no_payloads).boxed()
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// The text format (one line per event).
fn text_layer<S, W>(
    writer: W,
    ansi: bool,
) -> tracing_subscriber::fmt::Layer<
    S,
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format,
    W,
>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tisa_core::text::loggable;
    use tracing_subscriber::prelude::*;

    /// Logs one event as the node logs a peer's rejection, through the text
    /// format the node writes its log file with; returns the output.
    fn logged(detail: &str) -> String {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let b = buf.clone();
        let writer = move || WriteTo(b.clone());
        let subscriber = tracing_subscriber::registry().with(super::text_layer(writer, false));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(event = "REJECTION_RECEIVED", report = "KR-1", %detail, "event");
        });
        let out = buf.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    struct WriteTo(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for WriteTo {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const FORGED: &str = "2026-01-01T00:00:00.000000Z  INFO tisa_node::egress: event event=RELEASED report=KR-9";

    /// A peer's rejection detail with a newline and ANSI escapes cannot forge
    /// a log line once it went through `loggable`; the control logs the raw
    /// text the same way and gets the forged line (and the escape bytes).
    #[test]
    fn a_peer_detail_cannot_forge_a_log_line() {
        let raw = format!("refused\n{FORGED}\n\x1b[2K\x1b[1A\x1b[31mhidden");
        let safe = logged(&loggable(&raw));
        assert_eq!(safe.lines().count(), 1, "{safe}");
        assert!(!safe.lines().any(|l| l.starts_with(FORGED)), "{safe}");
        assert!(!safe.contains('\x1b'), "{safe:?}");
        assert!(safe.contains("refused\\n2026-01-01"), "the text stays visible, escaped: {safe}");
        // Control: the raw text, logged the same way.
        let forged = logged(&raw);
        assert!(forged.lines().any(|l| l.starts_with(FORGED)), "{forged}");
        assert!(forged.lines().count() > 1, "{forged}");
    }
}
