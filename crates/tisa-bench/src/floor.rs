//! What a path's unavoidable serial steps cost alone on this machine, in
//! the same run: an `fdatasync` of one record appended to a preallocated
//! file (as the input log commits a group), an ed25519 signature and a
//! verification of a distinct message (nothing cached). `report::targets`
//! adds them up, with the raw 2-hop, per latency target: the least a path
//! can take while every guarantee stays on.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use serde::Serialize;

use crate::percentiles;

/// Bytes of one record in the probe (a small report's input is of this size).
const RECORD: usize = 300;

/// The steps' costs alone (µs).
#[derive(Serialize, Debug, Clone, Copy, Default)]
pub(crate) struct Floors {
    /// Samples of each.
    pub samples: usize,
    /// One record written after the last in a preallocated file, then `fdatasync`.
    pub fdatasync_p50_us: f64,
    /// Its 99th percentile.
    pub fdatasync_p99_us: f64,
    /// An ed25519 signature over a distinct 300-byte message.
    pub sign_p50_us: f64,
    /// An ed25519 verification of a distinct signature (no cache).
    pub verify_p50_us: f64,
}

/// Measures [`Floors`] with `samples` of each, the file in `dir`.
pub(crate) fn measure(dir: &Path, samples: usize) -> Result<Floors> {
    let samples = samples.max(1);
    let path = dir.join("fdatasync-probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    // Preallocated and durable first, as the input log's segments are: each
    // commit then writes data only, never the file's size.
    f.write_all(&vec![0u8; RECORD * samples])?;
    f.sync_all()?;
    f.seek(SeekFrom::Start(0))?;
    let record = [0x5au8; RECORD];
    let mut sync = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f.write_all(&record)?;
        f.sync_data()?;
        sync.push(t.elapsed());
    }
    drop(f);
    let _ = std::fs::remove_file(&path);

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
        sign_p50_us: percentiles(sign).1,
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
}

/// A report submitted under the standing grant, KR → JP's `RECEIVED`: the
/// client signs the operator's action and the submission; KR verifies both,
/// commits the command (it arrives once), signs the manifest; the hub and JP
/// each verify the manifest and the submitter's proof; JP commits before
/// `RECEIVED`. Four traversals: call, KR → hub, hub → JP, event.
pub(crate) const STANDING: Steps = Steps { hops: 4, fsyncs: 2, signs: 3, verifies: 6 };
/// An approval → JP's `RECEIVED`: the client signs the decision; KR verifies
/// it and commits it; the hub verifies it; JP verifies the manifest, the
/// submitter's proof and the decision, and commits.
pub(crate) const APPROVAL: Steps = Steps { hops: 4, fsyncs: 2, signs: 1, verifies: 5 };
/// A track update → JP's `TRACK`: the client signs the command; KR verifies
/// it, commits it (it arrives once) and signs the update; the hub's lane and
/// JP's each verify the update (the grant's statement is cached).
pub(crate) const TRACK: Steps = Steps { hops: 4, fsyncs: 1, signs: 2, verifies: 3 };

impl Floors {
    /// The steps' medians added up (µs), a hop being half the raw 2-hop p50.
    pub(crate) fn p50_us(&self, steps: Steps, raw_2hop_p50_us: f64) -> f64 {
        f64::from(steps.hops) * raw_2hop_p50_us / 2.0
            + f64::from(steps.fsyncs) * self.fdatasync_p50_us
            + f64::from(steps.signs) * self.sign_p50_us
            + f64::from(steps.verifies) * self.verify_p50_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_s_floor_adds_up_its_steps() {
        let f = Floors {
            samples: 1,
            fdatasync_p50_us: 200.0,
            fdatasync_p99_us: 400.0,
            sign_p50_us: 30.0,
            verify_p50_us: 50.0,
        };
        // 4 hops of half a 180 µs 2-hop, 2 fsyncs, 3 signatures, 6 verifications.
        assert_eq!(f.p50_us(STANDING, 180.0), 360.0 + 400.0 + 90.0 + 300.0);
        assert_eq!(f.p50_us(TRACK, 180.0), 360.0 + 200.0 + 60.0 + 150.0);
    }

    #[test]
    fn the_probe_measures_every_step() {
        let dir = tisa_kit::natsd::scratch_dir("floor-test").unwrap();
        let f = measure(&dir, 5).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(f.samples, 5);
        for v in [f.fdatasync_p50_us, f.fdatasync_p99_us, f.sign_p50_us, f.verify_p50_us] {
            assert!(v.is_finite() && v > 0.0, "{f:?}");
        }
        assert!(f.fdatasync_p50_us <= f.fdatasync_p99_us, "{f:?}");
    }
}
