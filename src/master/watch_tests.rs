use super::*;

fn shared() -> Arc<Shared> {
    Arc::new(Shared::new())
}

const FAST: WatchOptions = WatchOptions {
    debounce: Duration::from_millis(20),
    max_delay: Duration::from_millis(100),
};

#[test]
fn a_change_during_a_publish_is_published_after_it() {
    let s = shared();
    s.changed(None);
    let started = Instant::now();
    let (first, _) = s.next(0, FAST).unwrap();
    assert!(started.elapsed() >= FAST.debounce, "waited for the quiet period");
    // The publish of `first` runs; a change arrives meanwhile.
    s.changed(None);
    let (second, _) = s.next(first, FAST).unwrap();
    assert!(second > first, "not lost");
    // Nothing new: the publisher sleeps until stopped.
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.next(second, FAST))
    };
    std::thread::sleep(Duration::from_millis(50));
    s.stop();
    assert!(waiter.join().unwrap().is_none());
}

#[test]
fn a_constant_stream_of_changes_publishes_after_the_longest_wait() {
    let s = shared();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(600) {
                s.changed(None);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(10));
    let started = Instant::now();
    let (got, _) = s.next(0, FAST).unwrap();
    let waited = started.elapsed();
    assert!(got > 0);
    assert!(
        waited < Duration::from_millis(400),
        "max delay, not the end of the stream: {waited:?}"
    );
    writer.join().unwrap();
}

#[test]
fn the_changed_paths_of_a_round_are_handed_over_once_and_unknown_ones_mean_everything() {
    let s = shared();
    let (a, b) = (
        PathBuf::from("/h/.codex/AGENTS.md"),
        PathBuf::from("/h/.codex/skills/x"),
    );
    s.changed(Some(std::slice::from_ref(&a)));
    s.changed(Some(&[b.clone(), a.clone()]));
    let (first, changed) = s.next(0, FAST).unwrap();
    assert_eq!(changed, Some(BTreeSet::from([a.clone(), b])));
    // The next round starts empty, and one unknown change makes it "everything".
    s.changed(Some(std::slice::from_ref(&a)));
    s.changed(None);
    s.changed(Some(&[a]));
    let (second, changed) = s.next(first, FAST).unwrap();
    assert_eq!(changed, None);
    // Too many paths: everything too.
    let many: Vec<PathBuf> = (0..=MAX_CHANGED_PATHS)
        .map(|i| PathBuf::from(format!("/h/.codex/p{i}")))
        .collect();
    s.changed(Some(&many));
    assert_eq!(s.next(second, FAST).unwrap().1, None);
}
