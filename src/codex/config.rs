//! Reading config.toml and hooks.json with errors that name the file, line and reason.

use std::path::{Path, PathBuf};

/// A Codex file that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{column}: {reason}", path.display())]
pub struct ParseError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub column: usize,
    /// What is wrong, as the parser said it.
    pub reason: String,
}

/// Parse config.toml text, keeping comments and layout (`toml_edit`).
///
/// Errors: [`ParseError`] with the line and column of the first problem (chezmoi templates such
/// as `{{ .chezmoi.homeDir }}` fail here, as they should).
pub fn parse_config(path: &Path, text: &str) -> Result<toml_edit::DocumentMut, ParseError> {
    text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, column) = line_col(text, offset);
        let reason = e.message().trim().to_string();
        ParseError {
            path: path.to_path_buf(),
            line,
            column,
            reason,
        }
    })
}

/// Parse hooks.json text.
pub fn parse_hooks(path: &Path, text: &str) -> Result<serde_json::Value, ParseError> {
    serde_json::from_str(text).map_err(|e| ParseError {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })
}

/// A serde error from the `toml` crate as one line: `line L, column C: <message>`. The crate's
/// own Display quotes the offending source line over several lines (unreadable on one line,
/// and a secret on that line would be printed).
pub fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            format!("line {line}, column {column}: {}", e.message().trim())
        }
        None => e.message().trim().to_string(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chezmoi_templates_in_the_corpus_are_rejected_with_a_line() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/configs");
        let mut seen = 0;
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = fs_err::read_to_string(&path).unwrap();
            let result = parse_config(&path, &text);
            if path.to_string_lossy().ends_with(".tmpl.toml") {
                let err = result.unwrap_err();
                assert!(err.line > 1, "{err}");
                assert!(err.to_string().contains(".tmpl.toml:"), "{err}");
                seen += 1;
            } else {
                assert!(result.is_ok(), "{}: {:?}", path.display(), result.err());
            }
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn line_and_column_point_at_the_problem() {
        let err = parse_config(Path::new("c.toml"), "a = 1\nb = = 2\n").unwrap_err();
        assert_eq!((err.line, err.path.to_str()), (2, Some("c.toml")));
    }
}
