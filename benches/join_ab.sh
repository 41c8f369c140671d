#!/usr/bin/env bash
# First join with --apply of two builds side by side, and `cp -a` of the same tree, interleaved
# round by round (this machine's noise moves all three together). Each build joins its own
# `master serve` (--no-watch) over the same CODEX_HOME, published by that build into its own
# CODEXPORT_HOME (a build that copies blobs into master/blobs and one that serves CODEX_HOME
# each find what they expect), so a round compares whole systems: publish layout, server
# streaming, follower sync (download, verify, store) and apply. Prints each run
# (sync and apply ms from -v, wall/user/system from GNU time) and the medians.
#
#   bash benches/join_ab.sh /tmp/codexport-before            # 10k files, 5 rounds
#   FILES=2000 ROUNDS=3 bash benches/join_ab.sh /tmp/codexport-before
#
# The second build is this tree's release build (or AFTER_BIN=...). Follower homes are never
# deleted during the run (ext4 skips inodes freed in the last seconds when it allocates, which
# made files created right after an `rm -rf` cost about 1 ms each; benches/README, session 4).
# Needs python3 and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE_BIN=${1:?usage: join_ab.sh BEFORE_BIN}
FILES=${FILES:-10000}
ROUNDS=${ROUNDS:-5}
if [ -z "${AFTER_BIN:-}" ]; then
  cargo build --release -q
  AFTER_BIN=$PWD/target/release/codexport
fi
cargo bench -q --bench gen_codex_home --no-run 2>/dev/null
WORK=$(mktemp -d /tmp/codexport-join-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
M=$WORK/m
cargo bench -q --bench gen_codex_home -- --files "$FILES" --seed "${SEED:-1}" --out "$M/.codex" 2>/dev/null | tail -1 >&2
master() { # master SIDE CMD...
  local side=$1
  shift
  env HOME="$M" CODEX_HOME="$M/.codex" CODEXPORT_HOME="$M/.codexport-$side" NO_COLOR=1 "$@"
}
declare -A LINK
for side in before after; do
  bin=$BEFORE_BIN
  [ "$side" = after ] && bin=$AFTER_BIN
  master "$side" "$bin" master init --bind 127.0.0.1 --port 0 >/dev/null
  # Not through `master`: $! must be the server itself (env execs it), or cleanup misses it.
  env HOME="$M" CODEX_HOME="$M/.codex" CODEXPORT_HOME="$M/.codexport-$side" NO_COLOR=1 \
    "$bin" master serve --bind 127.0.0.1 --port 0 --no-watch >"$WORK/serve-$side" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q http:// "$WORK/serve-$side" && break; sleep 0.1; done
  port=$(grep -o 'http://[^ ]*' "$WORK/serve-$side" | sed -n 1p | sed 's/.*://')
  LINK[$side]=$(master "$side" "$bin" master link --host 127.0.0.1 --port "$port" --name "$side" --output json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["joinLink"])')
done
RESULTS=$WORK/results
for r in $(seq "$ROUNDS"); do
  for side in before after; do
    bin=$BEFORE_BIN
    [ "$side" = after ] && bin=$AFTER_BIN
    F=$WORK/f-$side-$r
    mkdir -p "$F/.codex"
    out=$(env HOME="$F" CODEX_HOME="$F/.codex" CODEXPORT_HOME="$F/.codexport" NO_COLOR=1 \
      /usr/bin/time -f "wall=%e user=%U sys=%S" "$bin" -v follower join "${LINK[$side]}" --apply 2>&1 >/dev/null)
    sync=$(echo "$out" | grep "sync done" | grep -o " ms=[0-9]*" | cut -d= -f2)
    apply=$(echo "$out" | grep "Apply done" | grep -o " ms=[0-9]*" | cut -d= -f2)
    echo "$side sync=$sync apply=$apply $(echo "$out" | tail -1)" | tee -a "$RESULTS"
  done
  /usr/bin/time -f "cp-a sync= apply= wall=%e" cp -a "$M/.codex" "$WORK/cp-$r" 2>&1 | tee -a "$RESULTS"
done
python3 - "$RESULTS" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side = line.split()[0]
    for key, value in re.findall(r"(\w+)=([\d.]+)", line):
        runs.setdefault((side, key), []).append(float(value))
cp = statistics.median(runs[("cp-a", "wall")])
print(f"\nmedians of {len(runs[('cp-a', 'wall')])} rounds (ms; wall / cp -a wall)")
for side in ("before", "after"):
    wall = statistics.median(runs[(side, "wall")])
    print(f"{side:6}  sync {statistics.median(runs[(side, 'sync')]):6.0f}  apply {statistics.median(runs[(side, 'apply')]):6.0f}"
          f"  wall {wall * 1000:6.0f}  ({wall / cp:.1f}x cp -a)")
print(f"cp -a   wall {cp * 1000:6.0f}")
PY
