#!/usr/bin/env bash
# The follower stat cache, side by side in one run: `plan --offline` on a converged follower
# with the inventory's stat records (files whose lstat is unchanged are not reread) and with
# them stripped (every managed file hashed, as before the cache).
#
#   cargo build --release && bash benches/plan_cache.sh [files] [runs]
set -euo pipefail
N=${1:-10000}
RUNS=${2:-5}
BIN=$(realpath "${BIN:-target/release/codexport}")
tmp=$(mktemp -d)
trap 'kill "${serve_pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
master() { HOME=$tmp/m CODEX_HOME=$tmp/m/.codex CODEXPORT_HOME=$tmp/m/.codexport "$BIN" "$@"; }
follower() { HOME=$tmp/f CODEX_HOME=$tmp/f/.codex CODEXPORT_HOME=$tmp/f/.codexport CODEXPORT_MCP_INSTALL=manual "$BIN" "$@"; }
mkdir -p "$tmp/m/.codex" "$tmp/f/.codex"
cargo bench -q --bench gen_codex_home -- --files "$N" --seed 1 --out "$tmp/m/.codex" 2>/dev/null | tail -1 >&2
master master init >/dev/null
# Not through `master`: a function in the background is a subshell, so $! would be the subshell
# and the exit trap would leave the server running.
HOME=$tmp/m CODEX_HOME=$tmp/m/.codex CODEXPORT_HOME=$tmp/m/.codexport \
  "$BIN" master serve --bind 127.0.0.1 --port 0 --no-watch > "$tmp/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do grep -q 'serving http' "$tmp/serve.log" && break; sleep 0.05; done
port=$(grep -o 'serving http://127.0.0.1:[0-9]*' "$tmp/serve.log" | grep -o '[0-9]*$')
link=$(master master link --host 127.0.0.1 --port "$port" --name bench --output json | sed -n 's/.*"joinLink": *"\([^"]*\)".*/\1/p')
follower follower join "$link" --apply >/dev/null
inv=$tmp/f/.codexport/inventory.json
cp "$inv" "$tmp/with-stats.json"
python3 - "$inv" "$tmp/without-stats.json" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
for e in inv["files"].values():
    e.pop("stat", None)
json.dump(inv, open(sys.argv[2], "w"), indent=2)
PY
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_plan() { # prints ms of each run
  for _ in $(seq 1 "$RUNS"); do
    cp "$1" "$inv"
    s=$(date +%s%N); follower plan --offline >/dev/null; e=$(date +%s%N)
    echo $(( (e - s) / 1000000 ))
  done
}
with=$(time_plan "$tmp/with-stats.json" | median)
without=$(time_plan "$tmp/without-stats.json" | median)
echo "plan --offline, converged, $N files: with the stat cache ${with} ms, without ${without} ms (median of $RUNS)"
