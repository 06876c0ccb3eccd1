//! What submit checks: report ids (the originator's prefix, unique) and the
//! text fields.

use super::*;

#[test]
fn report_ids_carry_their_originators_prefix_and_are_unique() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.submit(US, "KR-0001", draft(NkMissile, Secret, "KOR", "x")),
        Err(CommandError::BadReportIdPrefix { id: report_id("KR-0001"), prefix: "US" })
    );
    assert_eq!(
        sim.submit(KR, "US-0001", draft(NkMissile, Secret, "USA", "x")),
        Err(CommandError::BadReportIdPrefix { id: report_id("US-0001"), prefix: "KR" })
    );
    assert_eq!(
        sim.submit(JP, "KR-0001", draft(NkMissile, Secret, "USA", "x")),
        Err(CommandError::BadReportIdPrefix { id: report_id("KR-0001"), prefix: "JP" })
    );
    assert!(matches!(
        sim.submit(KR, "KR", draft(NkMissile, Secret, "USA", "x")),
        Err(CommandError::BadReportIdPrefix { .. })
    ));
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "x")).unwrap();
    assert_eq!(
        sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "y")),
        Err(CommandError::DuplicateReportId(report_id("KR-0001")))
    );
    assert_eq!(sim.status(KR).len(), 1);
}

#[test]
fn report_text_is_checked_at_submit() {
    let mut sim = Sim::new();
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.title = Sensitive::new(" ");
    assert_eq!(sim.submit(KR, "KR-0001", d), Err(CommandError::Empty(TextField::Title)));
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.body = Sensitive::new("");
    assert_eq!(sim.submit(KR, "KR-0001", d), Err(CommandError::Empty(TextField::Body)));
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.tearline = Some(Sensitive::new(""));
    assert_eq!(sim.submit(KR, "KR-0001", d), Err(CommandError::Empty(TextField::Tearline)));
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.title = Sensitive::new("t".repeat(limits::TITLE + 1));
    assert!(matches!(sim.submit(KR, "KR-0001", d), Err(CommandError::TooLong { field: TextField::Title, .. })));
    // An empty source is fine.
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.source = Sensitive::new("");
    sim.submit(KR, "KR-0001", d).unwrap();
    assert_eq!(sim.log().len(), 1);
}
