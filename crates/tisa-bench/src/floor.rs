//! What a path's unavoidable serial steps cost alone on this machine, in
//! the same run: an `fdatasync` of one record appended to a preallocated
//! file (as the input log commits a group), an ed25519 signature and a
//! verification of a distinct message (nothing cached). `report::targets`
//! adds them up, with the raw 2-hop, per latency target: the least a path
//! can take while every guarantee stays on.
//!
//! The `fdatasync` is measured twice: back to back (as group commits follow
//! one another under load) and **lone**, each after the disk sat idle for
//! [`LONE_GAP`] (as a latency path's commit comes: one report or update at
//! a time, the node idle in between). On some machines the two differ by
//! an order of magnitude (a virtual disk whose host wakes for a request
//! after an idle spell); the latency floors use the lone one.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use serde::Serialize;

use crate::percentiles;

/// Bytes of one record in the probe (a small report's input is of this size).
const RECORD: usize = 300;

/// How long the disk sits idle before each lone `fdatasync`: about what a
/// node waits between two one-at-a-time samples.
pub(crate) const LONE_GAP: std::time::Duration = std::time::Duration::from_millis(1);

/// The steps' costs alone (µs).
#[derive(Serialize, Debug, Clone, Default)]
pub(crate) struct Floors {
    /// Samples of each.
    pub samples: usize,
    /// One record written after the last in a preallocated file, then
    /// `fdatasync`, back to back with the one before.
    pub fdatasync_p50_us: f64,
    /// Its 99th percentile.
    pub fdatasync_p99_us: f64,
    /// The same, each after [`LONE_GAP`] with the disk idle: the lower of
    /// the two probes (at the run's start and end, [`measure_lone`]).
    pub fdatasync_lone_p50_us: f64,
    /// Its 99th percentile (the lower of the two probes').
    pub fdatasync_lone_p99_us: f64,
    /// Its least.
    pub fdatasync_lone_min_us: f64,
    /// Each lone probe: `[p50, p99]` (µs), in the order taken.
    pub lone_probes: Vec<[f64; 2]>,
    /// An ed25519 signature over a distinct 300-byte message.
    pub sign_p50_us: f64,
    /// Its least.
    pub sign_min_us: f64,
    /// An ed25519 verification of a distinct signature (no cache).
    pub verify_p50_us: f64,
    /// Its least.
    pub verify_min_us: f64,
}

/// A file preallocated and made durable, as the input log's segments are:
/// each commit then writes data only, never the file's size.
fn probe_file(dir: &Path, name: &str, bytes: usize) -> Result<(std::fs::File, std::path::PathBuf)> {
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(&vec![0u8; bytes])?;
    f.sync_all()?;
    f.seek(SeekFrom::Start(0))?;
    Ok((f, path))
}

