#!/usr/bin/env bash
# Print "<short-sha> <subject>" for every commit since the given ref
# (default: the most recent tag; all history when there is no tag).
set -euo pipefail

since="${1:-}"
if [[ -z "${since}" ]]; then
  since="$(git describe --tags --abbrev=0 2>/dev/null || true)"
fi

if [[ -n "${since}" ]]; then
  git log --no-merges --format='%h %s' "${since}..HEAD"
else
  git log --no-merges --format='%h %s'
fi
