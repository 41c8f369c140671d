//! Every command the README (and the reference pages under `docs/`) shows is accepted by the
//! real CLI: each line of a shell code block (```sh, ```bash, ```shell, ```console) that starts
//! with `codexport ` or `cargo run --release -- ` runs through the real binary, with its
//! placeholders replaced by harmless values, in a fresh machine (temp HOME, CODEX_HOME and
//! CODEXPORT_HOME; `master service` never reaches the real systemd: see `Machine::command`).
//! The test fails when clap rejects a line: a subcommand or flag that does not exist, a value
//! clap does not know. Clap's parse errors exit 4 (`Exit::Usage`, src/exit.rs) and end with
//! clap's `For more information, try '--help'.`; codexport's own errors (not joined, not a
//! master yet, master unreachable) print `error:` and `hint:` lines and never that line.
//!
//! Most lines fail after parsing in a fresh machine (nothing joined, no master). The
//! integration tests that run the README's walkthrough commands for real:
//!
//! | README command | run for real by |
//! |---|---|
//! | `cargo run --release -- demo` | tests/commands.rs (`demo`) |
//! | `master init` | nearly every test (tests/replicate.rs, tests/followers.rs, ...) |
//! | `master service install` | tests/master_service.rs |
//! | `master serve` | tests/common/mod.rs `Machine::serve` (every test with a master), tests/server_limits.rs, tests/doctor.rs |
//! | `master link --host ... --name ...` | tests/common/mod.rs `Machine::link`, tests/commands.rs |
//! | `follower join '<link>' --apply` | tests/replicate.rs, tests/new_machine.rs (no `~/.codex` yet), tests/followers.rs, ... |
//! | `hook install` | tests/hook.rs (with the real Codex CLI), tests/doctor.rs |
//! | a change on the master, republished | tests/master_watch.rs |
//! | `status` | tests/commands.rs, tests/followers.rs, tests/hook.rs, tests/cli_snapshots.rs |
//! | `plan` | tests/plan_scenarios.rs, tests/commands.rs, tests/replicate.rs |
//! | `sync --apply` | tests/replicate.rs, tests/sync_requests.rs, tests/followers.rs |
//! | `master followers` | tests/followers.rs |
//! | `generations`, `rollback`, `rollback --to N` | tests/generations.rs, tests/commands.rs |
//! | `completions`, `man` | tests/commands.rs |
//! | `doctor` | tests/doctor.rs |

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Machine, Run};

/// Placeholders the pages use, and what a line gets instead. A new placeholder must be added
/// here: an unknown one fails the test rather than reach the CLI as text.
fn substitute(word: &str, link: &str) -> String {
    match word {
        "<link>" | "<new link>" => link.to_string(),
        "<the master's Tailscale IP>" | "<tailscale ip or name>" => "127.0.0.1".to_string(),
        "<each follower>" => "laptop".to_string(),
        other if other.contains('<') && other.contains('>') => {
            panic!("unknown placeholder {other:?}: add a harmless value for it in tests/readme.rs")
        }
        other => other.to_string(),
    }
}

/// Shell-like words of one line, with operators (`|`, `>`, `<`, `;`, `&&`, `||`, `&`) as their
/// own words and an unquoted `#` ending the line. Quotes group and are removed; an unquoted
/// `<placeholder words>` is one word.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                in_word = true;
            }
            '#' if !in_word => break,
            ' ' | '\t' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            // `<a placeholder>` is one word, spaces and apostrophes included.
            '<' if chars.peek().is_some_and(|n| !n.is_whitespace() && *n != '<') => {
                cur.push(c);
                in_word = true;
                for n in chars.by_ref() {
                    cur.push(n);
                    if n == '>' {
                        break;
                    }
                }
            }
            '|' | '>' | '<' | ';' | '&' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                let mut op = c.to_string();
                if chars.peek() == Some(&c) {
                    op.push(c);
                    chars.next();
                }
                out.push(op);
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// One command a page shows: where it is, and its arguments after `codexport`, with the
/// environment assignments written before it.
#[derive(Debug)]
struct Shown {
    place: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

/// Every `codexport ...` command of the shell code blocks of `markdown`. A line may hold
/// several (`a && b`); a redirection or pipe ends one.
fn shown_commands(name: &str, markdown: &str) -> Vec<Shown> {
    let mut out = Vec::new();
    let mut in_shell = false;
    let mut in_other = false;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            if in_shell || in_other {
                in_shell = false;
                in_other = false;
            } else if matches!(lang.trim(), "sh" | "bash" | "shell" | "console") {
                in_shell = true;
            } else {
                in_other = true;
            }
            continue;
        }
        if !in_shell {
            continue;
        }
        let text = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        let all = words(text);
        for segment in all.split(|w| matches!(w.as_str(), "&&" | "||" | ";" | "&")) {
            // A pipe or redirection ends the command.
            let end = segment
                .iter()
                .position(|w| matches!(w.as_str(), "|" | ">" | ">>" | "<" | "<<"))
                .unwrap_or(segment.len());
            let segment = &segment[..end];
            let mut env = Vec::new();
            let mut rest = segment;
            while let Some((first, tail)) = rest.split_first()
                && let Some((k, v)) = first.split_once('=')
                && !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                env.push((k.to_string(), v.to_string()));
                rest = tail;
            }
            let args = match rest {
                [first, tail @ ..] if first == "codexport" => tail,
                [c, r, rel, dd, tail @ ..] if c == "cargo" && r == "run" && rel == "--release" && dd == "--" => tail,
                _ => continue,
            };
            out.push(Shown {
                place: format!("{name}:{}", i + 1),
                env,
                args: args.to_vec(),
            });
        }
    }
    out
}