/// `samples` records, each written and `fdatasync`'d after `gap` (slept).
fn fdatasyncs(dir: &Path, samples: usize, gap: std::time::Duration) -> Result<Vec<std::time::Duration>> {
    let (mut f, path) = probe_file(dir, "fdatasync-probe", RECORD * samples)?;
    let record = [0x5au8; RECORD];
    let mut sync = Vec::with_capacity(samples);
    for _ in 0..samples {
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
        let t = Instant::now();
        f.write_all(&record)?;
        f.sync_data()?;
        sync.push(t.elapsed());
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(sync)
}

/// Measures lone `fdatasync`s: `samples` of them, each after [`LONE_GAP`].
pub(crate) fn measure_lone(dir: &Path, samples: usize) -> Result<Fsync> {
    let v = fdatasyncs(dir, samples.max(1), LONE_GAP)?;
    let min = least(&v);
    let (_, p50, p99, _, _) = percentiles(v);
    Ok(Fsync { p50, p99, min })
}

fn least(v: &[std::time::Duration]) -> f64 {
    v.iter().min().map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

/// Measures [`Floors`] with `samples` of each, the file in `dir`.
pub(crate) fn measure(dir: &Path, samples: usize) -> Result<Floors> {
    let samples = samples.max(1);
    let sync = fdatasyncs(dir, samples, std::time::Duration::ZERO)?;
    let lone = measure_lone(dir, samples)?;

    let key = SigningKey::from_bytes(&[7; 32]);
    let public = key.verifying_key();
    let messages: Vec<Vec<u8>> = (0..samples)
        .map(|i| {
            let mut m = vec![0u8; RECORD];
            m[..8].copy_from_slice(&(i as u64).to_le_bytes());
            m
        })
        .collect();
    let mut sign = Vec::with_capacity(samples);
    let mut sigs = Vec::with_capacity(samples);
    for m in &messages {
        let t = Instant::now();
        let s = key.sign(m);
        sign.push(t.elapsed());
        sigs.push(s);
    }
    let mut verify = Vec::with_capacity(samples);
    for (m, s) in messages.iter().zip(&sigs) {
        let t = Instant::now();
        let ok = public.verify(m, s).is_ok();
        verify.push(t.elapsed());
        anyhow::ensure!(ok, "the probe's own signature did not verify");
    }
    let (_, sync50, sync99, _, _) = percentiles(sync);
    Ok(Floors {
        samples,
        fdatasync_p50_us: sync50,
        fdatasync_p99_us: sync99,
        fdatasync_lone_p50_us: lone.p50,
        fdatasync_lone_p99_us: lone.p99,
        fdatasync_lone_min_us: lone.min,
        lone_probes: vec![[lone.p50, lone.p99]],
        sign_min_us: least(&sign),
        sign_p50_us: percentiles(sign).1,
        verify_min_us: least(&verify),
        verify_p50_us: percentiles(verify).1,
    })
}

/// A latency path's serial steps, counted from the code (see README, `tisa
/// bench`): process hops (each at least half a raw 2-hop), `fdatasync`s,
/// signatures and verifications, each a distinct key or document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Steps {
    /// Broker traversals in series (the bench's call in, each link, the event out).
    pub hops: u32,
    /// Commits in series before the effect (`fdatasync` each).
    pub fsyncs: u32,
    /// ed25519 signatures in series.
    pub signs: u32,
    /// ed25519 verifications in series.
    pub verifies: u32,
    /// Of those, the ones a node checks while its commit syncs (KR's and
    /// JP's, `tisa_node::ahead`): where the nodes ran checks ahead, they
    /// overlap the commits instead of following them.
    pub ahead: u32,
}

/// A report submitted under the standing grant, KR → JP's `RECEIVED`: the
/// client signs the operator's action and the submission; KR verifies both,
/// commits the command (it arrives once), signs the manifest; the hub and JP
/// each verify the manifest and the submitter's proof; JP commits before
/// `RECEIVED`. Four traversals: call, KR → hub, hub → JP, event. KR's two
/// and JP's two checks may run while their commits sync.
pub(crate) const STANDING: Steps = Steps { hops: 4, fsyncs: 2, signs: 3, verifies: 6, ahead: 4 };
/// An approval → JP's `RECEIVED`: the client signs the decision; KR verifies
/// it and commits it; the hub verifies it; JP verifies the manifest, the
/// submitter's proof and the decision, and commits (KR's one and JP's three
/// checks may run while their commits sync).
pub(crate) const APPROVAL: Steps = Steps { hops: 4, fsyncs: 2, signs: 1, verifies: 5, ahead: 4 };
/// A track update → JP's `TRACK`: the client signs the command; KR verifies
/// it, commits it (it arrives once) and signs the update; the hub's lane and
/// JP's each verify the update (the grant's statement is cached). KR's
/// check may run while its commit syncs.
pub(crate) const TRACK: Steps = Steps { hops: 4, fsyncs: 1, signs: 2, verifies: 3, ahead: 1 };

/// `fdatasync` figures (µs): a lone probe's, or those a floor takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fsync {
    pub p50: f64,
    pub p99: f64,
    pub min: f64,
}

