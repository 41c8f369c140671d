//! Unit tests of the stat cache (`statcache.rs`).

use super::*;

fn scanned(rel: &str, size: u64, mtime_ns: i128) -> ScannedFile {
    ScannedFile {
        rel: rel.into(),
        abs: rel.into(),
        size,
        mode: 0o644,
        class: crate::model::FileClass::Skill,
        stamp: FileStamp {
            mtime_ns,
            ctime_ns: mtime_ns,
            ino: 7,
        },
    }
}

#[test]
fn round_trips_and_skips_racy_malformed_and_torn_files() {
    let dir = tempfile::tempdir().unwrap();
    let (old, fresh) = (
        scanned("skills/a/SKILL.md", 3, 1_000),
        scanned("b.md", 4, i128::MAX / 2),
    );
    let h = "a".repeat(64);
    let stored = |size| Hashed {
        sha256: h.clone(),
        size,
        cached: false,
    };
    let (s3, s4) = (stored(3), stored(4));
    StatCache::record(&[&old, &fresh], &[s3, s4], SystemTime::now())
        .write(dir.path())
        .unwrap();
    assert_eq!(
        StatCache::load(dir.path()).len(),
        1,
        "the racily fresh entry is left out"
    );
    let text = fs_err::read_to_string(dir.path().join(FILE_NAME)).unwrap();
    assert!(text.ends_with("\nend 1\n"), "{text}");
    // Malformed lines are skipped (the count is of the good ones).
    let body = text.trim_end_matches("end 1\n");
    let edited = format!("{body}garbage line\nzz 1 2 3 4\tx\nshard 0g 1 2 3\nend 1\n");
    fs_err::write(dir.path().join(FILE_NAME), edited).unwrap();
    let loaded = StatCache::load(dir.path());
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded.lookup(&old).unwrap().sha256, h);
    let mut touched = old.clone();
    touched.stamp.mtime_ns += 1;
    assert!(loaded.lookup(&touched).is_none(), "a new mtime misses");
    let mut grown = old.clone();
    grown.size += 1;
    assert!(loaded.lookup(&grown).is_none(), "a new size misses");
    // Torn (no end line, or a count that does not match): ignored as a whole.
    fs_err::write(dir.path().join(FILE_NAME), body).unwrap();
    assert!(StatCache::load(dir.path()).is_empty());
    fs_err::write(dir.path().join(FILE_NAME), format!("{body}end 2\n")).unwrap();
    assert!(StatCache::load(dir.path()).is_empty());
    fs_err::write(dir.path().join(FILE_NAME), "not the header\n").unwrap();
    assert!(StatCache::load(dir.path()).is_empty());
    for older in ["codexport-statcache v1", "codexport-statcache v2"] {
        fs_err::write(dir.path().join(FILE_NAME), text.replace(HEADER, older)).unwrap();
        assert!(
            StatCache::load(dir.path()).is_empty(),
            "an older format ({older}) is hashed again"
        );
    }
}

#[test]
fn lookups_agree_sorted_and_unsorted() {
    let dir = tempfile::tempdir().unwrap();
    let [a, c, e] = ["a", "c", "e"].map(|r| scanned(r, 1, 1_000));
    let stored: Vec<Hashed> = (0..3)
        .map(|i| Hashed {
            sha256: format!("{i}").repeat(64),
            size: 1,
            cached: false,
        })
        .collect();
    StatCache::record(
        &[&e, &a, &c],
        &[stored[2].clone(), stored[0].clone(), stored[1].clone()],
        SystemTime::now(),
    )
    .write(dir.path())
    .unwrap();
    let cache = StatCache::load(dir.path());
    let b = scanned("b", 1, 1_000);
    let mut c2 = c.clone();
    c2.stamp.ino += 1;
    let found = |files: &[&ScannedFile]| -> Vec<Option<String>> {
        cache
            .lookup_all(files)
            .into_iter()
            .map(|e| e.map(|e| e.sha256.clone()))
            .collect()
    };
    let sorted = found(&[&a, &b, &c2, &e]);
    assert_eq!(sorted, [Some("0".repeat(64)), None, None, Some("2".repeat(64))]);
    let unsorted = found(&[&e, &c2, &b, &a]);
    assert_eq!(unsorted, [Some("2".repeat(64)), None, None, Some("0".repeat(64))]);
}

#[test]
fn hashes_in_parallel_and_reuses_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..40 {
        let abs = dir.path().join(format!("f{i}"));
        fs_err::write(&abs, format!("content {}", i % 10)).unwrap();
        let mut f = scanned(&format!("f{i}"), 9, 1_000);
        f.abs = abs;
        files.push(f);
    }
    let refs: Vec<&ScannedFile> = files.iter().collect();
    let first = hash_files(&refs, &StatCache::default()).unwrap();
    assert!(first.iter().all(|s| !s.cached));
    assert_eq!(first[3].sha256, crate::fs::sha256_hex(b"content 3"));
    assert_eq!(first[13].sha256, first[3].sha256);
    StatCache::record(&refs, &first, SystemTime::now())
        .write(dir.path())
        .unwrap();
    let cache = StatCache::load(dir.path());
    let second = hash_files(&refs, &cache).unwrap();
    assert!(second.iter().all(|s| s.cached));
    assert_eq!(second[7].sha256, first[7].sha256);
    // An edit (new size and stamp) is read again; the rest stays cached.
    fs_err::write(&files[7].abs, "edited!!!!").unwrap();
    files[7].size = 10;
    files[7].stamp.mtime_ns += 1;
    let refs: Vec<&ScannedFile> = files.iter().collect();
    let third = hash_files(&refs, &cache).unwrap();
    assert!(!third[7].cached);
    assert_eq!(third[7].sha256, crate::fs::sha256_hex(b"edited!!!!"));
    assert_eq!(third.iter().filter(|s| s.cached).count(), 39);
    // Nothing but the cache file was written beside the files: hashing copies nothing.
    let names: Vec<String> = fs_err::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('f'))
        .collect();
    assert_eq!(names, [FILE_NAME]);
}

#[test]
fn a_file_that_cannot_be_read_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = scanned("gone.md", 3, 1_000);
    f.abs = dir.path().join("gone.md");
    let err = hash_files(&[&f], &StatCache::default()).unwrap_err();
    assert!(err.to_string().contains("gone.md"), "{err}");
}
