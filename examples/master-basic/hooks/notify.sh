#!/usr/bin/env bash
# notify program from config.toml: notify.sh turn-ended '<json event>'
# Shows a desktop notification when one is available; never fails the turn.
set -u
event="${1:-turn-ended}"
if command -v notify-send >/dev/null 2>&1; then
  notify-send "Codex" "${event}" >/dev/null 2>&1 || true
fi
exit 0
