//! `tisa feed jsonl [FILE|-] [--follow]`: generic ingestion, one report
//! object a line, keyed `jsonl:<id>`.

use super::LineSource;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tisa_core::text::loggable;

use anyhow::Result;
use clap::Args;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::follow::{Change, Followed};
use super::{parse_generic, Defaults, FeedOptions, Item, Sink, SubmitError, Tally};

/// Longest line accepted (a report's body is at most 256 KiB).
const MAX_LINE: usize = 1024 * 1024;

/// `tisa feed … --help`: what the feed reads, field by field.
pub(crate) const LONG_HELP: &str =
    "Reads reports as JSON Lines — one JSON object a line — and submits each to your own node:\n\n  \
{\"id\": \"2024-117\", \"category\": \"missile\", \"classification\": \"secret\", \"rel_to\": \"USA,JPN\",\n   \
\"title\": \"…\", \"body\": \"…\", \"tearline\": \"…\", \"source\": \"…\"}\n\n\
id (a string or an integer), category (nuclear|missile|other), title and body are required; classification \
and rel_to (\"USA,JPN\" or [\"USA\",\"JPN\"]) may instead come from --classification / --rel-to; tearline and \
source are optional; other fields are refused. Each report's idempotency key is `jsonl:<id>`: the same id \
with the same content submits nothing, with new content it becomes a new revision. Bad lines are reported \
with their line number and skipped. Without --follow, reads to the end and prints a summary (exit 1 if any \
line was bad); with --follow, keeps reading what is appended to FILE until interrupted, by name like tail -F \
(a rotated file is finished, then the new one at the path is read from its start; a truncated one is read again).";

#[derive(Args, Debug)]
#[command(
    long_about = LONG_HELP,
    after_help = "Example: tisa feed jsonl --config tisa-broker/kr-cli.toml reports.jsonl\n\
         Follow:   tisa feed jsonl --config tisa-broker/kr-cli.toml --follow /var/spool/tisa/reports.jsonl"
)]
pub struct JsonlArgs {
    #[command(flatten)]
    opts: FeedOptions,
    #[command(flatten)]
    lines: LineSource,
}

/// A line read (1-based number), or why it could not be.
pub(super) type Line = (u64, Result<String, String>);

/// The lines one read brought in (at most [`crate::SUBMIT_BATCH`]): what
/// was in the reader's buffer together, so a file read at once is one
/// batch, whatever the threads' timing.
pub(super) type Lines = Vec<Line>;

/// Where lines come from.
enum Source {
    Stdin(BufReader<std::io::Stdin>),
    /// A file, followed by name with --follow.
    File(Followed),
}

impl Source {
    /// Appends to `buf` up to and including the next newline, reading at most `limit` bytes.
    fn read_line_limited(&mut self, limit: usize, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            Source::Stdin(r) => r.take(limit as u64).read_until(b'\n', buf),
            Source::File(f) => f.reader().take(limit as u64).read_until(b'\n', buf),
        }
    }

    /// Whether bytes already read from the source wait in the buffer.
    fn buffered(&mut self) -> bool {
        match self {
            Source::Stdin(r) => !r.buffer().is_empty(),
            Source::File(f) => !f.reader().buffer().is_empty(),
        }
    }
}

/// Reads lines on a blocking thread (stdin or a file, following it by name
/// if asked) and hands them over, the lines of one read together; the
/// channel closes at the end.
pub(super) fn spawn_reader(file: PathBuf, follow: bool, poll: Duration, tx: mpsc::Sender<Lines>) -> Result<()> {
    let mut src = if file.as_os_str() == "-" {
        Source::Stdin(BufReader::new(std::io::stdin()))
    } else {
        Source::File(Followed::open(&file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?)
    };
    std::thread::spawn(move || {
        let mut n = 0u64;
        let mut buf = Vec::new();
        let mut pending: Lines = Vec::new();
        loop {
            // Hand over what was read once nothing more waits in the buffer
            // (or a batch is full).
            if !pending.is_empty()
                && (pending.len() >= crate::SUBMIT_BATCH || !src.buffered())
                && tx.blocking_send(std::mem::take(&mut pending)).is_err()
            {
                return;
            }
            let room = MAX_LINE + 1 - buf.len().min(MAX_LINE);
            let got = match src.read_line_limited(room, &mut buf) {
                Ok(k) => k,
                Err(e) => {
                    pending.push((n + 1, Err(format!("read error: {e}"))));
                    let _ = tx.blocking_send(pending);
                    return;
                }
            };
            if got == 0 {
                if let (true, Source::File(f)) = (follow, &mut src) {
                    // Nothing new (a partial line waits for its end).
                    match f.at_end() {
                        Ok(Change::Grew) => continue,
                        Ok(Change::Truncated) => {
                            warn!("{} was truncated; reading it again from the start", file.display());
                            n = 0;
                            buf.clear();
                        }
                        Ok(Change::Replaced) => {
                            info!("{} was replaced (rotated); reading the new file from the start", file.display());
                            // The old file's last line, even without its newline, was its last.
                            if !buf.is_empty() {
                                let text =
                                    String::from_utf8(std::mem::take(&mut buf)).map_err(|_| "not UTF-8".to_owned());
                                pending.push((n + 1, text));
                            }
                            n = 0;
                            continue;
                        }
                        Ok(Change::Nothing) => {}
                        Err(e) => warn!("cannot check {}: {e}", file.display()),
                    }
                    if tx.is_closed() {
                        return;
                    }
                    std::thread::sleep(poll);
                    continue;
                }
                if buf.is_empty() {
                    return;
                }
                // The last line, without a newline: fall through.
            }
            let complete = buf.last() == Some(&b'\n');
            if !complete && buf.len() > MAX_LINE {
                n += 1;
                pending.push((n, Err(format!("line longer than {MAX_LINE} bytes"))));
                loop {
                    let mut skip = Vec::new();
                    match src.read_line_limited(64 * 1024, &mut skip) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if skip.last() == Some(&b'\n') => break,
                        Ok(_) => {}
                    }
                }
                buf.clear();
                continue;
            }
            if !complete && got != 0 {
                // Read more: the rest of the line, or the end.
                continue;
            }
            n += 1;
            let line = std::mem::take(&mut buf);
            pending.push((n, String::from_utf8(line).map_err(|_| "not UTF-8".to_owned())));
        }
    });
    Ok(())
}

