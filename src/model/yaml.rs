//! The desired-state document as YAML, written without serde_yaml's per-scalar cost for the
//! file list.
//!
//! serde_yaml emits each string through libyaml and first re-parses it to decide whether it
//! needs quotes: about 25 ms for the 10k entries of `spec.files`, the largest share of a warm
//! republish. [`to_yaml`] lets serde_yaml write everything else (a few dozen lines) and writes
//! the file entries itself, in the same block layout serde_yaml uses. A string is written plain
//! only when it is made of `[A-Za-z0-9_./-]`, does not start with `-` and cannot be read as
//! anything but a string (a number, a boolean, null); otherwise double-quoted with YAML escapes
//! (YAML 1.2 §5.7), which every YAML reader takes back to the same string. The tests check that
//! typical documents come out byte for byte as serde_yaml writes them and that unusual paths
//! read back unchanged.

use std::fmt::Write as _;

use super::document::{DesiredState, FileEntry, Spec};

/// `doc` as YAML; serde_yaml reads it back as `doc`.
///
/// Errors: those of serde_yaml for the parts it writes (none for a document of these types).
pub fn to_yaml(doc: &DesiredState) -> Result<String, serde_yaml::Error> {
    const MARK: &str = "\nspec:\n  files: []\n";
    let head = DesiredState {
        api_version: doc.api_version.clone(),
        kind: doc.kind.clone(),
        metadata: doc.metadata.clone(),
        spec: Spec {
            files: Vec::new(),
            ..doc.spec.clone()
        },
    };
    let text = serde_yaml::to_string(&head)?;
    if doc.spec.files.is_empty() {
        return Ok(text);
    }
    // Not laid out as expected (a serde_yaml change): let serde_yaml write all of it.
    let Some(at) = text.find(MARK) else {
        return serde_yaml::to_string(doc);
    };
    let mut out = String::with_capacity(text.len() + doc.spec.files.len() * 180);
    out.push_str(&text[..at]);
    out.push_str("\nspec:\n  files:\n");
    for file in &doc.spec.files {
        write_file(&mut out, file);
    }
    out.push_str(&text[at + MARK.len()..]);
    Ok(out)
}

fn write_file(out: &mut String, f: &FileEntry) {
    out.push_str("  - path: ");
    scalar(out, &f.path);
    out.push_str("\n    sha256: ");
    if is_plain_hex(&f.sha256) {
        out.push_str(&f.sha256);
    } else {
        scalar(out, &f.sha256);
    }
    // Writing into a String cannot fail. The mode always reads as an integer: quoted, as
    // serde_yaml quotes it.
    let _ = write!(out, "\n    size: {}\n    mode: '{}'\n    class: ", f.size, f.mode);
    scalar(out, f.class.as_str());
    out.push('\n');
}

/// `s` as a plain scalar when that is safe, else double-quoted.
fn scalar(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        double_quoted(out, s);
    }
}

/// Plain only when nothing in `s` can make a reader take it for anything but this string:
/// no indicator or space, no leading `-`, and a `/` or a letter that no number has (numbers hold
/// digits, `.+-_`, exponents `e`, prefixes `0x`/`0o`/`0b` and hex digits), and not a word YAML
/// reads as a boolean, null, infinity or NaN.
fn is_plain_safe(s: &str) -> bool {
    const WORDS: [&str; 13] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "inf", "infinity", "nan", "infinite",
    ];
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-');
    let not_numeric = |b: u8| b == b'/' || (b.is_ascii_alphabetic() && !b"abcdefoxABCDEFOX".contains(&b));
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    if first == b'-' || !bytes.iter().all(|&b| allowed(b)) || !bytes.iter().any(|&b| not_numeric(b)) {
        return false;
    }
    let word = s.trim_start_matches(['+', '-', '.']).to_ascii_lowercase();
    !WORDS.contains(&word.as_str())
}

/// Lowercase hex with a letter other than `e` cannot be read as a number unless it is a binary
/// literal (`0b` and only `0`/`1` after it): plain, as serde_yaml writes a sha256.
fn is_plain_hex(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && bytes.iter().any(|b| matches!(b, b'a'..=b'd' | b'f'))
        && !s
            .strip_prefix("0b")
            .is_some_and(|digits| digits.bytes().all(|b| matches!(b, b'0' | b'1')))
}

