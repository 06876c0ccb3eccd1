use super::*;

/// Small segments, so that rolling over is cheap to test.
const SEG: u64 = 4096;

fn payloads(from: u64, n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("input-{}-", from + i as u64).into_bytes().into_iter().cycle().take(len).collect()).collect()
}

fn all(w: &mut Wal, from: u64) -> Vec<(u64, Vec<u8>)> {
    w.read_from(from, usize::MAX).unwrap()
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn records_read_back_in_order_across_restarts_and_chunks() {
    let d = dir();
    let mut w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    assert_eq!((w.first_seq(), w.next_seq()), (0, 0));
    assert_eq!(w.append(&payloads(0, 3, 40)).unwrap(), 0);
    assert_eq!(w.append(&payloads(3, 2, 500)).unwrap(), 3);
    let expect: Vec<(u64, Vec<u8>)> =
        (0..5u64).map(|s| (s, if s < 3 { payloads(s, 1, 40) } else { payloads(s, 1, 500) }.remove(0))).collect();
    assert_eq!(all(&mut w, 0), expect);
    drop(w);
    let mut w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    assert_eq!(w.next_seq(), 5, "a restart continues after the last record");
    // In chunks, as replay reads it (the cursor), and from the middle.
    let mut chunks = Vec::new();
    let mut from = 0;
    loop {
        let c = w.read_from(from, 2).unwrap();
        if c.is_empty() {
            break;
        }
        from = c.last().unwrap().0 + 1;
        chunks.extend(c);
    }
    assert_eq!(chunks, expect);
    assert_eq!(w.read_from(3, 10).unwrap(), expect[3..].to_vec());
    assert_eq!(w.append(&payloads(5, 1, 10)).unwrap(), 5);
}

#[test]
fn a_new_log_starts_at_its_base() {
    let d = dir();
    let mut w = Wal::open_sized(d.path(), 42, SEG).unwrap();
    assert_eq!(w.append(&payloads(42, 2, 10)).unwrap(), 42);
    assert!(w.read_from(0, 10).unwrap().is_empty(), "nothing before the base is here");
    assert_eq!(w.read_from(42, 10).unwrap().len(), 2);
    let w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    assert_eq!((w.first_seq(), w.next_seq()), (42, 44), "the segment's name says where it starts");
}

#[test]
fn segments_roll_over_and_are_preallocated() {
    let d = dir();
    let mut w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    // One batch larger than a segment gets a segment of its own size.
    let big = vec![vec![7u8; (SEG as usize) / 2], vec![8u8; (SEG as usize) / 2]];
    w.append(&payloads(0, 1, 10)).unwrap();
    w.append(&big).unwrap();
    w.append(&payloads(3, 1, 10)).unwrap();
    let names: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(d.path().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names, ["00000000000000000000.log", "00000000000000000001.log", "00000000000000000003.log"]);
    for n in &names {
        let len = std::fs::metadata(d.path().join("wal").join(n)).unwrap().len();
        assert!(len >= SEG, "{n} is preallocated: {len}");
    }
    let mut w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    let got = all(&mut w, 0);
    assert_eq!(
        got.iter().map(|(s, p)| (*s, p.len())).collect::<Vec<_>>(),
        [(0, 10), (1, big[0].len()), (2, big[1].len()), (3, 10)]
    );
    assert_eq!(w.read_from(2, 1).unwrap()[0].1, big[1]);
}

/// A torn write (power loss during an append): the damaged record and what
/// follows are not the log; the next append takes their place.
#[test]
fn a_torn_tail_is_cut_off_and_overwritten() {
    let d = dir();
    let mut w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    w.append(&payloads(0, 2, 100)).unwrap();
    w.append(&payloads(2, 2, 100)).unwrap();
    let seg = d.path().join("wal").join(format!("{:020}.log", 0));
    // Control: intact, all four read back.
    assert_eq!(all(&mut Wal::open_sized(d.path(), 0, SEG).unwrap(), 0).len(), 4);
    // Damage record 2's payload.
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(b"X", 2 * (HEADER as u64 + 100) + HEADER as u64 + 5).unwrap();
    let mut w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    assert_eq!(w.next_seq(), 2, "the log ends before the damaged record");
    assert_eq!(all(&mut w, 0).len(), 2);
    // The next append overwrites the damage; record 3's old bytes behind it are not taken.
    assert_eq!(w.append(&payloads(2, 1, 30)).unwrap(), 2);
    let mut w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    assert_eq!(w.next_seq(), 3);
    assert_eq!(all(&mut w, 0).last().unwrap(), &(2, payloads(2, 1, 30).remove(0)));
}

#[test]
fn damage_before_later_segments_refuses_to_open() {
    let d = dir();
    let mut w = Wal::open_sized(d.path(), 0, SEG).unwrap();
    w.append(&payloads(0, 2, 100)).unwrap();
    w.append(&[vec![1u8; SEG as usize]]).unwrap();
    drop(w);
    // Control: it opens.
    assert_eq!(Wal::open_sized(d.path(), 0, SEG).unwrap().next_seq(), 3);
    let seg = d.path().join("wal").join(format!("{:020}.log", 0));
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(b"X", HEADER as u64 + 100 + HEADER as u64 + 1).unwrap();
    let e = Wal::open_sized(d.path(), 0, SEG).unwrap_err().to_string();
    assert!(e.contains("restore the data directory"), "{e}");
}
