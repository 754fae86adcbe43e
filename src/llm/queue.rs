//! Bounded admission for generations: a fixed number run at once, a bounded number wait in
//! first-come order and are told their position, the rest are refused (503 with Retry-After).
//!
//! Joining is synchronous, so a request learns it is refused before any response starts;
//! waiting is asynchronous and reports the position whenever it changes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    running: Arc<Semaphore>,
    concurrency: usize,
    max_waiting: usize,
    next_ticket: AtomicU64,
    /// Tickets of the requests waiting, in arrival order.
    waiting: Mutex<BTreeSet<u64>>,
    /// Bumped whenever `waiting` changes, so waiters recompute their position.
    changed: watch::Sender<u64>,
}

/// A place among the running generations; dropping it frees the place.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// A request admitted to the queue: either running at once or waiting its turn. Dropping a
/// waiting ticket (the client went away) leaves the queue.
pub enum Ticket {
    Ready(Slot),
    Waiting(Waiting),
}

pub struct Waiting {
    inner: Arc<Inner>,
    number: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("当前咨询人数较多，请稍后再试。")]
pub struct Full;

impl Queue {
    pub fn new(concurrency: usize, max_waiting: usize) -> Queue {
        let concurrency = concurrency.max(1);
        Queue {
            inner: Arc::new(Inner {
                running: Arc::new(Semaphore::new(concurrency)),
                concurrency,
                max_waiting,
                next_ticket: AtomicU64::new(0),
                waiting: Mutex::new(BTreeSet::new()),
                changed: watch::Sender::new(0),
            }),
        }
    }

    /// A running slot if one is free, else a place in the queue, else `Full`.
    pub fn join(&self) -> Result<Ticket, Full> {
        if let Ok(permit) = self.inner.running.clone().try_acquire_owned() {
            return Ok(Ticket::Ready(Slot { _permit: permit }));
        }
        let mut waiting = self.inner.lock();
        if waiting.len() >= self.inner.max_waiting {
            return Err(Full);
        }
        let number = self.inner.next_ticket.fetch_add(1, Ordering::SeqCst);
        waiting.insert(number);
        drop(waiting);
        self.inner.bump();
        Ok(Ticket::Waiting(Waiting {
            inner: self.inner.clone(),
            number,
        }))
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.inner.lock().len()
    }

    pub fn concurrency(&self) -> usize {
        self.inner.concurrency
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Ticket {
    /// Waits for a slot. `on_position(n)` is called with the number of requests ahead
    /// (0 = next) when waiting starts and whenever it changes; not at all if a slot was free.
    pub async fn wait(self, on_position: impl FnMut(usize)) -> Slot {
        match self {
            Ticket::Ready(slot) => slot,
            Ticket::Waiting(w) => w.wait(on_position).await,
        }
    }
}

impl Waiting {
    fn position(&self) -> usize {
        self.inner.lock().range(..self.number).count()
    }

    async fn wait(self, mut on_position: impl FnMut(usize)) -> Slot {
        let mut changed = self.inner.changed.subscribe();
        changed.borrow_and_update();
        let mut last = self.position();
        on_position(last);
        let acquire = self.inner.running.clone().acquire_owned();
        tokio::pin!(acquire);
        loop {
            tokio::select! {
                biased;
                p = &mut acquire => {
                    let permit = p.expect("the semaphore is never closed");
                    return Slot { _permit: permit };
                    // `self` drops here and leaves the waiting set.
                }
                Ok(()) = changed.changed() => {
                    let now = self.position();
                    if now != last {
                        last = now;
                        on_position(now);
                    }
                }
            }
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.inner.lock().remove(&self.number);
        self.inner.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_a_fixed_number_queues_some_and_refuses_the_rest() {
        let q = Queue::new(1, 2);
        let first = q.join().unwrap().wait(|_| {}).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for i in 0..2 {
            let ticket = q.join().unwrap();
            let tx = tx.clone();
            waiters.push(tokio::spawn(async move {
                let slot = ticket.wait(|p| tx.send((i, p)).unwrap()).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(slot);
            }));
        }
        drop(tx);
        assert_eq!(rx.recv().await, Some((0, 0)));
        assert_eq!(rx.recv().await, Some((1, 1)));
        assert_eq!(q.waiting(), 2);
        assert_eq!(q.join().err(), Some(Full), "beyond the queue: refused");
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(rx.recv().await, Some((1, 0)), "the second moved up");
        assert_eq!(rx.recv().await, None);
        assert_eq!(q.waiting(), 0);
        assert!(matches!(q.join(), Ok(Ticket::Ready(_))));
    }

    #[tokio::test]
    async fn a_request_that_leaves_the_queue_moves_those_behind_it_up() {
        let q = Queue::new(1, 3);
        let _running = q.join().unwrap().wait(|_| {}).await;
        let leaving = q.join().unwrap();
        let staying = q.join().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiter = tokio::spawn(async move {
            staying.wait(|p| tx.send(p).unwrap()).await;
        });
        assert_eq!(rx.recv().await, Some(1));
        drop(leaving);
        assert_eq!(rx.recv().await, Some(0));
        assert_eq!(q.waiting(), 1);
        waiter.abort();
    }
}
