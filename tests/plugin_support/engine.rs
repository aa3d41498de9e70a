//! Debian sid's Docker engine (docker.io and containerd), for tests that need cluster
//! volumes (engine 28.2 or later; this machine's system engine is older): fetched once by
//! `scripts/fetch-sid-engine.sh` into the target's test directory and shared by every test
//! binary that uses it. Included by path (`tests/csi_swarm.rs`, `tests/rig/`), so a binary
//! with both has it once.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The unpacked root: `usr/sbin/dockerd`, `usr/bin/containerd` and the rest below it.
pub fn sid_engine() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("engine-sid");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-sid-engine.sh");
    let status = Command::new("sh").arg(script).arg(&cache).status().unwrap();
    assert!(status.success(), "fetching Docker from Debian sid");
    cache.join("root")
}

/// `PATH` with the engine's binaries first, so dockerd finds its own containerd.
pub fn path_with(root: &Path) -> String {
    format!(
        "{0}/usr/bin:{0}/usr/sbin:{1}",
        root.display(),
        std::env::var("PATH").unwrap()
    )
}
