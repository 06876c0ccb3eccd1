//! Key files sealed under a passphrase: they round-trip, a wrong passphrase
//! or an altered file is refused (control: the right passphrase on the
//! untouched file loads), and plaintext key files still load.

use std::path::PathBuf;

use tisa_core::{KeyRole, Party};
use tisa_deploy::keys::{generate, generate_with, load_with};
use tisa_deploy::passphrase::Passphrase;

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("tisa-keys-{name}-{}-{nanos}", std::process::id()))
}

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s.as_bytes().to_vec()).unwrap()
}

/// The public key the agreement entry registers.
fn public_of(entry: &str) -> String {
    entry.lines().find_map(|l| l.strip_prefix("public = ")).unwrap().trim_matches('"').to_owned()
}

fn b64(k: &[u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(k)
}

#[test]
fn a_sealed_key_round_trips_and_holds_no_seed_in_the_clear() {
    let dir = scratch("roundtrip");
    let (path, entry) = generate_with(Party::Kr, Some("kim"), &dir, Some(&pass("correct horse"))).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[sealed]") && text.contains("argon2id") && text.contains("xchacha20poly1305"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("seed")), "no clear seed: {text}");
    let key = load_with(&path, Some(&pass("correct horse"))).unwrap();
    assert_eq!((key.party, key.role, key.identity.name()), (Party::Kr, KeyRole::Approver, "kim"));
    assert_eq!(b64(&key.identity.public()), public_of(&entry), "the loaded key is the registered one");
    // Sealing is randomised: the same passphrase seals the next key differently.
    let (p2, _) = generate_with(Party::Kr, Some("lee"), &dir, Some(&pass("correct horse"))).unwrap();
    let salt = |t: &str| t.lines().find(|l| l.starts_with("salt")).unwrap().to_owned();
    assert_ne!(salt(&text), salt(&std::fs::read_to_string(&p2).unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrong_or_missing_passphrase_is_refused_with_one_line() {
    let dir = scratch("wrong");
    let (path, _) = generate_with(Party::Jp, Some("sato"), &dir, Some(&pass("right"))).unwrap();
    let e = load_with(&path, Some(&pass("wrong"))).unwrap_err().to_string();
    assert!(e.contains("wrong passphrase") && e.contains("TISA_KEY_PASSPHRASE"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    // Control: the right one opens the same file.
    assert!(load_with(&path, Some(&pass("right"))).is_ok());
    // Empty passphrases are refused outright.
    assert!(Passphrase::new(Vec::new()).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_altered_sealed_file_is_refused() {
    let dir = scratch("tamper");
    let (path, _) = generate_with(Party::Kr, Some("kim"), &dir, Some(&pass("pw"))).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let p = pass("pw");
    assert!(load_with(&path, Some(&p)).is_ok(), "control: the untouched file loads");
    let ct = text.lines().find(|l| l.starts_with("ciphertext")).unwrap();
    // One character of the ciphertext changed (still base64).
    let i = ct.find('"').unwrap() + 3;
    let c = ct.as_bytes()[i];
    let flipped = format!("{}{}{}", &ct[..i], if c == b'A' { 'B' } else { 'A' }, &ct[i + 1..]);
    // The header bound to the ciphertext: another name, another role.
    let cases = [
        ("ciphertext", text.replace(ct, &flipped)),
        ("name", text.replace("name = \"kim\"", "name = \"park\"")),
        ("role", text.replace("role = \"approver\"", "role = \"node\"")),
        ("party", text.replace("party = \"KR\"", "party = \"US\"")),
    ];
    for (what, altered) in cases {
        assert_ne!(altered, text, "test bug: {what} not altered");
        std::fs::write(&path, &altered).unwrap();
        let e = load_with(&path, Some(&p)).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("altered") || e.contains("invalid key file"), "{what}: {e}");
    }
    // A file with both a clear seed and a sealed one is refused.
    std::fs::write(&path, format!("seed = \"{}\"\n{text}", b64(&[7; 32]))).unwrap();
    assert!(load_with(&path, Some(&p)).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plaintext_key_files_still_load() {
    let dir = scratch("plain");
    let (path, entry) = generate(Party::Us, None, &dir).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("seed = ") && !text.contains("[sealed]"), "{text}");
    // A passphrase given for a clear key is not needed and does no harm.
    for p in [None, Some(pass("unused"))] {
        let key = load_with(&path, p.as_ref()).unwrap();
        assert_eq!(b64(&key.identity.public()), public_of(&entry));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
