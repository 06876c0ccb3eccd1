//! A missile track update's path through a node, step by step, for
//! measuring where its time goes (`tisa bench --timeline`; issue #18:
//! profile before and after each step).
//!
//! `TISA_TIMELINE=<dir>` makes the node append one line per step a track
//! update passes to `<dir>/<party code>.tsv`:
//! `<step>\t<track id>#<seq>\t<wall clock, ns since the Unix epoch>` (the
//! wall clock, so that the three nodes' lines and the bench's can be set
//! side by side on one machine). Read once, when the node starts; a
//! directory that cannot be written stops the node at start. Unset, each
//! step costs one load of an initialised `OnceLock`. Set, each line is one
//! `write` on the path it measures (a few microseconds; the bench's JSON
//! says when it was on). One node per process (the file is the process's).
//!
//! | step | where |
//! |---|---|
//! | `called` | the originator's actor took the operator's track command |
//! | `committed` | the command is in the input log, synced |
//! | `sent` | the update is about to be published to the hub |
//! | `lane-in` | a peer's update read off its subject by the real-time lane |
//! | `lane-judged` | the lane checked it on its view |
//! | `lane-out` | the lane is about to forward it (hub) or show it to watchers (recipient) |
//!
//! `sent` and `lane-out` are written before the publish, never after: the
//! connection may write the message (and the next node read it) before
//! the publishing task runs again, so a step written after the publish
//! could come later than the next node's; before it, every step follows
//! the one it depends on. The publish call itself counts in the hop.

use std::io::Write as _;
use std::sync::{Mutex, OnceLock};

use tisa_core::{Party, TrackId};

/// The environment variable naming the directory.
pub const ENV: &str = "TISA_TIMELINE";

/// A step of a track update's path through a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The originator's actor took the track command.
    Called,
    /// The command is durable in the input log.
    Committed,
    /// About to be published to the hub.
    Sent,
    /// The lane read a peer's update.
    LaneIn,
    /// The lane checked it.
    LaneJudged,
    /// The lane is about to forward or show it.
    LaneOut,
}

impl Step {
    /// Every step, in the order an update passes them.
    pub const ALL: [Step; 6] =
        [Step::Called, Step::Committed, Step::Sent, Step::LaneIn, Step::LaneJudged, Step::LaneOut];

    /// The step's name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Step::Called => "called",
            Step::Committed => "committed",
            Step::Sent => "sent",
            Step::LaneIn => "lane-in",
            Step::LaneJudged => "lane-judged",
            Step::LaneOut => "lane-out",
        }
    }
}

/// The file of the node's party in `dir`.
pub fn file_of(dir: &std::path::Path, party: Party) -> std::path::PathBuf {
    dir.join(format!("{}.tsv", party.code()))
}

/// The key of an update in the file: `<track id>#<seq>`.
pub fn key(track: &TrackId, seq: u32) -> String {
    format!("{track}#{seq}")
}

static OUT: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

/// Opens the node's timeline file if [`ENV`] names a directory (once, at
/// start; later calls change nothing). An error says what to do.
pub fn init(party: Party) -> Result<(), String> {
    let out = match std::env::var_os(ENV) {
        Some(dir) if !dir.is_empty() => Some(Mutex::new(open(std::path::Path::new(&dir), party)?)),
        _ => None,
    };
    let _ = OUT.set(out);
    Ok(())
}

/// The party's file in `dir`, opened to append.
fn open(dir: &std::path::Path, party: Party) -> Result<std::fs::File, String> {
    let path = file_of(dir, party);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("{ENV}: cannot open {}: {e}; name a writable directory, or unset it", path.display()))
}

/// Whether steps are written (to collect keys only then).
pub fn on() -> bool {
    matches!(OUT.get(), Some(Some(_)))
}

/// Writes that update `seq` of `track` reached `step` now.
pub fn stamp(step: Step, track: &TrackId, seq: u32) {
    let Some(Some(out)) = OUT.get() else { return };
    let ns = crate::clock::now_ns();
    let line = format!("{}\t{}\t{ns}\n", step.name(), key(track, seq));
    if let Ok(mut f) = out.lock() {
        // A measurement aid: a line that cannot be written is a gap in it, never a stop.
        let _ = f.write_all(line.as_bytes());
    }
}

/// Writes `step` for each of `updates`.
pub(crate) fn stamp_all(step: Step, updates: &[(TrackId, u32)]) {
    for (track, seq) in updates {
        stamp(step, track, *seq);
    }
}

/// The track commands among `calls` (none unless steps are written).
pub(crate) fn commands(calls: &[tisa_transport::ControlCall]) -> Vec<(TrackId, u32)> {
    if !on() {
        return Vec::new();
    }
    calls
        .iter()
        .flat_map(|c| c.requests.iter())
        .filter_map(|r| match r {
            Ok((tisa_transport::ControlRequest::Track(d), _)) => Some((d.track_id.clone(), d.seq)),
            _ => None,
        })
        .collect()
}

/// The track update `env` carries (none unless steps are written).
pub(crate) fn update_of(env: &tisa_core::Envelope) -> Option<(TrackId, u32)> {
    match &env.payload {
        tisa_core::Payload::Track(t) if on() => Some((t.doc.track_id.clone(), t.doc.seq)),
        _ => None,
    }
}

/// The track updates among `transmits` (none unless steps are written).
pub(crate) fn updates(transmits: &[tisa_core::Transmit]) -> Vec<(TrackId, u32)> {
    if !on() {
        return Vec::new();
    }
    transmits.iter().filter_map(|t| update_of(&t.envelope)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_cannot_be_written_is_one_line_saying_what_to_do() {
        let e = open(std::path::Path::new("/nonexistent/timeline"), Party::Kr).unwrap_err();
        assert!(e.starts_with("TISA_TIMELINE: cannot open /nonexistent/timeline/KR.tsv") && !e.contains('\n'), "{e}");
        assert!(e.ends_with("name a writable directory, or unset it"), "{e}");
        let d = tempfile::tempdir().unwrap();
        assert!(open(d.path(), Party::Jp).is_ok());
        assert!(d.path().join("JP.tsv").exists());
    }

    #[test]
    fn keys_and_steps_are_as_the_bench_reads_them() {
        assert_eq!(key(&TrackId::new("KR-T-1").unwrap(), 7), "KR-T-1#7");
        let names: Vec<_> = Step::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["called", "committed", "sent", "lane-in", "lane-judged", "lane-out"]);
    }
}
