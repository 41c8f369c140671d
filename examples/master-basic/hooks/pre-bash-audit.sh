#!/usr/bin/env bash
# PreToolUse hook for the Bash tool (see ../hooks.json).
# Reads the tool call from stdin and allows it: no output, exit 0.
# (A blocking version would print a JSON decision; this one only consumes input.)
set -u
cat >/dev/null
exit 0
