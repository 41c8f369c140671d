#!/usr/bin/env bash
# Whole-process benchmarks of the codexport binary against the floors (benches/README.md).
#
#   bash benches/compare.sh                       # 2k and 10k files, 5 runs each
#   SIZES=2000 RUNS=3 JOIN_RUNS=1 bash benches/compare.sh     # quicker
#   CODEXPORT_BIN=/path/to/codexport bash benches/compare.sh   # another build (before/after)
#
# Needs hyperfine (Debian: apt-get install hyperfine), python3 and GNU time (/usr/bin/time).
# Everything runs in a temp dir with HOME, CODEX_HOME and CODEXPORT_HOME set there; the master
# serves on 127.0.0.1 only. Prints medians (ms) per scenario, requests and bytes on the wire
# (counted by benches/count_proxy.py between follower and master) and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZES=${SIZES:-"2000 10000"}
RUNS=${RUNS:-5}
JOIN_RUNS=${JOIN_RUNS:-2} # first joins with --apply take minutes at 10k files (the apply fsyncs every file)
SEED=${SEED:-1}
if [ -z "${CODEXPORT_BIN:-}" ]; then
  cargo build --release -q
  CODEXPORT_BIN=$ROOT/target/release/codexport
fi
BIN=$CODEXPORT_BIN
cargo bench -q --bench gen_codex_home --no-run 2>/dev/null
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install -y hyperfine" >&2; exit 1; }

