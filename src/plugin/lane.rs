//! Bulkheads and deadlines for file-system work. Each file system has its own lane: a
//! bounded number of blocking threads, so calls stuck on one stalled NFS server hold only
//! that lane's threads while every other file system's calls keep running. Every call runs
//! under a time limit, so a stall becomes an `Err` for Docker instead of a hung daemon; a
//! stuck thread stays stuck in the kernel, but the request it served has been answered.
//!
//! Nothing a caller was told failed may take effect later. Work still queued when its time
//! runs out never starts, and work that makes a visible change calls [`Commit::enter`]
//! first: once the caller has given up, `enter` refuses and the work undoes what it built.
//! Once the work is inside its commit (one rename), the caller waits for it instead of
//! reporting a failure that did not happen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::error::Error;

/// Threads per lane: twice the cores, at least four. File-system calls are short, and idle
/// threads beyond that only add wake-ups (docs/benchmarks.md).
pub fn default_width() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    (2 * cores).max(4)
}

/// One file system's share of the blocking threads.
#[derive(Clone)]
pub struct Lane {
    permits: Arc<Semaphore>,
    /// Set when a call timed out, cleared when any call finishes: while set, calls that can
    /// do without this file system (listing, finding a volume) skip it instead of waiting.
    stalled: Arc<AtomicBool>,
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const COMMITTING: u8 = 2;
const ABANDONED: u8 = 3;

/// Decides, between a caller with a deadline and its worker, whether the work's visible
/// change happens: whichever moves first wins.
#[derive(Clone, Default)]
pub struct Commit(Arc<AtomicU8>);

impl Commit {
    /// Called by work right before its one visible change; an `Err` means the caller has
    /// already answered with a timeout, so the work must undo what it built and stop.
    pub fn enter(&self) -> Result<(), Abandoned> {
        self.0
            .compare_exchange(RUNNING, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(|_| Abandoned)
    }

    /// A commit for work that runs without a deadline (the admin CLI, tests).
    pub fn unbounded() -> Self {
        Self(Arc::new(AtomicU8::new(RUNNING)))
    }

    fn start(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// True when the work will now never make its change; false when it already is.
    fn abandon(&self) -> bool {
        [QUEUED, RUNNING].into_iter().any(|from| {
            self.0
                .compare_exchange(from, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }
}

/// The caller gave up before the work reached its commit.
#[derive(Debug)]
pub struct Abandoned;

impl Lane {
    pub fn new(width: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(width.max(1))),
            stalled: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }

    /// Runs `work` on a blocking thread of this lane, answering within `limit`.
    pub async fn run<T: Send + 'static>(
        &self,
        what: &str,
        limit: Duration,
        work: impl FnOnce(&Commit) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let timeout = || Error::Timeout {
            what: what.to_string(),
            secs: limit.as_secs(),
        };
        let deadline = Instant::now() + limit;
        let permit = tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await;
        let Ok(Ok(permit)) = permit else {
            self.stalled.store(true, Ordering::Release);
            return Err(timeout());
        };
        let commit = Commit::default();
        let mut task = tokio::task::spawn_blocking({
            let (commit, stalled) = (commit.clone(), self.stalled.clone());
            move || {
                let _permit = permit;
                let result = commit.start().then(|| work(&commit));
                stalled.store(false, Ordering::Release);
                result
            }
        });
        let joined = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(joined) => joined,
            Err(_) if commit.abandon() => {
                self.stalled.store(true, Ordering::Release);
                return Err(timeout());
            }
            Err(_) => task.await,
        };
        match joined {
            Ok(Some(result)) => result,
            Ok(None) => Err(timeout()),
            Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn a_stalled_operation_becomes_a_timeout_error_and_marks_the_lane() {
        let lane = Lane::new(2);
        let result = lane
            .run("stat of /stalled", SHORT, |_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await;
        let err = result.unwrap_err().to_string();
        assert!(err.contains("stat of /stalled did not finish"), "{err}");
        assert!(lane.is_stalled());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!lane.is_stalled(), "a finished call clears the stall");
    }

    #[tokio::test]
    async fn a_quick_operation_returns_its_value() {
        let value = Lane::new(1)
            .run("x", Duration::from_secs(5), |_| Ok(7))
            .await;
        assert_eq!(value.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_lane_never_holds_up_another() {
        let (stuck, healthy) = (Lane::new(2), Lane::new(2));
        let stuck_calls: Vec<_> = (0..4)
            .map(|_| {
                let stuck = stuck.clone();
                tokio::spawn(async move {
                    stuck
                        .run("stuck", SHORT, |_| {
                            std::thread::sleep(Duration::from_millis(500));
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = std::time::Instant::now();
        healthy.run("healthy", SHORT, |_| Ok(())).await.unwrap();
        assert!(started.elapsed() < SHORT, "{:?}", started.elapsed());
        for call in stuck_calls {
            assert!(call.await.unwrap().is_err());
        }
    }

    #[tokio::test]
    async fn work_that_timed_out_while_queued_never_runs() {
        let lane = Lane::new(1);
        let ran = Arc::new(AtomicBool::new(false));
        let busy = lane.run("busy", Duration::from_secs(5), |_| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        });
        let queued = lane.run("queued", SHORT, {
            let ran = ran.clone();
            move |_| {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            }
        });
        let (busy, queued) = tokio::join!(busy, queued);
        busy.unwrap();
        let err = queued.unwrap_err().to_string();
        assert!(err.contains("queued did not finish"), "{err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!ran.load(Ordering::SeqCst), "abandoned work ran late");
    }

    #[tokio::test]
    async fn work_past_its_deadline_cannot_commit_and_work_inside_its_commit_is_awaited() {
        let lane = Lane::new(2);
        let committed = Arc::new(AtomicBool::new(false));
        let late = lane
            .run("late create", SHORT, {
                let committed = committed.clone();
                move |commit| {
                    std::thread::sleep(Duration::from_millis(200));
                    commit.enter().map_err(|_| Error::Timeout {
                        what: "gave up".into(),
                        secs: 0,
                    })?;
                    committed.store(true, Ordering::SeqCst);
                    Ok(())
                }
            })
            .await;
        assert!(late.is_err());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!committed.load(Ordering::SeqCst), "a late commit happened");

        let slow_commit = lane
            .run("slow rename", SHORT, |commit| {
                commit.enter().unwrap();
                std::thread::sleep(Duration::from_millis(200));
                Ok(5)
            })
            .await;
        assert_eq!(
            slow_commit.unwrap(),
            5,
            "a commit under way is reported as done"
        );
    }
}