pub async fn run(args: JsonlArgs) -> Result<ExitCode> {
    let mut sink = Sink::new(&args.opts)?;
    if !sink.dry_run() {
        sink.connect().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let defaults = Defaults { classification: args.lines.classification, rel_to: args.lines.rel_to };
    let (tx, mut rx) = mpsc::channel::<Lines>(4);
    let name = if args.lines.file.as_os_str() == "-" {
        "stdin".to_owned()
    } else {
        loggable(&args.lines.file.display().to_string()).into_owned()
    };
    spawn_reader(args.lines.file.clone(), args.lines.follow, args.lines.poll, tx)?;
    info!(file = %name, follow = args.lines.follow, dry_run = sink.dry_run(), "reading JSON Lines");
    let stop = tisa_kit::util::shutdown_signal();
    tokio::pin!(stop);
    let mut tally = Tally::default();
    loop {
        // The lines of one read go together: one batch signature for their
        // submissions, one for their requests.
        let lines = tokio::select! {
            l = rx.recv() => match l {
                Some(l) => l,
                None => break,
            },
            s = &mut stop => {
                info!(signal = s, "stopping");
                break;
            }
        };
        let mut items = Vec::with_capacity(lines.len());
        for (n, line) in lines {
            let item = line.and_then(|text| match text.trim() {
                "" => Ok(None),
                t => parse_generic(t, "jsonl", defaults).map(Some).map_err(|why| why.to_string()),
            });
            match item {
                Ok(Some(i)) => items.push((n, i)),
                Ok(None) => {}
                Err(why) => {
                    warn!("{name}: line {n}: bad line: {}", loggable(&why));
                    tally.bad += 1;
                }
            }
        }
        let (numbers, items): (Vec<u64>, Vec<Item>) = items.into_iter().unzip();
        let mut stopped = None;
        for ((n, item), result) in numbers.iter().zip(&items).zip(sink.submit_all(&items).await) {
            match result {
                Ok(o) => tally.add(&o),
                Err(SubmitError::Refused(why)) => {
                    warn!(key = %loggable(&item.key), "{name}: line {n}: not submitted: {}", loggable(&why.to_string()));
                    tally.bad += 1;
                }
                Err(SubmitError::Node(e)) => stopped = stopped.or(Some((*n, e))),
            }
        }
        if let Some((n, e)) = stopped {
            eprintln!("jsonl: stopped at line {n}: {}", tally.summary(sink.dry_run()));
            return Err(e.context(format!("stopped at line {n}")));
        }
    }
    eprintln!("jsonl: {name}: {}", tally.summary(sink.dry_run()));
    Ok(if tally.bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the reader hands over for a file, message by message (the line
    /// numbers of each).
    fn messages(text: &str) -> Vec<Vec<u64>> {
        let dir = std::env::temp_dir().join(format!("tisa-jsonl-reader-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("lines.jsonl");
        std::fs::write(&file, text).unwrap();
        let (tx, mut rx) = mpsc::channel::<Lines>(4);
        spawn_reader(file, false, Duration::from_millis(10), tx).unwrap();
        let mut got = Vec::new();
        while let Some(lines) = rx.blocking_recv() {
            got.push(lines.into_iter().map(|(n, _)| n).collect());
        }
        let _ = std::fs::remove_dir_all(&dir);
        got
    }

    #[test]
    fn the_lines_of_one_read_come_together_in_batches_of_at_most_submit_batch() {
        // Four short lines: one read, one message, however the threads run
        // (the control: handed over a line at a time, they were split by timing).
        assert_eq!(messages("a\nb\nc\nd\n"), [vec![1, 2, 3, 4]]);
        // More lines than a batch, all in one buffer: full batches, then the rest.
        let many: String = (0..300).map(|i| format!("{i}\n")).collect();
        let got = messages(&many);
        assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [crate::SUBMIT_BATCH, 300 - crate::SUBMIT_BATCH]);
        assert_eq!(got.concat(), (1..=300).collect::<Vec<u64>>(), "every line once, in order");
        // A last line without its newline still counts (once the end is
        // found: a line waiting for its end never holds back those before it).
        assert_eq!(messages("x\ny").concat(), [1, 2]);
    }
}
