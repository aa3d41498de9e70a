//! File-system work on a blocking thread with a time limit, so a stalled NFS server turns
//! into an `Err` for Docker instead of a hung daemon. A stuck thread stays stuck in the
//! kernel, but the request it served has been answered.

use std::time::Duration;

use super::error::Error;

pub async fn run_blocking<T: Send + 'static>(
    what: &str,
    limit: Duration,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let task = tokio::task::spawn_blocking(work);
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join_error)) => std::panic::resume_unwind(join_error.into_panic()),
        Err(_) => Err(Error::Timeout {
            what: what.to_string(),
            secs: limit.as_secs(),
        }),
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
}
