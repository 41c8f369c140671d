//! Follower-side benches of the reconcile API as it is (benches/README.md): render (config.toml
//! and every file for this follower), plan (graph + three-way compare) on an empty and on a
//! converged CODEX_HOME, and `prepare` (load, verify, render, plan). 1k and 10k files.

#[path = "support/gen.rs"]
mod generator;
#[path = "support/setup.rs"]
mod setup;

use std::time::Duration;

use codexport::follower::enrollment::Enrollment;
use codexport::follower::local::{McpInstall, OnDrift};
use codexport::follower::store::FollowerStore;
use codexport::reconcile::host::RealHost;
use codexport::reconcile::{inventory, plan, render};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const SIZES: [usize; 2] = [1000, 10_000];

fn reconcile(c: &mut Criterion) {
    let mut group = c.benchmark_group("reconcile");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let base = tempfile::tempdir().unwrap();
        let master = setup::master(base.path(), n);
        let roots = setup::follower(base.path(), &master);
        let store = FollowerStore::new(&roots.codexport_home);
        let enrollment = Enrollment::load(&roots.codexport_home).unwrap();
        let doc = store.load_staged(&enrollment).unwrap().unwrap().doc;
        let blobs = store.blobs();
        let host = RealHost;
        let (settings, overlay) = Default::default();
        let local = render::Local {
            settings: &settings,
            overlay: &overlay,
        };
        group.bench_with_input(BenchmarkId::new("render", n), &n, |b, _| {
            b.iter(|| render::render(&doc, &blobs, &roots, &host, local).unwrap())
        });
        let desired = render::render(&doc, &blobs, &roots, &host, local).unwrap();
        let empty = inventory::Inventory::default();
        group.bench_with_input(BenchmarkId::new("plan_empty_follower", n), &n, |b, _| {
            b.iter(|| plan::build(&desired, &empty, &roots, OnDrift::Overwrite, McpInstall::Manual, &host).unwrap())
        });
        codexport::reconcile::apply_staged(&roots, &host, &Default::default()).unwrap();
        let inv = inventory::load(&host, &roots.codexport_home).unwrap();
        group.bench_with_input(BenchmarkId::new("plan_converged", n), &n, |b, _| {
            b.iter(|| plan::build(&desired, &inv, &roots, OnDrift::Overwrite, McpInstall::Manual, &host).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("prepare_converged", n), &n, |b, _| {
            b.iter(|| codexport::reconcile::prepare(&roots, &host).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, reconcile);
criterion_main!(benches);
