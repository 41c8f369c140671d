//! Phase 2 of [`super::execute`] writes runs of independent files on several threads.
//!
//! Why: a first join writes every file of the tree (10k files, 148 MiB in the benchmark), and
//! on ext4 creating files in different directories from two threads took 0.67-0.85 s where one
//! `cp -a` took 1.17-1.26 s (benches/README, session 7). Which steps may run together is
//! decided from the plan alone: a run of consecutive [`StepKind::WriteFile`] steps, none with
//! an obstruction to move aside, none requiring another step of the run. The plan is a
//! topological order, so any order inside such a run is one the plan allows; every undo record
//! is already durable (phase 1), so a failure in any of them rolls the whole batch back.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::plan::{PlanStep, StepKind};

/// Threads writing one run (file creation is mostly kernel time spent waiting on directory and
/// journal locks, so more threads than the 2 cores measured still helped there).
pub(super) const WRITERS: usize = 4;
/// Shorter runs are written on the calling thread (starting threads costs more).
const MIN_PARALLEL_RUN: usize = 8;

/// The end (exclusive) of the run of steps from `from` that may be written in any order, or
/// `from` when `steps[from]` cannot be in one or the run would be shorter than worth it.
pub(super) fn run_end(steps: &[&PlanStep], from: usize) -> usize {
    let mut in_run: HashSet<&str> = HashSet::new();
    let mut end = from;
    while let Some(step) = steps.get(end) {
        let independent = step.kind == StepKind::WriteFile
            && step.obstruction.is_none()
            && !step.requires.iter().any(|r| in_run.contains(r.as_str()));
        if !independent {
            break;
        }
        in_run.insert(step.id.as_str());
        end += 1;
    }
    if end - from < MIN_PARALLEL_RUN { from } else { end }
}

/// Run `write` over `steps` on up to [`WRITERS`] threads. After the first failure no new step
/// starts; the failure reported is the earliest in plan order among those that happened,
/// with its step id. Returns the indices (into `steps`) that ran to completion, in plan order.
pub(super) fn write_all<F>(steps: &[&PlanStep], write: F) -> Result<Vec<usize>, (String, std::io::Error)>
where
    F: Fn(&PlanStep) -> std::io::Result<()> + Sync,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<(usize, std::io::Error)>> = Mutex::new(None);
    let done: Mutex<Vec<usize>> = Mutex::new(Vec::with_capacity(steps.len()));
    let worker = || {
        let mut mine = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(step) = steps.get(i) else { break };
            match write(step) {
                Ok(()) => mine.push(i),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    if slot.as_ref().is_none_or(|(at, _)| i < *at) {
                        *slot = Some((i, e));
                    }
                }
            }
        }
        done.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
    };
    std::thread::scope(|scope| {
        for _ in 1..WRITERS.min(steps.len()) {
            scope.spawn(worker);
        }
        worker();
    });
    if let Some((i, e)) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err((steps[i].id.clone(), e));
    }
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_unstable();
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::super::plan::Action;
    use super::*;

    fn step(id: &str, kind: StepKind, requires: &[&str]) -> PlanStep {
        PlanStep {
            id: id.into(),
            kind,
            action: Action::Create,
            path: id.trim_start_matches("file:").trim_start_matches("dir:").into(),
            root: Default::default(),
            class: None,
            reason: String::new(),
            drift: false,
            obstruction: None,
            requires: requires.iter().map(|s| s.to_string()).collect(),
            size_before: None,
            size_after: None,
            mode: None,
            sensitive: false,
            diff: None,
        }
    }

    fn files(n: usize) -> Vec<PlanStep> {
        (0..n)
            .map(|i| step(&format!("file:a/{i:03}"), StepKind::WriteFile, &["dir:a"]))
            .collect()
    }

    #[test]
    fn a_run_is_consecutive_independent_file_writes() {
        let mut steps = vec![step("dir:a", StepKind::EnsureDir, &[])];
        steps.extend(files(10));
        steps.push(step("config:config.toml", StepKind::WriteConfig, &[]));
        let refs: Vec<&PlanStep> = steps.iter().collect();
        assert_eq!(run_end(&refs, 0), 0, "a directory step is not part of a run");
        assert_eq!(run_end(&refs, 1), 11, "the ten files, not the config after them");
        assert_eq!(run_end(&refs, 3), 11, "eight left");
        assert_eq!(run_end(&refs, 4), 4, "seven left: not worth threads");
    }

    #[test]
    fn a_step_requiring_one_of_the_run_or_moving_an_obstruction_ends_it() {
        let mut steps = files(10);
        steps[9].requires.push("file:a/003".into());
        let refs: Vec<&PlanStep> = steps.iter().collect();
        assert_eq!(run_end(&refs, 0), 9);
        let mut steps = files(10);
        steps[8].obstruction = Some("directory".into());
        let refs: Vec<&PlanStep> = steps.iter().collect();
        assert_eq!(run_end(&refs, 0), 8);
    }

    #[test]
    fn every_step_runs_once_and_the_earliest_failure_is_reported() {
        let steps = files(200);
        let refs: Vec<&PlanStep> = steps.iter().collect();
        let ran = Mutex::new(Vec::new());
        let done = write_all(&refs, |s| {
            ran.lock().unwrap().push(s.id.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(done, (0..200).collect::<Vec<_>>());
        let mut ran = ran.into_inner().unwrap();
        ran.sort();
        assert_eq!(ran, steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>());

        let (id, e) = write_all(&refs, |s| {
            if s.id.ends_with("/050") || s.id.ends_with("/051") {
                Err(std::io::Error::other(format!("broke {}", s.id)))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(id == "file:a/050" || id == "file:a/051", "{id}");
        assert_eq!(e.to_string(), format!("broke {id}"));
    }
}
