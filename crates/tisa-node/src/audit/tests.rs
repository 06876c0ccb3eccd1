//! Tests of the audit log and its verification.

use std::path::{Path, PathBuf};

use tisa_core::{
    Event, Identity, KeyEntry, KeyRole, MessageId, Party, Policy, ReleaseRequest, ReportId, RequestId, Timestamp,
};

use super::*;
use crate::store::Store;

/// A scratch directory, removed on drop.
struct Tmp(PathBuf);

impl std::ops::Deref for Tmp {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp(name: &str) -> Tmp {
    let d = std::env::temp_dir().join(format!("tisa-audit-{name}-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&d).unwrap();
    Tmp(d)
}

fn identity() -> Identity {
    Identity::from_seed("kr-node", [7; 32])
}

fn policy() -> Policy {
    let id = identity();
    Policy {
        keys: vec![KeyEntry { party: Party::Kr, name: id.name().into(), role: KeyRole::Node, public: id.public() }],
        ..Policy::default()
    }
}

fn request(n: u32) -> ReleaseRequest {
    let report_id = ReportId::new(format!("KR-{n:04}")).unwrap();
    ReleaseRequest {
        request_id: RequestId::for_release(&report_id, 1, Party::Jp),
        report_id,
        revision: 1,
        recipient: Party::Jp,
        requested_at: Timestamp(1000),
        expires_at: Timestamp(2000),
    }
}

fn note(seq: u64) -> InputNote {
    InputNote { seq, at: Timestamp(1000 + seq), actor: None, grant: None, message_id: None, key_id: None }
}

/// A log with `inputs` inputs of two events each.
fn build(dir: &Path, inputs: u64) -> (AuditLog, Store) {
    let mut store = Store::open(dir).unwrap();
    let (mut log, _) = AuditLog::open(dir, Party::Kr, identity(), &mut store).unwrap();
    for i in 0..inputs {
        let r = request(i as u32);
        let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
        log.record(&mut store, note(i), true, &evs).unwrap();
    }
    // As the node does every `AUDIT_SYNC_EVERY`.
    log.flush(&mut store).unwrap();
    (log, store)
}

/// Records inputs `from..to` (two entries each), as `build` does, with
/// their times shifted by `skew` ms.
fn record_inputs(log: &mut AuditLog, store: &mut Store, inputs: std::ops::Range<u64>, skew: u64) {
    for i in inputs {
        let r = request(i as u32);
        let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
        let mut n = note(i);
        n.at = Timestamp(n.at.as_millis() + skew);
        log.record(store, n, true, &evs).unwrap();
    }
    // As the node does at the end of each group commit.
    log.write_pending().unwrap();
}

/// The (seq, hash) a signed head names.
fn named(head: &tisa_core::Signed) -> (u64, [u8; 32]) {
    let doc = tisa_core::sign::AuditHeadDoc::parse(&head.bytes).unwrap();
    (doc.seq, doc.hash)
}

/// The hash of entry `seq` in the file, if it is there.
fn hash_at(dir: &Path, seq: u64) -> Option<[u8; 32]> {
    let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
    parse_lines(&bytes).unwrap().into_iter().find(|e| e.seq == seq).and_then(|e| unhex32(&e.hash))
}

fn known(dir: &Path, store: &Store) -> Vec<KnownHead> {
    let mut k = Vec::new();
    if let Some((seq, hash)) = store.audit_head().unwrap() {
        k.push(KnownHead { source: "the node store".into(), seq, hash });
    }
    if let Some((seq, hash)) = read_head_file(dir).unwrap() {
        k.push(KnownHead { source: HEAD_FILE.into(), seq, hash });
    }
    k
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(LOG_FILE)).unwrap().lines().map(|l| format!("{l}\n")).collect()
}

#[test]
fn the_head_document_is_the_cores_audit_head_document() {
    let hash = [0xab; 32];
    let doc = tisa_core::sign::AuditHeadDoc { party: Party::Jp, seq: 17, hash };
    assert_eq!(head_document("JPN", 17, &hex(&hash)), doc.to_bytes());
    assert_eq!(tisa_core::sign::AuditHeadDoc::parse(&doc.to_bytes()).unwrap(), doc);
}

/// The one-pass line (serialized once, the hash spliced in before the
/// closing brace) is byte for byte the two-pass one: the canonical bytes
/// hashed, then the whole entry serialized with its hash. Every optional
/// field, present and absent, and text that JSON must escape.
#[test]
fn a_sealed_line_is_the_entry_serialized_with_its_hash() {
    let prev = [7u8; 32];
    let full = Entry {
        seq: 9,
        at_ms: 1_700_000_000_123,
        party: "KOR".into(),
        actor: "kim \"the\" analyst\\".into(),
        key_id: Some("k".repeat(64)),
        kind: "RECEIPT".into(),
        report_id: Some("KR-1".into()),
        revision: Some(2),
        request_id: Some("RQ-1".into()),
        recipient: Some("JPN".into()),
        grant_id: Some("KR-G-1".into()),
        detail: "a=b c=\u{e9}\n".into(),
        input_seq: Some(4),
        input_part: Some(1),
        head: Some(SignedHead {
            seq: 8,
            hash: "ab".repeat(32),
            signer: "kr-node".into(),
            public: "cd".repeat(32),
            signature: "ef".repeat(64),
        }),
        peer_head: Some(PeerHead { party: "JPN".into(), seq: 3, hash: "01".repeat(32) }),
        prev: ::hex::encode(prev),
        hash: String::new(),
    };
    let bare =
        Entry { seq: 1, party: "USA".into(), kind: "HEAD".into(), prev: ::hex::encode(prev), ..Entry::default() };
    for e in [full, bare] {
        let mut out = b"earlier\n".to_vec();
        let hash = e.seal_into(&prev, &mut out);
        assert_eq!(Some(hash), e.compute_hash(), "the chain's hash");
        let two_pass = Entry { hash: ::hex::encode(hash), ..e.clone() }.line();
        assert_eq!(&out[8..], &two_pass[..], "{}", String::from_utf8_lossy(&out));
        assert_eq!(&out[..8], b"earlier\n", "appended, nothing before it touched");
    }
}

#[test]
fn chain_verifies_with_signed_heads() {
    let dir = tmp("chain");
    let (mut log, mut store) = build(&dir, 40);
    log.close(&mut store).unwrap();
    let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
    let s = verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap();
    // 80 events, a HEAD after 64 of them, one on close.
    assert_eq!(s.entries, 82);
    assert_eq!(s.heads, 2);
    assert_eq!(store.audit_head().unwrap(), Some(log.head()));
    // Another node's key does not verify the heads.
    let other = Policy {
        keys: vec![KeyEntry {
            party: Party::Kr,
            name: "kr-node".into(),
            role: KeyRole::Node,
            public: Identity::from_seed("kr-node", [8; 32]).public(),
        }],
        ..Policy::default()
    };
    let e = verify(&bytes, Some(&other), &[]).unwrap_err();
    assert_eq!(e.line, Some(65), "{e}");
    assert!(e.reason.contains("signature"), "{e}");
}

#[test]
fn one_byte_changed_is_detected_at_its_line() {
    let dir = tmp("byte");
    let (_log, store) = build(&dir, 5);
    let mut l = lines(&dir);
    l[3] = l[3].replacen("KR-0001", "KR-0009", 1);
    let e = verify(l.concat().as_bytes(), Some(&policy()), &known(&dir, &store)).unwrap_err();
    assert_eq!((e.line, e.seq), (Some(4), Some(4)), "{e}");
    assert!(e.reason.contains("edited"), "{e}");
    // A flipped byte anywhere in a line is caught at that line.
    let orig = lines(&dir);
    for pos in 0..orig[2].len() - 1 {
        let mut b = orig[2].clone().into_bytes();
        b[pos] ^= 0x01;
        let mut l = orig.clone();
        l[2] = String::from_utf8_lossy(&b).into_owned();
        let e = verify(l.concat().as_bytes(), Some(&policy()), &[]).unwrap_err();
        assert_eq!(e.line, Some(3), "byte {pos}: {e}");
    }
}

#[test]
fn removed_entry_is_detected() {
    let dir = tmp("removed");
    let (_log, store) = build(&dir, 5);
    let mut l = lines(&dir);
    l.remove(4);
    let e = verify(l.concat().as_bytes(), Some(&policy()), &known(&dir, &store)).unwrap_err();
    assert_eq!((e.line, e.seq), (Some(5), Some(6)), "{e}");
    assert!(e.reason.contains("missing"), "{e}");
}

#[test]
fn swapped_entries_are_detected() {
    let dir = tmp("swapped");
    let (_log, store) = build(&dir, 5);
    let mut l = lines(&dir);
    l.swap(2, 3);
    let e = verify(l.concat().as_bytes(), Some(&policy()), &known(&dir, &store)).unwrap_err();
    assert_eq!((e.line, e.seq), (Some(3), Some(4)), "{e}");
    assert!(e.reason.contains("out of order"), "{e}");
}

#[test]
fn cut_off_end_is_detected_with_the_recorded_head() {
    let dir = tmp("cut");
    let (_log, mut store) = build(&dir, 5);
    let l = lines(&dir);
    let cut = l[..l.len() - 2].concat();
    // The chain itself is fine: only the recorded head shows the loss.
    assert!(verify(cut.as_bytes(), Some(&policy()), &[]).is_ok());
    let e = verify(cut.as_bytes(), Some(&policy()), &known(&dir, &store)).unwrap_err();
    assert!(e.reason.contains("missing at the end"), "{e}");
    assert!(e.reason.contains("ends at seq 8 (line 8)"), "{e}");
    // And the node refuses to write on over the evidence.
    drop(_log);
    std::fs::write(dir.join(LOG_FILE), &cut).unwrap();
    let e = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap_err();
    assert!(e.to_string().contains("missing at its end"), "{e}");
}

#[test]
fn a_log_moved_aside_starts_a_new_one_that_names_the_old_head() {
    let dir = tmp("moved");
    let (log, mut store) = build(&dir, 3);
    let old = log.head();
    drop(log);
    std::fs::rename(dir.join(LOG_FILE), dir.join("audit.log.old")).unwrap();
    let (mut log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    assert_eq!(last, None, "every input is audited again");
    let r = request(0);
    log.record(&mut store, note(0), true, &[Event::Expired { request: r }]).unwrap();
    drop(log);
    let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
    let entries = parse_lines(&bytes).unwrap();
    assert_eq!(entries[0].kind, "HEAD");
    assert!(entries[0].detail.contains(&format!("ended at seq {} hash {}", old.0, hex(&old.1))), "{:?}", entries[0]);
    verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap();
    // The node starts on it again (the recorded head moved with it).
    AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
}

#[test]
fn a_node_stopped_before_its_first_entry_starts_again() {
    let dir = tmp("empty");
    let (log, mut store) = build(&dir, 0);
    drop(log);
    assert_eq!(read_head_file(&dir).unwrap(), None, "no head recorded yet");
    let (mut log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    assert_eq!(last, None);
    log.record(&mut store, note(0), true, &[Event::Expired { request: request(0) }]).unwrap();
    log.flush(&mut store).unwrap();
    drop(log);
    AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    assert_eq!(read_head_file(&dir).unwrap().map(|(s, _)| s), Some(1));
}

#[test]
fn replay_adds_no_duplicates_and_fills_gaps() {
    let dir = tmp("replay");
    let (log, store) = build(&dir, 3);
    drop(log);
    // A crash after the first of input 2's two entries: cut its second.
    let l = lines(&dir);
    std::fs::write(dir.join(LOG_FILE), l[..5].concat()).unwrap();
    // (the recorded head is beyond: as after a crash between the file and
    // the store, but the other way round; reset it as a crash would leave it)
    let mut store = store;
    let h = unhex32(serde_json::from_str::<Entry>(&l[4]).unwrap().hash.as_str()).unwrap();
    store.set_audit_head(5, &h, true).unwrap();
    std::fs::remove_file(dir.join(HEAD_FILE)).unwrap();
    let (mut log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    assert_eq!(last, Some(2));
    // Replay all four inputs (the fourth is new).
    for i in 0..4 {
        let r = request(i as u32);
        let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
        log.record(&mut store, note(i), true, &evs).unwrap();
    }
    log.write_pending().unwrap();
    let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
    let s = verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap();
    assert_eq!(s.entries, 8, "each input's two entries exactly once");
    let entries = parse_lines(&bytes).unwrap();
    let parts: Vec<_> = entries.iter().map(|e| (e.input_seq.unwrap(), e.input_part.unwrap())).collect();
    assert_eq!(parts, vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]);
}

#[test]
fn torn_last_line_is_dropped_and_rewritten() {
    let dir = tmp("torn");
    let (log, mut store) = build(&dir, 2);
    drop(log);
    let l = lines(&dir);
    let torn = format!("{}{}", l[..3].concat(), &l[3][..20]);
    std::fs::write(dir.join(LOG_FILE), torn).unwrap();
    let h = unhex32(serde_json::from_str::<Entry>(&l[2]).unwrap().hash.as_str()).unwrap();
    store.set_audit_head(3, &h, true).unwrap();
    std::fs::remove_file(dir.join(HEAD_FILE)).unwrap();
    assert!(verify(&std::fs::read(dir.join(LOG_FILE)).unwrap(), None, &[]).unwrap_err().reason.contains("incomplete"));
    let (mut log, _) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    for i in 0..2 {
        let r = request(i as u32);
        let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
        log.record(&mut store, note(i), true, &evs).unwrap();
    }
    log.write_pending().unwrap();
    let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
    assert_eq!(verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap().entries, 4);
    assert_eq!(std::fs::read(dir.join(LOG_FILE)).unwrap(), l.concat().into_bytes());
}

#[test]
fn details_carry_no_free_text() {
    let dir = tmp("free");
    let mut store = Store::open(&dir).unwrap();
    let (mut log, _) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    let rejection = tisa_core::Rejection {
        refers_to: MessageId::new("US-1").unwrap(),
        code: "BAD <secret title>".into(),
        detail: "CANARY free text".into(),
        report_id: None,
        request_id: None,
    };
    log.record(&mut store, note(0), true, &[Event::RejectionReceived { link: Party::Us, rejection }]).unwrap();
    log.write_pending().unwrap();
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
    assert!(!text.contains("CANARY") && !text.contains('<'), "{text}");
    assert!(text.contains("REJECTION_RECEIVED"), "{text}");
}

/// What a power loss can leave of the entries after the last durable head
/// (the rest of `orig` from byte `durable` on).
fn after_power_loss(orig: &[u8], durable: usize, case: &str) -> Vec<u8> {
    let lines: Vec<&[u8]> = orig[durable..].split_inclusive(|b| *b == b'\n').collect();
    let mut out = orig[..durable].to_vec();
    match case {
        // Nothing after the fsync reached the disk.
        "nothing" => {}
        // Some of it, cut in the middle of a line.
        "torn" => {
            let keep = lines[..7].concat();
            out.extend_from_slice(&keep);
            out.extend_from_slice(&lines[7][..lines[7].len() / 2]);
        }
        // Pages written out of order: a block of zeros, then later entries.
        "zeros" => {
            out.extend_from_slice(&lines[..3].concat());
            out.extend_from_slice(&[0; 4096]);
            out.push(b'\n');
            out.extend_from_slice(&lines[9..].concat());
        }
        // Later entries without those between.
        "gap" => {
            out.extend_from_slice(&lines[..3].concat());
            out.extend_from_slice(&lines[5..].concat());
        }
        _ => unreachable!(),
    }
    out
}

/// 10 inputs made durable (as by the node's periodic fsync), then 30 more
/// only written: 80 entries and a HEAD among them, after the fsync. Then a
/// power loss (`case`). Returns the file as it was, where the durable part
/// ended, and the head a receipt sent before the loss named.
fn lose_power(dir: &Path, case: &str) -> (Vec<u8>, usize, (u64, [u8; 32]), Store) {
    let (mut log, mut store) = build(dir, 10);
    let durable = std::fs::metadata(dir.join(LOG_FILE)).unwrap().len() as usize;
    record_inputs(&mut log, &mut store, 10..40, 0);
    assert!(log.unsynced(), "the inputs' entries wait for the next fsync");
    assert_eq!(read_head_file(dir).unwrap().map(|(s, _)| s), Some(20), "the recorded head stayed at the fsync");
    // A receipt sent now names the head as it stands.
    let receipt = named(&log.signed_head());
    assert_eq!(receipt, log.head());
    assert_eq!(receipt.0, 81, "80 entries and one HEAD");
    let orig = std::fs::read(dir.join(LOG_FILE)).unwrap();
    drop(log);
    std::fs::write(dir.join(LOG_FILE), after_power_loss(&orig, durable, case)).unwrap();
    (orig, durable, receipt, store)
}

#[test]
fn a_power_loss_takes_back_nothing_a_receipt_named() {
    for case in ["nothing", "torn", "zeros", "gap"] {
        let dir = tmp("power");
        let (orig, _, receipt, mut store) = lose_power(&dir, case);
        // The node starts: the tail that does not chain on is cut off, and
        // replay writes every input's entries again.
        let (mut log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
        assert!(last.is_some_and(|l| l >= 9), "{case}: the durable part stays ({last:?})");
        record_inputs(&mut log, &mut store, 0..40, 0);
        log.flush(&mut store).unwrap();
        assert_eq!(std::fs::read(dir.join(LOG_FILE)).unwrap(), orig, "{case}: the same entries, byte for byte");
        assert_eq!(hash_at(&dir, receipt.0), Some(receipt.1), "{case}: the head the receipt named is there");
        verify(&orig, Some(&policy()), &known(&dir, &store)).unwrap();
        let aside: Vec<_> = std::fs::read_dir(&*dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("audit.log.cut-"))
            .collect();
        match case {
            "nothing" | "torn" => assert!(aside.is_empty(), "{case}: nothing to keep aside: {aside:?}"),
            _ => assert_eq!(aside, vec!["audit.log.cut-24".to_owned()], "{case}: the cut tail kept"),
        }
    }
    // Control: a replay that does not derive the same entries (their times
    // taken from the clock at replay, say) is caught by the same check.
    let dir = tmp("power-control");
    let (_, _, receipt, mut store) = lose_power(&dir, "nothing");
    let (mut log, _) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    record_inputs(&mut log, &mut store, 0..10, 0);
    record_inputs(&mut log, &mut store, 10..40, 1);
    assert_eq!(log.head().0, receipt.0);
    assert_ne!(hash_at(&dir, receipt.0), Some(receipt.1), "the check must be able to fail");
}

#[test]
fn entries_before_the_durable_head_are_never_cut() {
    let dir = tmp("keep");
    let (log, mut store) = build(&dir, 10);
    drop(log);
    // Line 5 of 20 (all durable) made unreadable: kept as evidence, the
    // node warns and goes on (`tisa audit verify` names it).
    let mut l = lines(&dir);
    l[4] = format!("{}\n", "x".repeat(l[4].len() - 1));
    std::fs::write(dir.join(LOG_FILE), l.concat()).unwrap();
    let (log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    assert_eq!(last, Some(9));
    assert_eq!(log.head().0, 20);
    drop(log);
    assert_eq!(lines(&dir), l, "nothing cut");
    // Control: the same line after the durable head is cut off (and kept aside).
    std::fs::write(dir.join(HEAD_FILE), "").unwrap();
    let h = unhex32(serde_json::from_str::<Entry>(&l[3]).unwrap().hash.as_str()).unwrap();
    store.set_audit_head(4, &h, true).unwrap();
    let (log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    assert_eq!((log.head().0, last), (4, Some(1)));
    assert_eq!(lines(&dir), l[..4].to_vec());
    assert_eq!(std::fs::read(dir.join("audit.log.cut-5")).unwrap(), l[4..].concat().into_bytes());
}

#[test]
fn a_refused_commands_entries_are_durable_at_once() {
    // Replay does not apply a refused command again, so its entries could
    // not be written again: they are fsync'd (and the head recorded) at once.
    let refused =
        Event::Unauthorized { verb: tisa_core::Verb::Submit, key: None, why: tisa_core::sign::AuthError::Malformed };
    for ok in [false, true] {
        let dir = tmp("refused");
        let (mut log, mut store) = build(&dir, 1);
        log.record(&mut store, note(1), ok, std::slice::from_ref(&refused)).unwrap();
        let recorded = read_head_file(&dir).unwrap().map(|(s, _)| s);
        if ok {
            // Control: an input replay derives again waits for the next fsync.
            assert_eq!((recorded, log.unsynced()), (Some(2), true));
        } else {
            assert_eq!((recorded, log.unsynced()), (Some(3), false));
        }
    }
}

/// A group commit's entries reach the file in one write at its end
/// (`write_pending`), not one per input. A process killed before that
/// write loses them from the file only: the node starts, replays the
/// inputs from the input log, and the file holds the same bytes it would
/// have. Control: before `write_pending`, the file does not have them.
#[test]
fn a_group_commits_entries_are_written_at_its_end_and_a_crash_before_loses_nothing() {
    let dir = tmp("group");
    let (mut log, mut store) = build(&dir, 2);
    let before = std::fs::read(dir.join(LOG_FILE)).unwrap();
    for i in 2..6 {
        let r = request(i as u32);
        let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
        log.record(&mut store, note(i), true, &evs).unwrap();
    }
    assert_eq!(std::fs::read(dir.join(LOG_FILE)).unwrap(), before, "nothing written before the group's end");
    let head = log.head();
    // The process dies here (kill -9): what waited in memory is gone.
    drop(log);
    let (mut log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    assert_eq!(last, Some(1), "the file ends with the last input written");
    // Replay applies the logged inputs again: the same entries.
    for i in 0..6 {
        let r = request(i as u32);
        let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
        log.record(&mut store, note(i), true, &evs).unwrap();
    }
    log.write_pending().unwrap();
    assert_eq!(log.head(), head, "the same chain head as before the crash");
    let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
    assert_eq!(verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap().entries, 12);
    assert_eq!(hash_at(&dir, head.0), Some(head.1));
}
