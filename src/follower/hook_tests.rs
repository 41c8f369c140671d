use super::*;

use crate::codex::hooks::trust_entries;

#[test]
fn the_command_is_quoted_for_each_shell() {
    let exe = Path::new("/home/bob/.codexport/bin/codexport");
    let home = Path::new("/home/bob/.codexport");
    assert_eq!(
        command(exe, home, 3000, Shell::Posix),
        "CODEXPORT_HOME='/home/bob/.codexport' '/home/bob/.codexport/bin/codexport' reconcile --hook --timeout-ms 3000"
    );
    let odd = Path::new("/home/o'brien/my dir");
    assert_eq!(
        command(&odd.join("bin/codexport"), odd, 10, Shell::Posix),
        "CODEXPORT_HOME='/home/o'\\''brien/my dir' '/home/o'\\''brien/my dir/bin/codexport' reconcile --hook --timeout-ms 10"
    );
    let win = Path::new(r"C:\Users\Bob Smith\.codexport");
    let win_exe = Path::new(r"C:\Users\Bob Smith\.codexport\bin\codexport.exe");
    assert_eq!(
        command(win_exe, win, 3000, Shell::Cmd),
        r#"set "CODEXPORT_HOME=C:\Users\Bob Smith\.codexport" && "C:\Users\Bob Smith\.codexport\bin\codexport.exe" reconcile --hook --timeout-ms 3000"#
    );
    assert_eq!(
        command(win_exe, win, 3000, Shell::PowerShell),
        r"$env:CODEXPORT_HOME='C:\Users\Bob Smith\.codexport'; & 'C:\Users\Bob Smith\.codexport\bin\codexport.exe' reconcile --hook --timeout-ms 3000"
    );
    assert_eq!(windows_quote(r"C:\100%\x"), r#"C:\100"^%"\x"#);
    assert_eq!(powershell_quote("C:\\it's"), "'C:\\it''s'");
}

#[test]
fn the_posix_command_runs_through_sh_with_odd_paths() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("o'brien $HOME `x` \"q\"");
    fs_err::create_dir_all(home.join("bin")).unwrap();
    let script = home.join("bin/codexport");
    fs_err::write(&script, "#!/bin/sh\nprintf '%s|' \"$CODEXPORT_HOME\" \"$@\"\n").unwrap();
    crate::fs::set_mode(&script, 0o755).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(command(&script, &home, 7, Shell::Posix))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}|reconcile|--hook|--timeout-ms|7|", home.display())
    );
}

#[test]
fn installing_twice_gives_one_entry_after_every_other_group() {
    let foreign = json!({"hooks": {
        "SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
    }});
    let (once, index) = with_codexport_hook(foreign.clone(), "old/codexport reconcile --hook", 5);
    assert_eq!(index, 1);
    let (twice, index) = with_codexport_hook(once, "/new/codexport reconcile --hook --timeout-ms 9", 11);
    assert_eq!(index, 1, "an older codexport entry is replaced, never duplicated");
    let groups = twice["hooks"]["SessionStart"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups[0], foreign["hooks"]["SessionStart"][0],
        "foreign hooks untouched"
    );
    assert_eq!(twice["hooks"]["Stop"], foreign["hooks"]["Stop"]);
    assert_eq!(groups[1]["hooks"][0]["timeout"], 11);
    assert_eq!(without_codexport_hook(twice), foreign);
    let (fresh, index) = with_codexport_hook(json!({}), "x/codexport reconcile --hook", 5);
    assert_eq!(index, 0);
    assert_eq!(fresh["hooks"]["SessionStart"][0]["matcher"], MATCHER);
}

#[test]
fn the_trust_hash_of_the_entry_follows_the_algorithm() {
    // The handler codexport writes, hashed by the algorithm that reproduces all 8 corpus
    // vectors (codex::hooks), must equal the hash of the identity JSON written out by hand.
    let cmd = "CODEXPORT_HOME='/h/.codexport' '/h/.codexport/bin/codexport' reconcile --hook --timeout-ms 3000";
    let (doc, g) = with_codexport_hook(json!({}), cmd, 5);
    let entries = trust_entries("/h/.codex/hooks.json", &doc);
    assert_eq!(entries[0].0, format!("/h/.codex/hooks.json:session_start:{g}:0"));
    let identity = format!(
        "{{\"event_name\":\"session_start\",\"hooks\":[{{\"async\":false,\"command\":{},\"timeout\":5,\"type\":\"command\"}}],\"matcher\":\"startup|resume\"}}",
        serde_json::to_string(cmd).unwrap()
    );
    assert_eq!(
        entries[0].1,
        format!("sha256:{}", crate::fs::sha256_hex(identity.as_bytes()))
    );
}

#[test]
fn settings_round_trip_and_timeout() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(HookSettings::load(dir.path()).unwrap(), None);
    let s = HookSettings { budget_ms: 3000 };
    fs_err::write(HookSettings::path(dir.path()), serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(HookSettings::load(dir.path()).unwrap(), Some(s));
    assert_eq!(s.timeout_secs(), 5);
    assert_eq!(HookSettings { budget_ms: 3001 }.timeout_secs(), 6);
}
