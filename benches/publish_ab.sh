#!/usr/bin/env bash
# Master publish, two builds side by side in one hyperfine run per scenario (benches/README.md):
# warm republish unchanged, warm republish after one change, cold publish (empty store and stat
# cache, with single-thread sha256sum over the same files as the floor).
#
#   bash benches/publish_ab.sh /tmp/codexport-before                  # vs target/release
#   FILES=2000 RUNS=10 bash benches/publish_ab.sh OLD_BIN NEW_BIN
#
# Each build reads and writes its own stat cache format, so every command gets warmup runs
# (the first run after the other build may rehash). Needs hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: publish_ab.sh BEFORE_BIN [AFTER_BIN]}
if [ -z "${2:-}" ]; then
  cargo build --release -q
  AFTER=$PWD/target/release/codexport
else
  AFTER=$2
fi
FILES=${FILES:-10000}
RUNS=${RUNS:-10}
cargo bench -q --bench gen_codex_home --no-run 2>/dev/null
WORK=$(mktemp -d /tmp/codexport-ab-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
M=$WORK/m
cargo bench -q --bench gen_codex_home -- --files "$FILES" --seed "${SEED:-1}" --out "$M/.codex" 2>/dev/null | tail -1 >&2
(cd "$M/.codex" && find . -type f ! -name history.jsonl -print0) >"$WORK/list"
E="env HOME=$M CODEX_HOME=$M/.codex CODEXPORT_HOME=$M/.codexport NO_COLOR=1"
$E "$AFTER" master init >/dev/null
MD=$M/.codexport/master
# Moved aside, not deleted: see compare.sh (ext4 recently-deleted inode scan).
COLD="mkdir -p $WORK/trash && for p in $MD/blobs $MD/statcache.tsv $MD/history $MD/state.yaml $MD/state.yaml.sig; do [ -e \$p ] && mv \$p $WORK/trash/\$(date +%s%N); done; true"
CHANGE="echo change-\$(date +%s%N) >> $M/.codex/AGENTS.md"
run() { # run NAME hyperfine-args...: medians of one side-by-side run, ratios to its first row
  hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$WORK/$1.json" "${@:2}" >"$WORK/$1.log" 2>&1 ||
    { cat "$WORK/$1.log" >&2; exit 1; }
  python3 - "$WORK/$1.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
first, last = rows[0]["median"], rows[-1]["median"]
for r in rows:
    m = r["median"]
    print(f"| {r['command']} | {m*1000:.1f} | {r['min']*1000:.1f} | {r['max']*1000:.1f} | {len(r['times'])} | {m/first:.2f} | {m/last:.2f} |")
PY
}
echo "$FILES files: before=$BEFORE after=$AFTER; $(nproc) cores, $(uname -sr)"
echo "| command | median ms | min ms | max ms | runs | / first row of its group | / last row |"
echo "|---|---:|---:|---:|---:|---:|---:|"
# The floor of any republish: every file stat'ed once (one thread, no hashing).
run unchanged -n "before: rebuild, unchanged" "$E $BEFORE master rebuild" -n "after: rebuild, unchanged" "$E $AFTER master rebuild" \
  -n "find -printf size/mtime/inode (stat floor)" "find $M/.codex -type f -printf '%s %T@ %i\\n'"
run changed --prepare "sh -c '$CHANGE'" -n "before: rebuild, 1 file changed" "$E $BEFORE master rebuild" \
  -n "after: rebuild, 1 file changed" "$E $AFTER master rebuild"
run cold --prepare "sh -c '$COLD'" -n "before: cold publish" "$E $BEFORE master rebuild" \
  --prepare "sh -c '$COLD'" -n "after: cold publish" "$E $AFTER master rebuild" \
  --prepare true -n "sha256sum (1 thread)" "sh -c 'cd $M/.codex && xargs -0 -a $WORK/list sha256sum >/dev/null'"
