//! Logs never carry content: the Debug output of every message and event is
//! free of a report's text.

use super::*;

#[test]
fn debug_output_never_contains_report_content() {
    let mut sim = Sim::new();
    let mut results = Vec::new();
    busy_day(&mut sim, Sim::drive);
    results.push(format!("{:?}", sim.submit(KR, "KR-0009", draft(NkMissile, Secret, "USA,JPN", "z"))));
    results.push(format!("{:?}", sim.submit(KR, "KR-0010", draft(NkMissile, TopSecret, "USA,JPN", "z"))));
    results.push(format!("{:?}", sim.submit(KR, "KR-0011", draft(Other, Secret, "USA,JPN", "z"))));
    sim.drive();
    results.push(format!("{:?}", sim.pending(KR)));
    // Forged input carrying content, refused in every way we know.
    let now = sim.now;
    let Payload::Report(mut r) = sim.sent(KR, US)[0].payload.clone() else { panic!() };
    let genuine = r.clone();
    r.content.body = Sensitive::new("CANARY-BODY-conflict");
    sim.inject(US, KR, envelope(KR, "KR.f.0", now, Payload::Report(r.clone()))); // unverified
    r.manifest = manifest(&r.header, &r.content, CLERK, &node_key(KR));
    sim.inject(US, KR, envelope(KR, "KR.f.1", now, Payload::Report(r.clone()))); // conflict
    sim.inject(US, JP, envelope(KR, "KR.f.2", now, Payload::Report(r.clone())));
    // A compromised hub's tampered delivery to JP, with KR's genuine approval.
    let consent = kr_approval(&genuine.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
    let tampered =
        Delivery { released: Released::Full(r.content.clone()), ..trilateral(&genuine, JP, false, Some(consent)) };
    sim.inject(JP, US, envelope(US, "US.f.0", now, Payload::Delivery(tampered)));
    r.header.originator = JP;
    sim.inject(US, KR, envelope(KR, "KR.f.3", now, Payload::Report(r.clone())));
    let d = Delivery { basis: Basis::Bilateral, request_id: None, ..trilateral(&r, JP, false, None) };
    sim.inject(KR, US, envelope(US, "US.f.1", now, Payload::Delivery(d.clone())));
    sim.inject(JP, KR, envelope(KR, "KR.f.4", now, Payload::Delivery(d)));
    sim.drive();
    assert!(sim.rejected(US).iter().any(|r| r.code() == "UNVERIFIED"));
    assert!(sim.rejected(US).iter().any(|r| r.code() == "CONFLICT"));
    assert!(sim.rejected(JP).iter().any(|r| r.code() == "UNVERIFIED"));
    results.push(format!("{:?}", sim.approve(KR, &rid("KR-0001", 1, JP), true)));

    let mut checked = 0;
    let mut check = |what: &str, s: String| {
        assert!(!s.contains("CANARY"), "{what} leaks content: {s}");
        checked += 1;
    };
    for p in Party::ALL {
        for e in sim.events(p) {
            check("event", format!("{e:?}"));
            check("event", format!("{e:#?}"));
            if let Event::Rejected { reason, .. } = e {
                check("reason", reason.to_string());
            }
        }
        check("inbox", format!("{:?}", sim.inbox(p)));
        check("status", format!("{:?}", sim.status(p)));
        check("pending", format!("{:?}", sim.pending(p)));
        check("node", format!("{:?}", sim.node(p)));
        check("grants", format!("{:?}", sim.grants(p)));
    }
    for s in sim.log() {
        check("transmit", format!("{:?}", s.transmit));
        check("transmit", format!("{:#?}", s.transmit));
    }
    for r in results {
        check("command result", r);
    }
    assert!(checked > 100);
    // The canaries are really there, for those they were released to.
    assert!(sim.inbox(JP).iter().any(|e| released_strings(&e.delivery.released).iter().any(|s| s.contains("CANARY"))));
}
