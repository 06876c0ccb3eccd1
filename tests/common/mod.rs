//! The one shared harness of the cross-process integration tests (a module
//! of `tests/it.rs`, the one test binary every `tests/*.rs` belongs to).
//!
//! Every test starts its own real `nats-server` (dynamic port) and the three
//! real `tisa node` processes (KR, US, JP), then drives them with the real
//! `tisa` binary, exactly as an operator would, or with in-process operator
//! clients.
//!
//! Synchronisation rules (so the tests never flake and never lie):
//! - Nothing waits with a fixed sleep; [`wait_until`] (and its async twin)
//!   polls a condition against a generous deadline ([`WAIT`]).
//! - To show that something did NOT arrive, a later legitimate message that
//!   travels the same ordered path is made to arrive first (a "canary"), and
//!   only then is absence asserted. See [`relay_canary`] and [`us_canary`].
//! - Absence is checked twice: in the node's answers (`inbox`) and on the
//!   wire, by a raw tap on every hub→nation subject ([`TestCluster::crossed_to`]),
//!   because a nation's node refusing a leaked report is not the same as the
//!   hub never sending it.
//!
//! Operator decisions are signed with the party's first approver key of the
//! cluster's generated deployment (`--key`), as the operator's CLI would.
//!
//! - [`wait`]: the one wait-until with a deadline (blocking and async).
//! - [`cluster`]: the one cluster starter ([`TestCluster`]: open, secured,
//!   per-nation, TLS or any generated deployment) and the limit of two
//!   clusters at a time.
//! - [`cli`]: the one `tisa` runner, for any command and for a party's
//!   operator on any cluster; background commands.
//! - [`flow`]: report flows through the CLI (submit, pending, inbox,
//!   approve…), canaries and absence checks.
//! - [`raw`]: raw NATS connections (forge, replay, capture, attack).
//! - [`proxy`]: a TCP proxy a test can cut and heal (a partition).
//! - [`console`]: a party's `tisa console`, started on a free port.
//! - [`ctl`]: in-process operator clients (async), decisions signed in the test.
//! - [`fault`]: what the fault tests add (audit logs through the CLI,
//!   submits that ride out crashes).
#![allow(dead_code)]

pub mod cli;
pub mod cluster;
pub mod console;
pub mod ctl;
pub mod fault;
pub mod flow;
pub mod proxy;
pub mod raw;
pub mod wait;

use std::sync::atomic::{AtomicU64, Ordering};

// Each test file uses some of these.
#[allow(unused_imports)]
pub use {cli::*, cluster::*, flow::*, raw::*, wait::*};

/// A private scratch directory (mode 0700) under the system temp dir,
/// removed with everything in it when dropped: what a test puts there
/// (keys, certificates, login links) does not outlive it.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    /// A fresh one, its name starting `tisa-<what>-`.
    pub fn new(what: &str) -> Scratch {
        Scratch(tisa_kit::natsd::scratch_dir(what).expect("a scratch directory"))
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unique marker string, e.g. for a title or body, that no other string in
/// the test contains (fixed-width counter and an end mark: never a prefix of
/// another canary).
pub fn canary(label: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("CANARY_{label}_{}_{:05}_{:08x}_Z", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos as u32)
}

/// The agreement (version, hash) the nodes of `c` enforce: what a message
/// a test forges must carry to be judged on its merits (one under another
/// version is not taken at all).
#[allow(dead_code)]
pub fn agreement_tag(c: &tisa_kit::cluster::Cluster) -> tisa_core::AgreementTag {
    tisa_deploy::agreement::load(Some(&c.agreement())).expect("the cluster's agreement is in force").policy.tag()
}
