#!/usr/bin/env bash
# Wall time of `codexport reconcile --hook` against an unchanged master on loopback: the cost
# Codex pays at every session start when nothing changed (one If-None-Match request).
#
#   cargo build --release && benches/hook.sh [runs]     (BIN= or CODEXPORT_BIN= binary, FILES= managed files)
#
# Prints every run in milliseconds, the median, and the median of `true` measured the same way
# in the same run (the process floor). Temp dirs only; the master is killed at exit.
set -euo pipefail
BIN=${BIN:-${CODEXPORT_BIN:-target/release/codexport}}
RUNS=${1:-20}
FILES=${FILES:-2000}
BIN=$(realpath "$BIN")
tmp=$(mktemp -d)
trap 'kill "${serve_pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

master() { HOME=$tmp/m CODEX_HOME=$tmp/m/.codex CODEXPORT_HOME=$tmp/m/.codexport "$BIN" "$@"; }
follower() { HOME=$tmp/f CODEX_HOME=$tmp/f/.codex CODEXPORT_HOME=$tmp/f/.codexport "$BIN" "$@"; }

mkdir -p "$tmp/m/.codex/skills" "$tmp/f/.codex"
printf 'model = "gpt-5"\n[tui]\nanimations = false\n' > "$tmp/m/.codex/config.toml"
printf '# rules\n' > "$tmp/m/.codex/AGENTS.md"
for i in $(seq 1 "$FILES"); do
  mkdir -p "$tmp/m/.codex/skills/s$i"
  printf -- '---\nname: s%s\n---\nbody %s\n' "$i" "$i" > "$tmp/m/.codex/skills/s$i/SKILL.md"
done
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
follower hook install >/dev/null

median_ms() { # runs "$@" RUNS times, prints each wall time (µs) and the median in ms
  local times=() start end
  for _ in $(seq 1 "$RUNS"); do
    start=$(date +%s%N)
    echo '{"hook_event_name":"SessionStart","source":"startup"}' | "$@" >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  local sorted=($(printf '%s\n' "${times[@]}" | sort -n))
  echo "runs (µs): ${times[*]}" >&2
  awk "BEGIN { printf \"%.1f\", ${sorted[$(( RUNS / 2 ))]} / 1000 }"
}
hook=$(median_ms follower reconcile --hook)
floor=$(median_ms true)
echo "managed files: $(ls "$tmp/f/.codex/skills" | wc -l) skills; last outcome: $(sed -n 's/.*"outcome": *"\([^"]*\)".*/\1/p' "$tmp/f/.codexport/hook-last.json")"
echo "reconcile --hook, unchanged master: median ${hook} ms over $RUNS runs; \`true\`: ${floor} ms"
