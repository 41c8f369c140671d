//! Master-side benches (benches/README.md): scan, hashing, warm republish, and the document:
//! revision, YAML, sign, verify. 1k and 10k synthetic files.

#[path = "support/gen.rs"]
mod generator;
#[path = "support/setup.rs"]
mod setup;

use std::time::Duration;

use codexport::master::identity::Identity;
use codexport::master::publish::{SIGNATURE_FILE, STATE_FILE, publish};
use codexport::master::scan::{ScannedFile, scan};
use codexport::master::settings::MasterSettings;
use codexport::master::statcache::{StatCache, hash_files};
use codexport::model::DesiredState;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const SIZES: [usize; 2] = [1000, 10_000];

fn master_side(c: &mut Criterion) {
    let mut group = c.benchmark_group("master");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let base = tempfile::tempdir().unwrap();
        let roots = setup::master(base.path(), n);
        let dir = roots.master_dir();
        let settings = MasterSettings::load(&dir).unwrap();
        let report = scan(&roots.codex_home, &settings).unwrap();
        let files: Vec<&ScannedFile> = report.files.iter().collect();
        group.bench_with_input(BenchmarkId::new("scan", n), &n, |b, _| {
            b.iter(|| scan(&roots.codex_home, &settings).unwrap())
        });
        // Every file read and hashed (statcache::hash_threads() threads); nothing is copied.
        group.bench_with_input(BenchmarkId::new("hash_all_parallel", n), &n, |b, _| {
            b.iter(|| hash_files(&files, &StatCache::default()).unwrap())
        });
        // The single-thread floor: sha256 of every file, one after the other.
        group.bench_with_input(BenchmarkId::new("hash_all_serial", n), &n, |b, _| {
            b.iter(|| {
                for f in &files {
                    codexport::fs::sha256_file(&f.abs).unwrap();
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("scan_and_statcache_hit", n), &n, |b, _| {
            b.iter(|| {
                let cache = StatCache::load(&dir);
                let report = scan(&roots.codex_home, &settings).unwrap();
                let files: Vec<&ScannedFile> = report.files.iter().collect();
                hash_files(&files, &cache).unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("republish_unchanged", n), &n, |b, _| {
            b.iter(|| publish(&roots).unwrap())
        });
    }
    group.finish();
}

fn document(c: &mut Criterion) {
    let mut group = c.benchmark_group("document");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let base = tempfile::tempdir().unwrap();
        let master = setup::master(base.path(), n);
        let dir = master.master_dir();
        let follower = setup::follower(base.path(), &master);
        let enrollment = codexport::follower::enrollment::Enrollment::load(&follower.codexport_home).unwrap();
        let identity = Identity::load(&dir).unwrap();
        let bytes = fs_err::read(dir.join(STATE_FILE)).unwrap();
        let signature = fs_err::read_to_string(dir.join(SIGNATURE_FILE)).unwrap();
        let doc: DesiredState = serde_yaml::from_slice(&bytes).unwrap();
        group.bench_with_input(BenchmarkId::new("revision", n), &n, |b, _| {
            b.iter(|| doc.spec.revision())
        });
        group.bench_with_input(BenchmarkId::new("revision_generic", n), &n, |b, _| {
            b.iter(|| codexport::model::canonical::canonical_sha256(&doc.spec).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("to_yaml", n), &n, |b, _| {
            b.iter(|| codexport::model::yaml::to_yaml(&doc).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("to_yaml_serde_yaml", n), &n, |b, _| {
            b.iter(|| serde_yaml::to_string(&doc).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("sign", n), &n, |b, _| b.iter(|| identity.sign(&bytes)));
        // Signature check before parsing, then parse and every check on paths, hashes, sizes.
        group.bench_with_input(BenchmarkId::new("verify_document", n), &n, |b, _| {
            b.iter(|| codexport::follower::sync::verify_document(&bytes, signature.trim(), &enrollment).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, master_side, document);
criterion_main!(benches);
