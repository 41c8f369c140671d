#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with the seeds: the crafted ones in fuzz/seeds/, the example
# documents and master files in examples/, the real-world corpus (tests/corpus/) and every past
# crash (tests/fuzz_regressions/). tests/fuzz_seeds.rs runs the same inputs through the same
# checks as a normal test.
set -euo pipefail
cd "$(dirname "$0")"
corpus=../tests/corpus
for t in document join_link blob_stream config_portable; do
  mkdir -p "corpus/$t"
  cp -r seeds/"$t"/. "corpus/$t/" 2>/dev/null || true
  cp -r ../tests/fuzz_regressions/"$t"/. "corpus/$t/" 2>/dev/null || true
done
cp ../examples/desired-state/*.yaml corpus/document/
cp ../examples/master-basic/config.toml ../examples/master-basic/hooks.json ../examples/master-basic/agents/*.toml \
  corpus/config_portable/
cp "$corpus"/configs/* corpus/config_portable/
cp "$corpus"/other/*.toml "$corpus"/other/*.json corpus/config_portable/
cp "$corpus"/other/*.yaml corpus/document/
for t in document join_link blob_stream config_portable; do
  echo "$t: $(ls "corpus/$t" | wc -l) seeds"
done
