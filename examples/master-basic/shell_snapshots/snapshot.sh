# Codex shell snapshot (runtime state, must not be replicated)
export PATH='/home/alice/.local/bin:/usr/local/bin:/usr/bin:/bin'
