//! Write a deterministic synthetic `~/.codex` (see `support/gen.rs` for the mix).
//!
//! `cargo bench --bench gen_codex_home -- --files 2000 --seed 1 --out /tmp/x/.codex`
//! prints one line: `files=N bytes=B assets=A scripts=S`. Without `--out` (as in a plain
//! `cargo bench`) it does nothing.

#[path = "support/gen.rs"]
mod generator;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut files, mut seed, mut out) = (1000usize, 1u64, None::<PathBuf>);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--files" => files = args.next().ok_or("--files needs a number")?.parse()?,
            "--seed" => seed = args.next().ok_or("--seed needs a number")?.parse()?,
            "--out" => out = Some(args.next().ok_or("--out needs a directory")?.into()),
            _ => {} // `cargo bench` passes --bench and filters
        }
    }
    let Some(out) = out else {
        println!("gen_codex_home: no --out given, nothing to do");
        return Ok(());
    };
    let stats = generator::generate(&out, files, seed)?;
    println!(
        "files={} bytes={} assets={} scripts={}",
        stats.files, stats.bytes, stats.assets, stats.scripts
    );
    Ok(())
}