impl Fsync {
    /// Each figure the lower of the two.
    pub(crate) fn lower(self, o: Fsync) -> Fsync {
        Fsync { p50: self.p50.min(o.p50), p99: self.p99.min(o.p99), min: self.min.min(o.min) }
    }
}

impl Floors {
    /// The lone probe's figures.
    pub(crate) fn lone(&self) -> Fsync {
        Fsync { p50: self.fdatasync_lone_p50_us, p99: self.fdatasync_lone_p99_us, min: self.fdatasync_lone_min_us }
    }

    /// A second lone probe (taken later in the run): each figure becomes
    /// the lower of the two, so that the floor never overstates.
    pub(crate) fn add_lone(&mut self, l: Fsync) {
        self.lone_probes.push([l.p50, l.p99]);
        self.fdatasync_lone_p50_us = self.fdatasync_lone_p50_us.min(l.p50);
        self.fdatasync_lone_p99_us = self.fdatasync_lone_p99_us.min(l.p99);
        self.fdatasync_lone_min_us = self.fdatasync_lone_min_us.min(l.min);
    }

    /// A p50 target's floor (µs): the steps' medians added up, a hop being
    /// half the raw 2-hop p50, each commit an `fdatasync` at `fs` (lone:
    /// a latency path takes one report or update at a time). With
    /// `overlap` (the nodes ran checks ahead), the commits and the checks
    /// run beside them count as the longer of the two.
    pub(crate) fn p50_us(&self, steps: Steps, raw_2hop_p50_us: f64, fs: Fsync, overlap: bool) -> f64 {
        let beside = if overlap { steps.ahead.min(steps.verifies) } else { 0 };
        let commits = f64::from(steps.fsyncs) * fs.p50;
        f64::from(steps.hops) * raw_2hop_p50_us / 2.0
            + commits.max(f64::from(beside) * self.verify_p50_us)
            + f64::from(steps.signs) * self.sign_p50_us
            + f64::from(steps.verifies - beside) * self.verify_p50_us
    }

