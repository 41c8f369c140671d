#![no_main]
//! Fuzz target; the properties are in `fuzz/checks` (shared with `tests/fuzz_seeds.rs`).

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::blob_stream::check(data));