/// A join link to a loopback port nothing listens on: `follower join` parses it, then finds
/// the master unreachable (exit 6) without writing anything.
fn dead_link() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    format!(
        "codexport://join?host=127.0.0.1&port={port}&fingerprint={}&token=cxp_{}",
        "0".repeat(64),
        "0".repeat(64)
    )
}

/// Run one shown command in a fresh machine; fail when it is still running after 60 s (no
/// page shows a command that waits in a fresh machine). The child is ended by its PID.
fn run_shown(shown: &Shown, link: &str) -> Run {
    let machine = Machine::new();
    let args: Vec<String> = shown.args.iter().map(|w| substitute(w, link)).collect();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = machine.command(&arg_refs);
    command
        .current_dir(&machine.home)
        .envs(shown.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("{}: `codexport {}` still ran after 60 s", shown.place, args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
    }
}

/// True when clap refused the arguments: the usage exit code and clap's closing line, which
/// every clap parse error prints (an invalid value prints no `Usage:` block).
fn clap_rejected(run: &Run) -> bool {
    run.code == 4 && run.stderr.contains("For more information, try '--help'.")
}

/// Every page whose shell blocks are checked: the README and the reference pages.
fn pages() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![(
        "README.md".to_string(),
        fs_err::read_to_string(root.join("README.md")).unwrap(),
    )];
    let mut docs: Vec<_> = fs_err::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    for p in docs {
        let name = format!("docs/{}", p.file_name().unwrap().to_string_lossy());
        pages.push((name, fs_err::read_to_string(&p).unwrap()));
    }
    pages
}

#[test]
fn every_command_the_readme_and_docs_show_is_accepted_by_the_cli() {
    let link = dead_link();
    let mut checked = 0;
    let mut refused = Vec::new();
    for (name, text) in pages() {
        for shown in shown_commands(&name, &text) {
            let run = run_shown(&shown, &link);
            if clap_rejected(&run) {
                refused.push(format!(
                    "{}: codexport {}\n{}",
                    shown.place,
                    shown.args.join(" "),
                    run.stderr
                ));
            }
            checked += 1;
        }
    }
    eprintln!("checked {checked} commands of README.md and docs/*.md");
    assert!(
        refused.is_empty(),
        "the CLI refuses commands the pages show:\n{}",
        refused.join("\n")
    );
    assert!(
        checked >= 40,
        "only {checked} commands found: did the code-block parsing break?"
    );
}

#[test]
fn the_readme_walkthrough_shows_the_commands_of_a_master_and_its_followers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs_err::read_to_string(root.join("README.md")).unwrap();
    let shown: Vec<String> = shown_commands("README.md", &readme)
        .iter()
        .map(|s| s.args.join(" "))
        .collect();
    for wanted in [
        "demo",
        "master init",
        "master service install",
        "master link --host",
        "follower join <link> --apply",
        "hook install",
        "status",
        "plan",
        "sync --apply",
        "master followers",
        "generations",
        "rollback",
        "rollback --to",
    ] {
        assert!(
            shown.iter().any(|s| s.starts_with(wanted)),
            "the README's shell blocks no longer show `codexport {wanted}`: {shown:#?}"
        );
    }
    let size = readme.len();
    assert!(
        (8_000..=13_000).contains(&size),
        "README.md is {size} bytes; keep it an introduction (8-12 KB)"
    );
}

/// The checker itself: a line naming a subcommand, flag or value that does not exist is
/// refused, and the same lines without the mistake are accepted.
#[test]
fn a_missing_subcommand_flag_or_value_is_caught() {
    let page = "```sh\n\
        codexport sync --no-such-flag\n\
        codexport master nope --host 127.0.0.1\n\
        codexport plan --output xml   # not a format\n\
        CODEXPORT_MCP_INSTALL=manual codexport follower join '<link>' --aply\n\
        codexport master init && codexport master lnk --name laptop\n\
        ```\n\
        ```text\n\
        codexport this block is not shell and is not checked\n\
        ```\n\
        ```sh\n\
        codexport sync\n\
        codexport plan --output json > plan.json\n\
        codexport follower join '<link>' --apply\n\
        ```\n";
    let shown = shown_commands("test.md", page);
    let places: Vec<&str> = shown.iter().map(|s| s.place.as_str()).collect();
    assert_eq!(
        places,
        [
            "test.md:2",
            "test.md:3",
            "test.md:4",
            "test.md:5",
            "test.md:6",
            "test.md:6",
            "test.md:12",
            "test.md:13",
            "test.md:14"
        ]
    );
    assert_eq!(
        shown[3].env,
        [("CODEXPORT_MCP_INSTALL".to_string(), "manual".to_string())]
    );
    assert_eq!(shown[7].args, ["plan", "--output", "json"]);
    let link = dead_link();
    let verdicts: Vec<bool> = shown.iter().map(|s| clap_rejected(&run_shown(s, &link))).collect();
    assert_eq!(verdicts, [true, true, true, true, false, true, false, false, false]);
}

#[test]
fn an_unknown_placeholder_is_not_passed_on_as_text() {
    let outcome = std::panic::catch_unwind(|| substitute("<tailscale-ip>", "x"));
    assert!(outcome.is_err());
    assert_eq!(substitute("<link>", "codexport://x"), "codexport://x");
    assert_eq!(substitute("--apply", "codexport://x"), "--apply");
}
