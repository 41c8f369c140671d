#!/usr/bin/env bash
# The warm republish as operators get it: `master serve` watching CODEX_HOME, one file changed,
# the watcher republishes. Prints the median, min and max of the publish times the watcher
# reports (`watch: published revision ... in N ms`: from the end of the 300 ms quiet period to
# the new document written and loaded for serving), and the same for `master rebuild` (a whole
# process: scan, stat cache, sign, write) on the same tree after the same kind of change.
#
#   bash benches/watch_republish.sh                    # 10k files, 15 changes
#   FILES=2000 CHANGES=10 bash benches/watch_republish.sh
#   CODEXPORT_BIN=/tmp/codexport-before bash benches/watch_republish.sh   # another build
#
# Needs python3. Runs in a temp dir (HOME, CODEX_HOME, CODEXPORT_HOME set there); serves on
# 127.0.0.1 with a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-10000}
CHANGES=${CHANGES:-15}
if [ -z "${CODEXPORT_BIN:-}" ]; then
  cargo build --release -q
  CODEXPORT_BIN=$PWD/target/release/codexport
fi
cargo bench -q --bench gen_codex_home --no-run 2>/dev/null
WORK=$(mktemp -d /tmp/codexport-watch-XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
M=$WORK/m
cargo bench -q --bench gen_codex_home -- --files "$FILES" --seed "${SEED:-1}" --out "$M/.codex" 2>/dev/null | tail -1 >&2
export HOME=$M CODEX_HOME=$M/.codex CODEXPORT_HOME=$M/.codexport NO_COLOR=1
"$CODEXPORT_BIN" master init --bind 127.0.0.1 --port 0 >/dev/null
sleep 2.5 # past the stat cache's racy window, so the first publish of the watcher is warm
"$CODEXPORT_BIN" master serve --port 0 --bind 127.0.0.1 2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 100); do grep -q "directories watched" "$WORK/serve.log" && break; sleep 0.1; done
grep -q "directories watched" "$WORK/serve.log" || { cat "$WORK/serve.log" >&2; exit 1; }
for i in $(seq "$CHANGES"); do
  echo "change $i $(date +%s%N)" >>"$CODEX_HOME/AGENTS.md"
  want=$i
  for _ in $(seq 100); do
    [ "$(grep -c 'watch: published revision' "$WORK/serve.log")" -ge "$want" ] && break
    sleep 0.05
  done
  sleep 0.2
done
kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
SERVER=
REBUILD=$WORK/rebuild.txt
for i in $(seq "$CHANGES"); do
  echo "change r$i $(date +%s%N)" >>"$CODEX_HOME/AGENTS.md"
  python3 -c 'import subprocess,sys,time; t=time.perf_counter(); subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL); print(round((time.perf_counter()-t)*1000,1))' \
    "$CODEXPORT_BIN" master rebuild >>"$REBUILD"
done
python3 - "$WORK/serve.log" "$REBUILD" "$FILES" <<'PY'
import re, statistics, sys
log, rebuild, files = sys.argv[1], sys.argv[2], sys.argv[3]
watch = [int(m.group(1)) for m in re.finditer(r"watch: published revision \S+ \(.*\) in (\d+) ms", open(log).read())]
proc = [float(x) for x in open(rebuild).read().split()]
print(f"{files} files, one file changed each time")
print("| republish | median ms | min ms | max ms | n |")
print("|---|---:|---:|---:|---:|")
for name, xs in (("master serve watcher (in-process)", watch), ("master rebuild (whole process)", proc)):
    if not xs:
        sys.exit(f"no figures for {name}; serve log:\n" + open(log).read())
    print(f"| {name} | {statistics.median(xs):.1f} | {min(xs):.1f} | {max(xs):.1f} | {len(xs)} |")
PY
