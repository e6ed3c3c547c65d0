//! Graceful drain, as Envoy's and Istio's: once signaled (`POST /drain_listeners`, or
//! SIGTERM), listeners stop accepting, HTTP connections are asked to finish (GOAWAY,
//! `Connection: close`) and the process waits for the open connections, up to Istio's
//! `terminationDrainDuration`, before it exits.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// The drain state shared by the listeners, their connections and the admin
/// interface. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    signaled: watch::Sender<bool>,
    /// Connections holding a [`ConnectionGuard`].
    active: AtomicUsize,
    /// Woken when `active` drops to zero.
    idle: Notify,
}

/// Counts one connection as in flight until dropped.
#[derive(Debug)]
#[must_use = "the connection counts as in flight only while the guard lives"]
pub struct ConnectionGuard {
    inner: Arc<Inner>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            inner: Arc::new(Inner {
                signaled: watch::Sender::new(false),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }
}

impl Drain {
    pub fn new() -> Drain {
        Drain::default()
    }

    /// Starts draining; signaling again changes nothing.
    pub fn signal(&self) {
        self.inner
            .signaled
            .send_if_modified(|s| !std::mem::replace(s, true));
    }

    pub fn is_signaled(&self) -> bool {
        *self.inner.signaled.borrow()
    }

    /// Resolves once the drain is signaled (at once if it already is). Owns what it
    /// needs, so that it can sit in a `select!` of a spawned task.
    pub fn signaled(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut signaled = self.inner.signaled.subscribe();
        async move {
            // The sender lives as long as `inner`, which this receiver does not keep:
            // when every `Drain` is gone there is nothing left to drain either.
            let _ = signaled.wait_for(|s| *s).await;
        }
    }

    /// Counts a connection as in flight until the guard is dropped.
    pub fn connection(&self) -> ConnectionGuard {
        self.inner.active.fetch_add(1, Ordering::AcqRel);
        ConnectionGuard {
            inner: self.inner.clone(),
        }
    }

    /// Connections currently holding a guard.
    pub fn active_connections(&self) -> usize {
        self.inner.active.load(Ordering::Acquire)
    }

    /// Resolves when no connection holds a guard.
    pub async fn idle(&self) {
        loop {
            let mut notified = pin!(self.inner.idle.notified());
            // Registered before the check, so that a drop to zero in between wakes us.
            notified.as_mut().enable();
            if self.active_connections() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Signals the drain and waits up to `deadline` for the open connections to
    /// finish; returns how many were still open.
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.signal();
        let _ = tokio::time::timeout(deadline, self.idle()).await;
        self.active_connections()
    }

    /// Runs `connection` (a hyper connection future) to its end; when the drain is
    /// signaled first, calls `shutdown` on it (hyper's `graceful_shutdown`: GOAWAY for
    /// HTTP/2, `Connection: close` after the in-flight HTTP/1 request) and lets it
    /// finish.
    pub async fn graceful<C>(&self, connection: C, shutdown: impl FnOnce(Pin<&mut C>)) -> C::Output
    where
        C: Future,
    {
        let mut connection = pin!(connection);
        tokio::select! {
            output = connection.as_mut() => output,
            () = self.signaled() => {
                shutdown(connection.as_mut());
                connection.await
            }
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.inner.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests;
