//! A deterministic synthetic `~/.codex` for benchmarks: the same `(files, seed)` always gives
//! the same paths, bytes and modes.
//!
//! Mix (for `files` = N):
//! - `config.toml` with 20 MCP servers (npx, uvx, docker and URL servers: portable, so the
//!   master's artifact inference needs nothing on disk), `hooks.json`, `AGENTS.md`;
//! - `max(2, N / 500)` binary assets of 1-10 MiB under `skills/<s>/assets/`;
//! - about 5 % shell scripts (`#!/bin/sh`, mode 0755) under `skills/<s>/scripts/`;
//! - `prompts/*.md` and `rules/*.rules` (about 2 % each);
//! - everything else: `SKILL.md` and `references/*.md` files of 200 B to 8 KiB, 25 per skill.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenStats {
    /// Regular files written (config.toml and hooks.json included).
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Binary assets of 1-10 MiB among them.
    pub assets: usize,
    /// Executable scripts among them.
    pub scripts: usize,
}

/// splitmix64: tiny, fast, deterministic; good enough for synthetic data.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

const WORDS: &[&str] = &[
    "review",
    "the",
    "diff",
    "before",
    "commit",
    "run",
    "tests",
    "with",
    "cargo",
    "and",
    "check",
    "every",
    "error",
    "path",
    "skill",
    "reference",
    "when",
    "a",
    "file",
    "changes",
    "prefer",
    "small",
    "functions",
    "explain",
    "why",
    "never",
    "guess",
    "read",
    "docs",
    "first",
    "release",
    "notes",
    "branch",
    "merge",
    "rebase",
    "lint",
    "format",
];

fn text(rng: &mut Rng, len: usize, heading: &str) -> Vec<u8> {
    let mut out = format!("# {heading}\n\n").into_bytes();
    while out.len() < len {
        let w = WORDS[(rng.next_u64() % WORDS.len() as u64) as usize];
        out.extend_from_slice(w.as_bytes());
        out.push(if rng.next_u64().is_multiple_of(12) { b'\n' } else { b' ' });
    }
    out.truncate(len.max(heading.len() + 4));
    out.push(b'\n');
    out
}

fn write(root: &Path, rel: &str, bytes: &[u8], mode: u32, stats: &mut GenStats) -> std::io::Result<()> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    fs_err::write(&path, bytes)?;
    set_mode(&path, mode)?;
    stats.files += 1;
    stats.bytes += bytes.len() as u64;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The config.toml of the synthetic master: a model, 20 MCP servers, one project.
pub fn config_toml(codex_home: &Path) -> String {
    let mut out = String::from("model = \"gpt-5\"\napproval_policy = \"on-request\"\n\n");
    for i in 0..20 {
        out.push_str(&format!("[mcp_servers.server-{i:02}]\n"));
        match i % 4 {
            0 => out.push_str(&format!(
                "command = \"npx\"\nargs = [\"-y\", \"@example/mcp-{i}@1.{i}.0\"]\n[mcp_servers.server-{i:02}.env]\nAPI_KEY = \"secret-{i}\"\n"
            )),
            1 => out.push_str(&format!(
                "command = \"uvx\"\nargs = [\"--from\", \"mcp-tool-{i}==0.{i}.1\", \"mcp-tool-{i}\"]\n"
            )),
            2 => out.push_str(&format!(
                "command = \"docker\"\nargs = [\"run\", \"-i\", \"--rm\", \"ghcr.io/example/mcp-{i}:latest\"]\n"
            )),
            _ => out.push_str(&format!("url = \"https://mcp.example.com/{i}\"\n")),
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "[projects.\"{}/work\"]\ntrust_level = \"trusted\"\n",
        codex_home.display()
    ));
    out
}

/// Write a synthetic CODEX_HOME of about `files` files into `root` (created if missing).
///
/// Errors: any I/O error writing the tree.
pub fn generate(root: &Path, files: usize, seed: u64) -> std::io::Result<GenStats> {
    let mut rng = Rng::new(seed);
    let mut stats = GenStats::default();
    fs_err::create_dir_all(root)?;
    write(root, "config.toml", config_toml(root).as_bytes(), 0o600, &mut stats)?;
    let hooks = r#"{"hooks":{"SessionStart":[{"hooks":[{"type":"command","command":"sh hooks/start.sh"}]}]}}"#;
    write(root, "hooks.json", hooks.as_bytes(), 0o644, &mut stats)?;
    write(root, "AGENTS.md", &text(&mut rng, 2000, "Agents"), 0o644, &mut stats)?;
    let assets = (files / 500).max(2);
    let mut buf = Vec::new();
    for a in 0..assets {
        let size = rng.range(1 << 20, 10 << 20) as usize;
        buf.clear();
        while buf.len() < size {
            buf.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        buf.truncate(size);
        let rel = format!("skills/skill-{:04}/assets/data-{a}.bin", a * 7);
        write(root, &rel, &buf, 0o644, &mut stats)?;
        stats.assets += 1;
    }
    let mut i = 0usize;
    while stats.files < files {
        let skill = i / 25;
        let kind = rng.next_u64() % 100;
        let (rel, body, mode) = if i.is_multiple_of(25) {
            let len = rng.range(400, 4000) as usize;
            let body = text(&mut rng, len, &format!("skill-{skill:04}"));
            (format!("skills/skill-{skill:04}/SKILL.md"), body, 0o644)
        } else if kind < 5 {
            let mut body = b"#!/bin/sh\nset -eu\n".to_vec();
            let len = rng.range(200, 2000) as usize;
            body.extend(text(&mut rng, len, "script"));
            stats.scripts += 1;
            (format!("skills/skill-{skill:04}/scripts/run-{i}.sh"), body, 0o755)
        } else if kind < 7 {
            (format!("prompts/prompt-{i}.md"), text(&mut rng, 600, "prompt"), 0o644)
        } else if kind < 9 {
            (format!("rules/rule-{i}.rules"), text(&mut rng, 300, "rule"), 0o644)
        } else {
            let len = rng.range(200, 8192) as usize;
            let body = text(&mut rng, len, "reference");
            (format!("skills/skill-{skill:04}/references/ref-{i}.md"), body, 0o644)
        };
        write(root, &rel, &body, mode, &mut stats)?;
        i += 1;
    }
    // Runtime state a real ~/.codex has; never published.
    let mut log = fs_err::File::create(root.join("history.jsonl"))?;
    writeln!(log, "{{\"session\":\"synthetic\"}}")?;
    Ok(stats)
}
