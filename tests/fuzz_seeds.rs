//! The fuzz targets' properties (`fuzz/checks/`) run over their seed corpus and every input a
//! fuzzer ever crashed on (`tests/fuzz_regressions/<target>/`), as a normal test: this runs
//! whether or not a nightly toolchain and cargo-fuzz are installed. See fuzz/README.md.

#[path = "../fuzz/checks/mod.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Files directly in `dir` (none when it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// The seeds of `target` (crafted, examples, shared corpus) and its past crashes.
fn inputs(target: &str, extra: &[&str]) -> Vec<PathBuf> {
    let mut dirs = vec![
        root().join("fuzz/seeds").join(target),
        root().join("tests/fuzz_regressions").join(target),
    ];
    dirs.extend(extra.iter().map(|d| root().join(d)));
    dirs.iter().flat_map(|d| files(d)).collect()
}

fn run(target: &str, extra: &[&str], min: usize, check: fn(&[u8])) {
    let inputs = inputs(target, extra);
    assert!(inputs.len() >= min, "{target}: only {} inputs", inputs.len());
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} breaks a property", path.display());
    }
}

#[test]
fn document_seeds() {
    run("document", &["examples/desired-state"], 2, checks::document);
}

#[test]
fn join_link_seeds() {
    run("join_link", &[], 5, checks::join_link);
}

#[test]
fn blob_stream_seeds() {
    run("blob_stream", &[], 5, checks::blob_stream::check);
}

#[test]
fn config_portable_seeds() {
    let extra = [
        "examples/master-basic",
        "examples/master-basic/agents",
        "tests/corpus/configs",
        "tests/corpus/other",
    ];
    run("config_portable", &extra, 10, checks::config::check);
}
