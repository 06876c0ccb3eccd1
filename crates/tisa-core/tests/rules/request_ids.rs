//! Request ids: long report ids still get distinct request ids.

use super::*;

#[test]
fn long_report_ids_get_distinct_request_ids() {
    let a = format!("KR-{}", "x".repeat(124));
    let b = format!("KR-{}y", "x".repeat(123));
    assert_eq!((a.len(), b.len()), (127, 127));
    for rev in [1, 2, u32::MAX] {
        let (ra, rb) = (rid(&a, rev, JP), rid(&b, rev, JP));
        assert!(ra.as_str().len() <= 128 && RequestId::new(ra.as_str()).is_ok());
        assert_ne!(ra, rb, "two reports share release request {ra}");
        assert_ne!(ra, rid(&a, rev, KR));
    }

    // End to end: both can be released.
    let mut sim = Sim::new();
    sim.submit(KR, &a, draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.submit(KR, &b, draft(NkMissile, Secret, "USA,JPN", "b")).unwrap();
    sim.drive();
    assert_eq!(sim.pending(KR).len(), 2);
    for v in sim.pending(KR) {
        sim.approve(KR, &v.request.request_id, false).unwrap();
    }
    sim.drive();
    assert!(sim.has(JP, &a, 1) && sim.has(JP, &b, 1));
    assert!(sim.rejected(US).is_empty() && sim.rejected(KR).is_empty());
}
