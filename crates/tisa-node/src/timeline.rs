//! A missile track update's or a report's path through a node, step by
//! step, for measuring where its time goes (`tisa bench --timeline`; issue
//! #18: profile before and after each step).
//!
//! `TISA_TIMELINE=<dir>` makes the node append one line per step a track
//! update or a report passes to `<dir>/<party code>.tsv`:
//! `<step>\t<key>\t<wall clock, ns since the Unix epoch>`, the key being
//! `<track id>#<seq>` for a track update, the report id for a report (the
//! wall clock, so that the three nodes' lines and the bench's can be set
//! side by side on one machine). Read once, when the node starts; a
//! directory that cannot be written stops the node at start. Unset, each
//! step costs one load of an initialised `OnceLock`. Set, each line is one
//! `write` on the path it measures (a few microseconds; the bench's JSON
//! says when it was on). One node per process (the file is the process's).
//!
//! | step | where |
//! |---|---|
//! | `called` | the originator's actor took the operator's track or submit command |
//! | `committed` | the command, or a peer's report or delivery, is in the input log, synced |
//! | `sent` | the update, report or delivery is about to be published to its link |
//! | `lane-in` | a peer's update read off its subject by the real-time lane |
//! | `lane-judged` | the lane checked it on its view |
//! | `lane-out` | the lane is about to forward it (hub) or show it to watchers (recipient) |
//! | `in` | the actor took a peer's report (hub) or delivery (recipient) off its link |
//! | `shown` | the recipient is about to publish the delivery's `RECEIVED` event |
//!
//! A submit's `called` is written after its commit, with the time the
//! actor took it (the report id is the node's, known only then).
//! `sent`, `lane-out` and `shown` are written before the publish, never
//! after: the connection may write the message (and the next node read
//! it) before the publishing task runs again, so a step written after the
//! publish could come later than the next node's; before it, every step
//! follows the one it depends on. The publish call itself counts in the
//! hop.

use std::io::Write as _;
use std::sync::{Mutex, OnceLock};

use tisa_core::{Event, Party, Payload, TrackId};
use tisa_transport::ControlReply;

/// The environment variable naming the directory.
pub const ENV: &str = "TISA_TIMELINE";

/// A step of a track update's or a report's path through a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The originator's actor took the track or submit command.
    Called,
    /// The command (or a peer's report or delivery) is durable in the input log.
    Committed,
    /// About to be published to the link.
    Sent,
    /// The lane read a peer's update.
    LaneIn,
    /// The lane checked it.
    LaneJudged,
    /// The lane is about to forward or show it.
    LaneOut,
    /// The actor took a peer's report or delivery.
    In,
    /// About to publish the delivery's `RECEIVED` event.
    Shown,
}

impl Step {
    /// Every step.
    pub const ALL: [Step; 8] = [
        Step::Called,
        Step::Committed,
        Step::Sent,
        Step::LaneIn,
        Step::LaneJudged,
        Step::LaneOut,
        Step::In,
        Step::Shown,
    ];

    /// The step's name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Step::Called => "called",
            Step::Committed => "committed",
            Step::Sent => "sent",
            Step::LaneIn => "lane-in",
            Step::LaneJudged => "lane-judged",
            Step::LaneOut => "lane-out",
            Step::In => "in",
            Step::Shown => "shown",
        }
    }
}

/// The file of the node's party in `dir`.
pub fn file_of(dir: &std::path::Path, party: Party) -> std::path::PathBuf {
    dir.join(format!("{}.tsv", party.code()))
}

/// The key of a track update in the file: `<track id>#<seq>` (a report's
/// is its id).
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

/// Now on the wall clock if steps are written (0 otherwise).
pub(crate) fn now_if_on() -> u128 {
    if on() {
        crate::clock::now_ns()
    } else {
        0
    }
}

/// Writes that each of `keys` reached `step` at `ns`.
fn write_at(step: Step, keys: &[String], ns: u128) {
    let Some(Some(out)) = OUT.get() else { return };
    if keys.is_empty() {
        return;
    }
    let mut lines = String::new();
    for k in keys {
        lines.push_str(&format!("{}\t{k}\t{ns}\n", step.name()));
    }
    if let Ok(mut f) = out.lock() {
        // A measurement aid: a line that cannot be written is a gap in it, never a stop.
        let _ = f.write_all(lines.as_bytes());
    }
}

/// Writes that each of `keys` reached `step` now.
pub(crate) fn stamp_all(step: Step, keys: &[String]) {
    if on() && !keys.is_empty() {
        write_at(step, keys, crate::clock::now_ns());
    }
}

/// Writes that each of `keys` reached `step` at `ns` (taken earlier with
/// [`now_if_on`]).
pub(crate) fn stamp_all_at(step: Step, keys: &[String], ns: u128) {
    write_at(step, keys, ns);
}

/// The track commands among `calls` (none unless steps are written).
pub(crate) fn commands(calls: &[tisa_transport::ControlCall]) -> Vec<String> {
    if !on() {
        return Vec::new();
    }
    calls
        .iter()
        .flat_map(|c| c.requests.iter())
        .filter_map(|r| match r {
            Ok((tisa_transport::ControlRequest::Track(d), _)) => Some(key(&d.track_id, d.seq)),
            _ => None,
        })
        .collect()
}

/// The reports the replies say were submitted (none unless steps are written).
pub(crate) fn submitted<'a>(replies: impl IntoIterator<Item = &'a Option<ControlReply>>) -> Vec<String> {
    if !on() {
        return Vec::new();
    }
    replies
        .into_iter()
        .filter_map(|r| match r {
            Some(ControlReply::Submitted(s)) if !s.duplicate => Some(s.header.id.to_string()),
            _ => None,
        })
        .collect()
}

/// The key of the track update, report or delivery `env` carries (none
/// unless steps are written).
pub(crate) fn key_of(env: &tisa_core::Envelope) -> Option<String> {
    if !on() {
        return None;
    }
    match &env.payload {
        Payload::Track(t) => Some(key(&t.doc.track_id, t.doc.seq)),
        Payload::Report(r) => Some(r.header.id.to_string()),
        Payload::Delivery(d) => Some(d.header.id.to_string()),
        _ => None,
    }
}

/// The track updates, reports and deliveries among `transmits` (none
/// unless steps are written).
pub(crate) fn updates(transmits: &[tisa_core::Transmit]) -> Vec<String> {
    if !on() {
        return Vec::new();
    }
    transmits.iter().filter_map(|t| key_of(&t.envelope)).collect()
}

/// The reports among `inputs` that came from a peer (none unless steps are
/// written).
pub(crate) fn received(inputs: &[tisa_core::LoggedInput]) -> Vec<String> {
    if !on() {
        return Vec::new();
    }
    inputs
        .iter()
        .filter_map(|l| match &l.input {
            tisa_core::Input::Message { envelope, .. } if !matches!(envelope.payload, Payload::Track(_)) => {
                key_of(envelope)
            }
            _ => None,
        })
        .collect()
}

/// The delivery whose `RECEIVED` event `ev` is (none unless steps are
/// written).
pub(crate) fn shown(ev: &Event) -> Option<String> {
    match ev {
        Event::Received { header, .. } if on() => Some(header.id.to_string()),
        _ => None,
    }
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
        assert_eq!(names, ["called", "committed", "sent", "lane-in", "lane-judged", "lane-out", "in", "shown"]);
    }
}
