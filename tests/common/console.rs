//! `tisa console` for a party of a [`TestCluster`]: started with the
//! party's first approver key on a free loopback port, the login link
//! written to a private file.

use tisa_core::Party;

use super::cli::{op_args, Background};
use super::cluster::TestCluster;
use super::Scratch;

/// A running console: the process, its base URL (`http://127.0.0.1:port`, or `https://…`)
/// and its single-use login link.
pub struct ConsoleProc {
    pub process: Background,
    pub base: String,
    pub link: String,
    /// Holds the login file; removed when the console is dropped.
    pub dir: Scratch,
}

/// Starts `party`'s console with its first approver's key.
pub fn start_console(c: &TestCluster, party: Party) -> ConsoleProc {
    start_console_with(c, party, false, &[])
}

/// Starts `party`'s console with its first (or `second`) approver's key and `extra` arguments.
pub fn start_console_with(c: &TestCluster, party: Party, second: bool, extra: &[&str]) -> ConsoleProc {
    let dir = Scratch::new("console");
    let file = dir.join("login-link");
    let f = file.to_string_lossy().into_owned();
    let key = c.approver_key(party, second).to_string_lossy().into_owned();
    let mut args = vec!["console", "--listen", "127.0.0.1:0", "--login-file", &f, "--key", &key];
    args.extend(extra);
    let args = op_args(c, party, false, &args);
    let mut process = Background::spawn_args(&args);
    let line = process.wait_stdout("the console's address", |l| l.contains("tisa console for"));
    let url = line.split_whitespace().find(|w| w.contains("://")).expect("the console's URL");
    let (scheme, rest) = url.split_once("://").expect("scheme://address/");
    let base = format!("{scheme}://{}", rest.split('/').next().expect("the address"));
    let link = std::fs::read_to_string(&file).expect("the login link").trim().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).expect("the login file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the login file is private");
    }
    ConsoleProc { process, base, link, dir }
}
