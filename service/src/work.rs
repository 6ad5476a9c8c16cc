//! CPU-heavy request work, off the async workers, bounded and cancellable.
//!
//! A forecast that misses the answer cache, a risk assessment or a large body's parsing runs in a
//! *compute slot*: a place under a semaphore of `compute_slots` permits, on tokio's blocking pool.
//! The async workers only accept connections and move bytes, so a few heavy requests cannot stall
//! `/health/live` or the cached answers behind them.
//!
//! A request that times out (or whose client goes away) drops the future awaiting its work; a
//! guard then raises the job's [`Cancel`] flag, and the job stops at its next check: between
//! series, budget lines and registry files, the loops whose length a caller chooses. Until it has
//! stopped, the job keeps its compute slot and the request's admission permit, so orphaned work
//! can never pile up beyond the configured bounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus::IntCounter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// A job's cancellation flag, raised when the request awaiting it is dropped.
#[derive(Clone, Debug)]
pub struct Cancel {
    raised: Arc<AtomicBool>,
    counted: Arc<AtomicBool>,
    stopped: IntCounter,
}

impl Cancel {
    fn new(stopped: IntCounter) -> Self {
        Cancel {
            raised: Arc::new(AtomicBool::new(false)),
            counted: Arc::new(AtomicBool::new(false)),
            stopped,
        }
    }

    fn raise(&self) {
        self.raised.store(true, Ordering::Release);
    }

    /// Whether the job should stop.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// `Err` once the request is gone: the job returns it and stops. Counted once per job in
    /// `civicast_cancelled_work_total`.
    pub fn check(&self) -> Result<(), ApiError> {
        if !self.is_raised() {
            return Ok(());
        }
        if !self.counted.swap(true, Ordering::AcqRel) {
            self.stopped.inc();
        }
        Err(ApiError::Cancelled)
    }
}

/// Raises the flag when dropped unless disarmed: the awaiting future was dropped mid-wait.
struct RaiseOnDrop(Option<Cancel>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = self.0.take() {
            cancel.raise();
        }
    }
}

/// The compute slots.
#[derive(Debug)]
pub struct Pool {
    slots: Arc<Semaphore>,
    size: usize,
    stopped: IntCounter,
}

/// A request's place under `max_concurrent_requests`, shared by the middleware that took it and
/// the work the request started, so it is given back only when both are done.
#[derive(Clone, Debug)]
pub struct Admission(pub Arc<OwnedSemaphorePermit>);

impl Pool {
    /// `size` slots; jobs that stop on cancellation are counted in `stopped`.
    pub fn new(size: usize, stopped: IntCounter) -> Self {
        Pool {
            slots: Arc::new(Semaphore::new(size)),
            size,
            stopped,
        }
    }

    /// Slots not in use now.
    pub fn idle(&self) -> usize {
        self.slots.available_permits()
    }

    /// Slots in all.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `job` in a compute slot, waiting for one, and returns what it returns. If the future
    /// is dropped (a timeout), the job's [`Cancel`] is raised; the job keeps its slot and
    /// `admission` until it returns.
    pub async fn run<T, F>(&self, admission: Option<Admission>, job: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Cancel) -> Result<T, ApiError> + Send + 'static,
    {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("the compute pool is closed".into()))?;
        let cancel = Cancel::new(self.stopped.clone());
        let mut guard = RaiseOnDrop(Some(cancel.clone()));
        let handle = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _admission = admission;
            job(&cancel)
        });
        let outcome = handle.await;
        guard.0 = None;
        outcome.map_err(|e| ApiError::Internal(format!("compute job: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pool(size: usize) -> (Pool, IntCounter) {
        let stopped = IntCounter::new("stopped", "jobs stopped").unwrap();
        (Pool::new(size, stopped.clone()), stopped)
    }

    #[tokio::test]
    async fn a_job_whose_request_is_dropped_stops_and_gives_its_slot_back_only_then() {
        let (pool, stopped) = pool(1);
        let semaphore = Arc::new(Semaphore::new(1));
        let admission = Admission(Arc::new(semaphore.clone().try_acquire_owned().unwrap()));
        let (release, released) = std::sync::mpsc::channel::<()>();
        // The job runs until it is cancelled, and then waits for the test's word before it
        // returns, so the test can look at the slot while the job has seen the flag but not ended.
        let run = pool.run(Some(admission), move |cancel| {
            while cancel.check().is_ok() {
                std::thread::yield_now();
            }
            let _ = released.recv();
            cancel.check()
        });
        // The job cannot end by itself, so only the timeout can end this wait.
        let timed_out = tokio::time::timeout(Duration::from_millis(20), run).await;
        assert!(timed_out.is_err());
        while stopped.get() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(stopped.get(), 1, "counted once, however often it checks");
        assert_eq!(pool.idle(), 0, "the stopping job still holds its slot");
        assert_eq!(semaphore.available_permits(), 0, "and the request's permit");
        release.send(()).unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(60), async {
            while pool.idle() == 0 || semaphore.available_permits() == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert_eq!(pool.idle(), 1);
        assert_eq!(semaphore.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_job_that_finishes_is_not_counted_as_stopped() {
        let (pool, stopped) = pool(2);
        let value = pool
            .run(None, |cancel| {
                cancel.check()?;
                Ok(41 + 1)
            })
            .await
            .unwrap();
        assert_eq!(value, 42);
        assert_eq!(stopped.get(), 0);
        assert_eq!(pool.idle(), 2);
    }
}
