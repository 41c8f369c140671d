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
    let store = BlobStore::new(dir.path().join("no-store"));
    let (old, fresh) = (
        scanned("skills/a/SKILL.md", 3, 1_000),
        scanned("b.md", 4, i128::MAX / 2),
    );
    let h = "a".repeat(64);
    let stored = |size| Stored {
        sha256: h.clone(),
        size,
        cached: false,
    };
    let (s3, s4) = (stored(3), stored(4));
    StatCache::record(&[&old, &fresh], &[s3, s4], &store, SystemTime::now())
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
    let v1 = text.replace(HEADER, "codexport-statcache v1");
    fs_err::write(dir.path().join(FILE_NAME), v1).unwrap();
    assert!(
        StatCache::load(dir.path()).is_empty(),
        "an older format is hashed again"
    );
}

#[test]
fn lookups_agree_sorted_and_unsorted() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path().join("no-store"));
    let [a, c, e] = ["a", "c", "e"].map(|r| scanned(r, 1, 1_000));
    let stored: Vec<Stored> = (0..3)
        .map(|i| Stored {
            sha256: format!("{i}").repeat(64),
            size: 1,
            cached: false,
        })
        .collect();
    StatCache::record(
        &[&e, &a, &c],
        &[stored[2].clone(), stored[0].clone(), stored[1].clone()],
        &store,
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
fn a_blob_removed_from_a_recorded_shard_is_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path().join("blobs"));
    let mut files = Vec::new();
    for i in 0..20 {
        let abs = dir.path().join(format!("f{i}"));
        fs_err::write(&abs, format!("content {i}")).unwrap();
        let mut f = scanned(&format!("f{i}"), format!("content {i}").len() as u64, 1_000);
        f.abs = abs;
        files.push(f);
    }
    let refs: Vec<&ScannedFile> = files.iter().collect();
    let first = hash_and_store(&refs, &store, &StatCache::default()).unwrap();
    // Age every shard past the racy window (a real publish waits for the next one).
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for (shard, _) in shard_stamps(&store) {
        let shard_dir = store.root().join(format!("{shard:02x}"));
        std::fs::File::open(&shard_dir).unwrap().set_modified(hour_ago).unwrap();
    }
    let later = SystemTime::now() + Duration::from_secs(3600);
    StatCache::record(&refs, &first, &store, later)
        .write(dir.path())
        .unwrap();
    let cache = StatCache::load(dir.path());
    assert_eq!(cache.shards.len(), shard_stamps(&store).len());
    let recorded = |cache: &StatCache| cache.unchanged_shards(&store).iter().filter(|ok| **ok).count();
    assert_eq!(recorded(&cache), cache.shards.len(), "every shard as recorded");
    let gone = &first[5].sha256;
    fs_err::remove_file(store.path_of(gone)).unwrap();
    let shard = u8::from_str_radix(&gone[..2], 16).unwrap();
    assert!(!cache.unchanged_shards(&store)[shard as usize], "the shard lost a blob");
    assert_eq!(recorded(&cache), cache.shards.len() - 1, "only that one");
    let again = hash_and_store(&refs, &store, &cache).unwrap();
    assert!(!again[5].cached, "its blob is gone: read and stored again");
    assert!(store.contains(gone));
    // The others are cached, in the untouched shards and beside it (looked up there).
    for (s, f) in again.iter().zip(&first) {
        assert_eq!(s.sha256, f.sha256);
        assert_eq!(s.cached, &f.sha256 != gone, "{}", f.sha256);
    }
}

#[test]
fn hashes_in_parallel_and_reuses_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path().join("blobs"));
    let mut files = Vec::new();
    for i in 0..40 {
        let abs = dir.path().join(format!("f{i}"));
        fs_err::write(&abs, format!("content {}", i % 10)).unwrap();
        let mut f = scanned(&format!("f{i}"), 9, 1_000);
        f.abs = abs;
        files.push(f);
    }
    let refs: Vec<&ScannedFile> = files.iter().collect();
    let first = hash_and_store(&refs, &store, &StatCache::default()).unwrap();
    assert!(first.iter().all(|s| !s.cached));
    assert_eq!(first[3].sha256, crate::fs::sha256_hex(b"content 3"));
    assert_eq!(first[13].sha256, first[3].sha256);
    StatCache::record(&refs, &first, &store, SystemTime::now())
        .write(dir.path())
        .unwrap();
    let cache = StatCache::load(dir.path());
    let second = hash_and_store(&refs, &store, &cache).unwrap();
    assert!(second.iter().all(|s| s.cached));
    assert_eq!(second[7].sha256, first[7].sha256);
}
