//! Loading a sealed key takes its passphrase from the environment
//! (`TISA_KEY_PASSPHRASE_FILE`, else `TISA_KEY_PASSPHRASE`), as every
//! command that loads a key does; without one it says what to set. One test
//! in this binary: it changes the process's environment. Also: the key file
//! is 0600 and a directory created for it 0700 under umask 022.

use tisa_core::Party;
use tisa_deploy::keys::{generate_with, load};
use tisa_deploy::passphrase::{Passphrase, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV};

#[test]
fn a_sealed_key_loads_with_the_passphrase_from_the_environment() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let base = std::env::temp_dir().join(format!("tisa-keys-env-{}-{nanos}", std::process::id()));
    let dir = base.join("keys");
    let pw = Passphrase::new(b"s3cret pass".to_vec()).unwrap();
    let (path, _) = generate_with(Party::Kr, Some("kim"), &dir, Some(&pw)).unwrap();
    assert_eq!(tisa_fs::mode_of(&path).unwrap(), 0o600);
    assert_eq!(tisa_fs::mode_of(&dir).unwrap(), 0o700);

    std::env::remove_var(PASSPHRASE_ENV);
    std::env::remove_var(PASSPHRASE_FILE_ENV);
    let e = load(&path).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("protected by a passphrase") && e.contains(PASSPHRASE_FILE_ENV), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");

    std::env::set_var(PASSPHRASE_ENV, "s3cret pass");
    assert_eq!(load(&path).unwrap().identity.name(), "kim");
    std::env::set_var(PASSPHRASE_ENV, "not it");
    assert!(load(&path).map(|_| ()).unwrap_err().to_string().contains("wrong passphrase"));

    // The file wins over the variable; one trailing newline is not part of it.
    let f = base.join("pass.txt");
    std::fs::write(&f, "s3cret pass\n").unwrap();
    std::env::set_var(PASSPHRASE_FILE_ENV, &f);
    assert_eq!(load(&path).unwrap().identity.name(), "kim");
    std::fs::write(&f, "s3cret pass \n").unwrap();
    assert!(load(&path).is_err(), "other whitespace is part of the passphrase");
    std::env::remove_var(PASSPHRASE_ENV);
    std::env::remove_var(PASSPHRASE_FILE_ENV);
    std::fs::remove_dir_all(&base).unwrap();
}