WORK=$(mktemp -d /tmp/codexport-bench-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS=$WORK/results
mkdir -p "$RESULTS"

# env for one machine: HOME=$1, CODEX_HOME=$1/.codex, CODEXPORT_HOME=$1/.codexport
on() { echo "env HOME=$1 CODEX_HOME=$1/.codex CODEXPORT_HOME=$1/.codexport NO_COLOR=1 $BIN"; }

bench() { # bench NAME hyperfine-args...
  local name=$1
  shift
  hyperfine --style basic --warmup "${WARMUP:-1}" --runs "${BENCH_RUNS:-$RUNS}" --export-json "$RESULTS/$name.json" "$@" >"$RESULTS/$name.log" 2>&1 ||
    { cat "$RESULTS/$name.log" >&2; exit 1; }
}

peak_rss_mb() { # peak_rss_mb CMD... -> MiB
  /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >/dev/null 2>&1
  echo $(($(tail -1 "$WORK/rss") / 1024))
}

wire() { sleep 0.3 && cat "$WORK/proxy.stats"; } # the proxy writes its counts just after relaying
reset_wire() { echo reset >"$WORK/proxy.stats"; }

for N in $SIZES; do
  echo "== $N files" >&2
  M=$WORK/m$N F=$WORK/f$N C=$WORK/c$N
  mkdir -p "$M" "$F" "$C"
  GEN=$(cargo bench -q --bench gen_codex_home -- --files "$N" --seed "$SEED" --out "$M/.codex" 2>/dev/null | tail -1)
  echo "tree $N: $GEN" >&2
  (cd "$M/.codex" && find . -type f ! -name history.jsonl -print0) >"$WORK/list$N"
  MB="$(on "$M")"
  $MB master init >/dev/null
  MD=$M/.codexport/master
  # Trees are moved aside, never deleted, between runs: ext4 skips inodes deleted in the last
  # seconds when it allocates new ones (find_inode_bit -> recently_deleted), which made every
  # file created right after an `rm -rf` of thousands cost about 1 ms (perf, 2k join: 55 % of
  # the time). A real first join or publish does not follow a mass delete.
  aside() { echo "mkdir -p $WORK/trash && for p in $*; do [ -e \$p ] && mv \$p $WORK/trash/\$(date +%s%N); done; true"; }
  COLD="$(aside "$MD/blobs" "$MD/statcache.tsv" "$MD/history" "$MD/state.yaml" "$MD/state.yaml.sig")"
  rss_publish=$(sh -c "$COLD" && peak_rss_mb $MB master rebuild)

  bench "publish-cold-$N" --prepare "$COLD" -n "codexport master rebuild (cold)" "$MB master rebuild" \
    -n "sha256sum (1 thread)" "cd $M/.codex && xargs -0 -a $WORK/list$N sha256sum >/dev/null"
  CHANGE="echo change-\$(date +%s%N) >> $M/.codex/AGENTS.md"
  bench "republish-$N" --prepare true -n "master rebuild, unchanged" "$MB master rebuild" \
    --prepare "$CHANGE" -n "master rebuild, 1 file changed" "$MB master rebuild"
  $MB master rebuild >/dev/null

  $MB master serve --bind 127.0.0.1 --port 0 >"$WORK/serve$N" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q http:// "$WORK/serve$N" && break; sleep 0.1; done
  PORT=$(grep -o 'http://[^ ]*' "$WORK/serve$N" | sed -n 1p | sed 's/.*://')
  python3 benches/count_proxy.py "$PORT" "$WORK/proxy.stats" >"$WORK/proxy.port" &
  PIDS+=($!)
  for _ in $(seq 50); do [ -s "$WORK/proxy.port" ] && break; sleep 0.1; done
  PPORT=$(cat "$WORK/proxy.port")
  link() { $MB master link --host 127.0.0.1 --port "$1" --name "$2" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["joinLink"])'; }
  LINK=$(link "$PORT" bench)
  PLINK=$(link "$PPORT" counted)

  FB="$(on "$F")"
  FRESH="$(aside "$F") && mkdir -p $F/.codex"
  WARMUP=0 BENCH_RUNS=$JOIN_RUNS bench "join-$N" --prepare "$FRESH" -n "follower join" "$FB follower join '$LINK'" \
    --prepare "$FRESH" -n "follower join --apply" "$FB follower join '$LINK' --apply" \
    --prepare "$(aside "$WORK/cp")" -n "cp -a (same tree)" "cp -a $M/.codex $WORK/cp"
  rss_join=$(sh -c "$FRESH" && peak_rss_mb $FB follower join "$LINK" --apply)

  # -N: no shell in between, so `true` is the real process floor.
  bench "noop-$N" -N -n "true (process floor)" "true" -n "status (meta round trip)" "$FB status" \
    -n "sync (unchanged: meta only)" "$FB sync" -n "plan --offline" "$FB plan --offline" \
    -n "reconcile (unchanged)" "$FB reconcile"

  REL=$(cd "$M/.codex" && find skills -name '*.md' | sort | sed -n 1p)
  bench "sync1-$N" --prepare "echo x-\$(date +%s%N) >> $M/.codex/$REL && $MB master rebuild" \
    -n "sync --apply, 1 file changed" "$FB sync --apply"

  # Requests and bytes on the wire, through the counting proxy (one run each).
  CB="$(on "$C")"
  mkdir -p "$C/.codex"
  reset_wire && $CB follower join "$PLINK" --apply >/dev/null && echo "$N join --apply: $(wire)" >>"$RESULTS/wire"
  reset_wire && $CB sync >/dev/null && echo "$N sync unchanged: $(wire)" >>"$RESULTS/wire"
  echo "x-$(date +%s%N)" >>"$M/.codex/$REL" && $MB master rebuild >/dev/null
  reset_wire && $CB sync --apply >/dev/null && echo "$N sync --apply 1 file ($(stat -c %s "$M/.codex/$REL") B): $(wire)" >>"$RESULTS/wire"
  echo "$N publish (cold): ${rss_publish} MiB" >>"$RESULTS/rss"
  echo "$N follower join --apply: ${rss_join} MiB" >>"$RESULTS/rss"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  PIDS=()
  rm -rf "$F" "$C" "$WORK/cp" "$WORK/trash"
done

echo
echo "machine: $(nproc) cores, $(uname -sr); codexport: $BIN; runs: $RUNS after 1 warmup ($JOIN_RUNS, no warmup, for joins)"
python3 - "$RESULTS" <<'PY'
import json, os, sys
d = sys.argv[1]
order = ["publish-cold", "republish", "join", "noop", "sync1"]
names = [n[:-5] for n in os.listdir(d) if n.endswith(".json")]
names.sort(key=lambda n: (int(n.rsplit("-", 1)[1]), order.index(n.rsplit("-", 1)[0])))
print("| scenario | command | median ms | min ms | max ms | runs | / first row |")
print("|---|---|---:|---:|---:|---:|---:|")
for name in names:
    rows = json.load(open(os.path.join(d, name + ".json")))["results"]
    base = rows[0]["median"]
    for r in rows:
        ratio = f"{r['median'] / base:.2f}" if base > 0.0005 else "-"
        print(f"| {name} | {r['command']} | {r['median']*1000:.1f} | {r['min']*1000:.1f} | {r['max']*1000:.1f} | {len(r['times'])} | {ratio} |")
PY
echo
echo "wire (requests, bytes up/down, connections):"
cat "$RESULTS/wire"
echo "peak RSS:"
cat "$RESULTS/rss"
