#!/usr/bin/env bash
# SessionStart hook (see ../hooks.json), matcher "startup|resume".
# Codex passes a JSON event on stdin. Anything printed to stdout would be added
# to the model's context, so this hook stays silent and always exits 0.
set -u
cat >/dev/null
exit 0
