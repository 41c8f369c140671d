use super::*;
use crate::master::init::{InitOptions, init};

fn roots(dir: &Path) -> Roots {
    let roots = Roots {
        home: dir.to_path_buf(),
        codex_home: dir.join(".codex"),
        codexport_home: dir.join(".codexport"),
    };
    write(&roots, "AGENTS.md", "be brief\n");
    write(&roots, "skills/a/SKILL.md", "a\n");
    init(&roots, &InitOptions::default()).unwrap();
    roots
}

fn write(roots: &Roots, rel: &str, body: &str) {
    let p = roots.codex_home.join(rel);
    fs_err::create_dir_all(p.parent().unwrap()).unwrap();
    fs_err::write(p, body).unwrap();
}

fn paths(p: &[&str]) -> Changes {
    Changes::Paths(p.iter().map(|s| s.to_string()).collect())
}

#[test]
fn a_warm_publish_gives_the_revision_of_a_cold_one_and_hands_over_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let roots = roots(dir.path());
    let mut warm = WarmState::default();
    let first = publish_warm(&roots, &mut warm, Changes::Everything).unwrap();
    assert!(
        !first.changed && first.written.is_none(),
        "init published this tree already"
    );
    write(&roots, "skills/b/SKILL.md", "b\n");
    let second = publish_warm(&roots, &mut warm, paths(&["skills/b"])).unwrap();
    assert!(second.changed);
    let written = second.written.as_ref().unwrap();
    let on_disk = roots.master_dir();
    assert_eq!(written.bytes, fs_err::read(on_disk.join(STATE_FILE)).unwrap());
    assert_eq!(written.document.metadata.revision, second.revision);
    assert!(
        written
            .document
            .spec
            .files
            .iter()
            .any(|f| f.path == "skills/b/SKILL.md")
    );
    // A cold publish of the same tree: nothing to do, same revision.
    let cold = publish(&roots).unwrap();
    assert_eq!((cold.changed, cold.revision), (false, second.revision));
}

#[test]
fn a_signature_replaced_behind_the_watchers_back_is_signed_again() {
    let dir = tempfile::tempdir().unwrap();
    let roots = roots(dir.path());
    let mut warm = WarmState::default();
    let first = publish_warm(&roots, &mut warm, Changes::Everything).unwrap();
    // Another writer (or a crash) leaves a signature that does not verify: the remembered
    // stamps no longer match, so the pair is checked and signed again.
    let sig = roots.master_dir().join(SIGNATURE_FILE);
    fs_err::write(&sig, "00\n").unwrap();
    let again = publish_warm(&roots, &mut warm, paths(&[])).unwrap();
    assert!(again.changed, "re-signed");
    assert_eq!(again.revision, first.revision);
    let text = fs_err::read_to_string(&sig).unwrap();
    let bytes = fs_err::read(roots.master_dir().join(STATE_FILE)).unwrap();
    let identity = Identity::load(&roots.master_dir()).unwrap();
    super::super::identity::verify(&identity.public_key_hex(), &bytes, text.trim()).unwrap();
}

#[test]
fn a_failed_publish_forgets_the_warm_state_and_the_next_one_scans_everything() {
    let dir = tempfile::tempdir().unwrap();
    let roots = roots(dir.path());
    let mut warm = WarmState::default();
    publish_warm(&roots, &mut warm, Changes::Everything).unwrap();
    write(&roots, "config.toml", "model = [\n");
    let err = publish_warm(&roots, &mut warm, paths(&["config.toml"])).unwrap_err();
    assert!(matches!(err, PublishError::Parse(_)), "{err}");
    assert!(warm.scan.is_none() && warm.cache.is_none());
    // Changed while nobody said so: only a full scan can see it, and the next round does one.
    write(&roots, "config.toml", "model = \"o3\"\n");
    write(&roots, "skills/unseen/SKILL.md", "unseen\n");
    let next = publish_warm(&roots, &mut warm, paths(&["config.toml"])).unwrap();
    let files = &next.written.as_ref().unwrap().document.spec.files;
    assert!(files.iter().any(|f| f.path == "skills/unseen/SKILL.md"));
}

#[test]
fn new_settings_make_the_warm_publish_scan_everything() {
    let dir = tempfile::tempdir().unwrap();
    let roots = roots(dir.path());
    let mut warm = WarmState::default();
    publish_warm(&roots, &mut warm, Changes::Everything).unwrap();
    write(&roots, "notes/n.md", "not included until master.toml says so\n");
    let settings_path = roots.master_dir().join(super::super::settings::FILE_NAME);
    let mut settings = MasterSettings::load(&roots.master_dir()).unwrap();
    settings.include.push("notes/".into());
    fs_err::write(&settings_path, toml::to_string(&settings).unwrap()).unwrap();
    let next = publish_warm(&roots, &mut warm, paths(&[])).unwrap();
    let files = &next.written.as_ref().unwrap().document.spec.files;
    assert!(files.iter().any(|f| f.path == "notes/n.md"));
}
