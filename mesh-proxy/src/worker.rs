//! Worker threads, as Envoy's: each runs its own single-threaded runtime with its own
//! listener sockets (SO_REUSEPORT: the kernel spreads new connections over them) and
//! its own upstream connection pools ([`PerWorker`]), so that a connection and every
//! upstream request it makes stay on one thread. On a work-stealing runtime a third of
//! the proxy's CPU went to threads waking each other (perf, docs/proxy.md).
//!
//! The xDS client, the admin and health endpoints and DNS run on the main thread's
//! runtime; the workers only read the snapshots it publishes.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use crate::proxy::{Shared, listeners};

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// How many workers run (1 until [`start`]).
static COUNT: AtomicUsize = AtomicUsize::new(1);

/// The index of the worker this thread is (0 on any other thread).
pub fn current() -> usize {
    INDEX.with(Cell::get)
}

/// A value per worker, made by each worker the first time it asks: connection pools,
/// whose connections are tasks of the runtime that opened them.
#[derive(Debug)]
pub struct PerWorker<T> {
    slots: Box<[OnceLock<T>]>,
}

impl<T> Default for PerWorker<T> {
    fn default() -> Self {
        PerWorker::with_slots(COUNT.load(Ordering::Relaxed))
    }
}

impl<T> PerWorker<T> {
    fn with_slots(count: usize) -> Self {
        PerWorker {
            slots: (0..count.max(1)).map(|_| OnceLock::new()).collect(),
        }
    }

    /// This worker's value, made with `init` if it has none yet.
    pub fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        // Made before `start` raised the count: such values are shared by the
        // workers beyond the first slot rather than refused.
        let i = current().min(self.slots.len() - 1);
        self.slots[i].get_or_init(init)
    }
}

/// Starts `count` worker threads serving the listeners of the snapshots in `shared`.
/// The receiver hears of any worker that stops (its runtime failed, or a panic
/// escaped it): the proxy cannot serve as configured any more.
pub fn start(count: usize, shared: &Shared) -> std::io::Result<mpsc::UnboundedReceiver<String>> {
    let count = count.max(1);
    COUNT.store(count, Ordering::Relaxed);
    let (stopped_tx, stopped) = mpsc::unbounded_channel();
    for index in 0..count {
        let shared = shared.clone();
        let stopped_tx = stopped_tx.clone();
        std::thread::Builder::new()
            .name(format!("mesh-worker-{index}"))
            .spawn(move || {
                INDEX.with(|i| i.set(index));
                // Told on the way out, a panic's unwinding included.
                let mut stopped = Stopped {
                    tx: stopped_tx,
                    why: format!("worker {index} panicked"),
                };
                stopped.why = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => {
                        runtime.block_on(listeners::run(shared));
                        format!("worker {index}: its listeners stopped")
                    }
                    Err(e) => format!("worker {index}: cannot start its runtime: {e}"),
                };
            })?;
    }
    Ok(stopped)
}

/// Says why its worker stopped when dropped.
struct Stopped {
    tx: mpsc::UnboundedSender<String>,
    why: String,
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.tx.send(std::mem::take(&mut self.why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_worker_makes_and_keeps_its_own_value() {
        let pools = PerWorker::with_slots(2);
        let made = AtomicUsize::new(0);
        let on_worker = |index: usize| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    INDEX.with(|i| i.set(index));
                    *pools.get_or_init(|| made.fetch_add(1, Ordering::Relaxed))
                })
                .join()
                .expect("worker thread")
            })
        };
        let first = on_worker(0);
        let second = on_worker(1);
        assert_ne!(first, second, "workers do not share a pool");
        assert_eq!(on_worker(1), second, "a worker keeps its pool");
        // A thread beyond the slots (made before the workers started) still gets one.
        assert_eq!(on_worker(5), second);
        assert_eq!(made.load(Ordering::Relaxed), 2);
    }
}