    /// A p99 target's floor (µs), a strict lower bound: a path that takes
    /// one `fdatasync` and other steps in series takes at least that
    /// `fdatasync` plus the others' least, so its 99th percentile is at
    /// least the `fdatasync`'s 99th percentile (`fs`) plus the other
    /// commits', signatures' and verifications' least (hops counted as
    /// nothing). Without a commit, the steps' least. With `overlap` (the
    /// nodes ran checks ahead), the checks beside the commits count as
    /// nothing.
    pub(crate) fn p99_us(&self, steps: Steps, fs: Fsync, overlap: bool) -> f64 {
        let serial = steps.verifies - if overlap && steps.fsyncs > 0 { steps.ahead.min(steps.verifies) } else { 0 };
        let cpu = f64::from(steps.signs) * self.sign_min_us + f64::from(serial) * self.verify_min_us;
        match steps.fsyncs {
            0 => cpu,
            n => fs.p99 + f64::from(n - 1) * fs.min + cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floors() -> Floors {
        Floors {
            samples: 1,
            fdatasync_p50_us: 60.0,
            fdatasync_p99_us: 90.0,
            fdatasync_lone_p50_us: 200.0,
            fdatasync_lone_p99_us: 900.0,
            fdatasync_lone_min_us: 50.0,
            lone_probes: vec![[200.0, 900.0]],
            sign_p50_us: 30.0,
            sign_min_us: 25.0,
            verify_p50_us: 50.0,
            verify_min_us: 40.0,
        }
    }

    #[test]
    fn a_path_s_floor_adds_up_its_steps() {
        let f = floors();
        // 4 hops of half a 180 µs 2-hop, 2 lone fsyncs (not the back-to-back
        // ones), 3 signatures, 6 verifications.
        let lone = f.lone();
        assert_eq!(f.p50_us(STANDING, 180.0, lone, false), 360.0 + 400.0 + 90.0 + 300.0);
        assert_eq!(f.p50_us(TRACK, 180.0, lone, false), 360.0 + 200.0 + 60.0 + 150.0);
        // p99: one lone fsync at its p99, the other at its least, the
        // signatures and verifications at their least, no hops.
        assert_eq!(f.p99_us(STANDING, lone, false), 900.0 + 50.0 + 75.0 + 240.0);
        assert_eq!(f.p99_us(TRACK, lone, false), 900.0 + 50.0 + 120.0);
        assert_eq!(f.p99_us(Steps { hops: 4, fsyncs: 0, signs: 1, verifies: 1, ahead: 1 }, lone, true), 65.0);
        // Lowered by the path's own commits where those were faster.
        let path = Fsync { p50: 100.0, p99: 1200.0, min: 20.0 };
        assert_eq!(lone.lower(path), Fsync { p50: 100.0, p99: 900.0, min: 20.0 });
        assert_eq!(f.p99_us(STANDING, lone.lower(path), false), 900.0 + 20.0 + 75.0 + 240.0);
    }

    #[test]
    fn checks_run_while_a_commit_syncs_count_only_beyond_it() {
        let f = floors();
        let lone = f.lone();
        // Standing: KR's and JP's four checks beside two 200 µs commits
        // (400 µs, longer than 4 × 50): the commits alone, then the hub's two.
        assert_eq!(f.p50_us(STANDING, 180.0, lone, true), 360.0 + 400.0 + 90.0 + 100.0);
        // Beside a commit shorter than they are, the checks count instead.
        let quick = Fsync { p50: 20.0, p99: 30.0, min: 10.0 };
        assert_eq!(f.p50_us(TRACK, 180.0, quick, true), 360.0 + 50.0 + 60.0 + 100.0);
        // p99, a strict bound: the checks beside the commits count as nothing.
        assert_eq!(f.p99_us(STANDING, lone, true), 900.0 + 50.0 + 75.0 + 80.0);
        assert_eq!(f.p99_us(TRACK, lone, true), 900.0 + 50.0 + 80.0);
        // The control: without checks ahead, each is added.
        assert!(f.p99_us(STANDING, lone, false) > f.p99_us(STANDING, lone, true));
        assert!(f.p50_us(STANDING, 180.0, lone, false) > f.p50_us(STANDING, 180.0, lone, true));
    }

    #[test]
    fn a_later_lone_probe_lowers_the_floor_never_raises_it() {
        let mut f = floors();
        f.add_lone(Fsync { p50: 300.0, p99: 700.0, min: 60.0 });
        assert_eq!((f.fdatasync_lone_p50_us, f.fdatasync_lone_p99_us, f.fdatasync_lone_min_us), (200.0, 700.0, 50.0));
        assert_eq!(f.lone_probes, vec![[200.0, 900.0], [300.0, 700.0]]);
    }

    #[test]
    fn the_probe_measures_every_step() {
        let dir = tisa_kit::natsd::scratch_dir("floor-test").unwrap();
        let f = measure(&dir, 5).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(f.samples, 5);
        for v in [
            f.fdatasync_p50_us,
            f.fdatasync_p99_us,
            f.fdatasync_lone_p50_us,
            f.fdatasync_lone_p99_us,
            f.fdatasync_lone_min_us,
            f.sign_p50_us,
            f.sign_min_us,
            f.verify_p50_us,
            f.verify_min_us,
        ] {
            assert!(v.is_finite() && v > 0.0, "{f:?}");
        }
        assert!(f.fdatasync_p50_us <= f.fdatasync_p99_us, "{f:?}");
        assert!(f.fdatasync_lone_min_us <= f.fdatasync_lone_p50_us, "{f:?}");
        assert!(f.fdatasync_lone_p50_us <= f.fdatasync_lone_p99_us, "{f:?}");
        assert!(f.sign_min_us <= f.sign_p50_us && f.verify_min_us <= f.verify_p50_us, "{f:?}");
    }
}
