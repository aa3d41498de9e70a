//! File-system work on a blocking thread with a time limit, so a stalled NFS server turns
//! into an `Err` for Docker instead of a hung daemon. A stuck thread stays stuck in the
//! kernel, but the request it served has been answered.
//!
//! Work still waiting for a thread when its time runs out is dropped unrun: Docker has been
//! told the call failed, so it must not take effect later (a Mount that wrote a lease nobody
//! renews would block Remove on other nodes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::error::Error;

pub async fn run_blocking<T: Send + 'static>(
    what: &str,
    limit: Duration,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let timeout = || Error::Timeout {
        what: what.to_string(),
        secs: limit.as_secs(),
    };
    let abandoned = Arc::new(AtomicBool::new(false));
    let task = tokio::task::spawn_blocking({
        let abandoned = abandoned.clone();
        move || (!abandoned.load(Ordering::Acquire)).then(work)
    });
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(Some(result))) => result,
        Ok(Ok(None)) => Err(timeout()),
        Ok(Err(join_error)) => std::panic::resume_unwind(join_error.into_panic()),
        Err(_) => {
            abandoned.store(true, Ordering::Release);
            Err(timeout())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stalled_operation_becomes_a_timeout_error() {
        let result = run_blocking("stat of /stalled", Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        })
        .await;
        let err = result.unwrap_err().to_string();
        assert!(err.contains("stat of /stalled did not finish"), "{err}");
    }

    #[tokio::test]
    async fn a_quick_operation_returns_its_value() {
        let value = run_blocking("x", Duration::from_secs(5), || Ok(7)).await;
        assert_eq!(value.unwrap(), 7);
    }

    #[test]
    fn work_that_timed_out_while_queued_never_runs() {
        let one_thread = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        one_thread.block_on(async {
            let busy =
                tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300)));
            let ran = ran.clone();
            let queued = run_blocking("queued", Duration::from_millis(50), move || {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            });
            let err = queued.await.unwrap_err().to_string();
            assert!(err.contains("queued did not finish"), "{err}");
            busy.await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        });
        assert!(!ran.load(Ordering::SeqCst), "abandoned work ran late");
    }
}