/// A YAML double-quoted scalar: printable characters as they are, `"` and `\` escaped, and every
/// other character (controls, line and paragraph separators, the byte order mark, non-characters)
/// as an escape, so no reader folds or rejects it.
fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        let raw = match c {
            '"' | '\\' => false,
            ' '..='~' => true,
            '\u{a0}'..='\u{fffd}' => !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'),
            '\u{10000}'.. => true,
            _ => false,
        };
        if raw {
            out.push(c);
            continue;
        }
        let _ = match c {
            '"' => write!(out, "\\\""),
            '\\' => write!(out, "\\\\"),
            '\0' => write!(out, "\\0"),
            '\t' => write!(out, "\\t"),
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            c if (c as u32) < 0x100 => write!(out, "\\x{:02X}", c as u32),
            c if (c as u32) < 0x10000 => write!(out, "\\u{:04X}", c as u32),
            c => write!(out, "\\U{:08X}", c as u32),
        };
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{FileClass, FileMode, MasterInfo, Metadata};

    fn doc(paths: &[&str]) -> DesiredState {
        let files = paths
            .iter()
            .enumerate()
            .map(|(i, p)| FileEntry {
                path: p.to_string(),
                sha256: crate::fs::sha256_hex(p.as_bytes()),
                size: i as u64 * 1000,
                mode: FileMode(if i % 3 == 0 { 0o755 } else { 0o644 }),
                class: [
                    FileClass::Skill,
                    FileClass::HookScript,
                    FileClass::Secret,
                    FileClass::Tooling,
                ][i % 4],
            })
            .collect();
        DesiredState {
            api_version: "codexport/v1".into(),
            kind: "DesiredState".into(),
            metadata: Metadata {
                revision: format!("sha256:{}", "0".repeat(64)),
                master: MasterInfo {
                    fingerprint: "ab".repeat(32),
                    public_key: "cd".repeat(32),
                    hostname: "host: with colon".into(),
                    home: "/home/a".into(),
                    codex_home: "/home/a/.codex".into(),
                },
                generated_at: "2026-11-21T10:00:00Z".into(),
                sequence: 0,
            },
            spec: Spec {
                files,
                config: None,
                hooks: None,
                mcp_servers: BTreeMap::new(),
                path_variables: vec!["workspaceRoot".into()],
            },
        }
    }

    #[test]
    fn typical_documents_are_byte_for_byte_what_serde_yaml_writes() {
        let mut paths = vec![
            "AGENTS.md",
            "auth.json",
            "hooks/notify.sh",
            "prompts/prompt-1158.md",
            "rules/default.rules",
            "skills/pdf_tools/SKILL.md",
            "skills/a/references/ref-0001.md",
            "skills/a/scripts/run.py",
            ".credentials.json",
            "skills/x/1.md",
        ];
        let example = include_str!("../../examples/desired-state/master-basic.yaml");
        let real: DesiredState = serde_yaml::from_str(example).unwrap();
        assert_eq!(to_yaml(&real).unwrap(), serde_yaml::to_string(&real).unwrap());
        paths.sort();
        let d = doc(&paths);
        assert_eq!(to_yaml(&d).unwrap(), serde_yaml::to_string(&d).unwrap());
        let empty = doc(&[]);
        assert_eq!(to_yaml(&empty).unwrap(), serde_yaml::to_string(&empty).unwrap());
    }

    #[test]
    fn unusual_paths_read_back_unchanged() {
        let paths = [
            "true",
            "null",
            "~",
            "1e5",
            "0x1f",
            "0o17",
            ".inf",
            "-.inf",
            ".NaN",
            "Yes",
            "on",
            "123",
            "1_000",
            "abc",
            "-leading",
            "a b",
            "a: b",
            "a #b",
            "#x",
            "'quoted'",
            "\"dq\"",
            "back\\slash",
            "tab\there",
            "new\nline",
            "cr\rx",
            "del\u{7f}",
            "nel\u{85}",
            "nbsp\u{a0}",
            "ls\u{2028}ps\u{2029}",
            "bom\u{feff}",
            "é/ü/SKILL.md",
            "emoji\u{1F600}.md",
            "bell\u{7}",
            "nul\u{0}",
            "nonchar\u{fffe}",
            "[a]",
            "{b}",
            "*c",
            "&d",
            "!e",
            "|f",
            ">g",
            "%h",
            "@i",
            "`j",
            "k,l",
            "?m",
            ":n",
            "o:",
            "",
            "0bad",
            "0b01",
        ];
        let d = doc(&paths);
        let text = to_yaml(&d).unwrap();
        let back: DesiredState = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, d);
    }

    #[test]
    fn plain_only_where_nothing_else_can_be_read() {
        for s in [
            "AGENTS.md",
            "skills/a/SKILL.md",
            "hook-script",
            "instructions",
            ".codex/x",
        ] {
            assert!(is_plain_safe(s), "{s}");
        }
        for s in ["0bad3e28", "0b2", "ab12", "e1f"] {
            assert!(is_plain_hex(s), "{s}");
        }
        for s in ["0b0101", "1e5", "123", "", "ABCD", "abcg"] {
            assert!(!is_plain_hex(s), "{s}");
        }
        for s in [
            "1e5", "0xbeef", "true", "NULL", "-x", "a b", "", "deadbeef", ".nan", "+inf", "é",
        ] {
            assert!(!is_plain_safe(s), "{s}");
        }
    }
}
