//! Bench fixtures: a master with a synthetic CODEX_HOME published, and a follower whose store
//! holds that revision (staged without the network: the blobs and the signed document are
//! copied, as a completed sync leaves them).
#![allow(dead_code)]

use std::path::Path;

use codexport::follower::enrollment::Enrollment;
use codexport::follower::store::FollowerStore;
use codexport::master::publish::{SIGNATURE_FILE, STATE_FILE};
use codexport::paths::Roots;

/// HOME, CODEX_HOME and CODEXPORT_HOME under `base/<name>`.
pub fn roots(base: &Path, name: &str) -> Roots {
    let home = base.join(name);
    let roots = Roots {
        codex_home: home.join(".codex"),
        codexport_home: home.join(".codexport"),
        home,
    };
    fs_err::create_dir_all(&roots.codex_home).unwrap();
    roots
}

/// A master at `base/master` with `files` synthetic files (seed 1), initialised and published.
pub fn master(base: &Path, files: usize) -> Roots {
    let roots = roots(base, "master");
    super::generator::generate(&roots.codex_home, files, 1).unwrap();
    codexport::master::init::init(&roots, &Default::default()).unwrap();
    roots
}

/// A follower at `base/follower` enrolled with `master` and its revision staged.
pub fn follower(base: &Path, master: &Roots) -> Roots {
    let roots = roots(base, "follower");
    let dir = master.master_dir();
    let bytes = fs_err::read(dir.join(STATE_FILE)).unwrap();
    let signature = fs_err::read_to_string(dir.join(SIGNATURE_FILE)).unwrap();
    let identity = codexport::master::identity::Identity::load(&dir).unwrap();
    let enrollment = Enrollment {
        master: "http://127.0.0.1:9".into(),
        fingerprint: identity.fingerprint(),
        public_key: identity.public_key_hex(),
        token: format!("cxp_{}", "0".repeat(64)),
        name: "bench".into(),
        joined_at: "2026-01-01T00:00:00Z".into(),
    };
    let store = FollowerStore::new(&roots.codexport_home);
    let blobs = store.blobs();
    for entry in walkdir::WalkDir::new(dir.join("blobs")).min_depth(2) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let dest = blobs.path_of(&name);
            fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
            fs_err::copy(entry.path(), dest).unwrap();
        }
    }
    store.stage(&bytes, signature.trim()).unwrap();
    enrollment.save(&roots.codexport_home).unwrap();
    roots
}
