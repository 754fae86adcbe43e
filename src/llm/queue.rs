//! Bounded admission for generations: a fixed number run at once, a bounded number wait in
//! first-come order and are told their position, the rest are refused (503 with Retry-After).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

pub struct Queue {
    running: Arc<Semaphore>,
    max_waiting: usize,
    waiting: AtomicUsize,
    next_ticket: AtomicU64,
    /// How many requests have been admitted so far; waiters watch it to learn their position.
    admitted: watch::Sender<u64>,
}

/// A place among the running generations; dropping it frees the place.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("当前咨询人数较多，请稍后再试。")]
pub struct Full;

impl Queue {
    pub fn new(concurrency: usize, max_waiting: usize) -> Queue {
        Queue {
            running: Arc::new(Semaphore::new(concurrency.max(1))),
            max_waiting,
            waiting: AtomicUsize::new(0),
            next_ticket: AtomicU64::new(0),
            admitted: watch::Sender::new(0),
        }
    }

    /// Waits for a slot. `on_position(n)` is called with the number of requests ahead
    /// (0 = next) when waiting starts and whenever it changes.
    pub async fn enter(&self, mut on_position: impl FnMut(usize)) -> Result<Slot, Full> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            self.next_ticket.fetch_add(1, Ordering::SeqCst);
            self.admitted.send_modify(|n| *n += 1);
            return Ok(Slot { _permit: permit });
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Full);
        }
        let ticket = self.next_ticket.fetch_add(1, Ordering::SeqCst);
        let ahead = |admitted: u64| ticket.saturating_sub(admitted) as usize;
        let mut admitted = self.admitted.subscribe();
        let mut last = ahead(*admitted.borrow_and_update());
        on_position(last);
        let acquire = self.running.clone().acquire_owned();
        tokio::pin!(acquire);
        let permit = loop {
            tokio::select! {
                biased;
                p = &mut acquire => break p.expect("the semaphore is never closed"),
                Ok(()) = admitted.changed() => {
                    let now = ahead(*admitted.borrow_and_update());
                    if now != last {
                        last = now;
                        on_position(now);
                    }
                }
            }
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.admitted.send_modify(|n| *n += 1);
        Ok(Slot { _permit: permit })
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_a_fixed_number_queues_some_and_refuses_the_rest() {
        let q = Arc::new(Queue::new(1, 2));
        let first = q.enter(|_| {}).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for i in 0..2 {
            let q = q.clone();
            let tx = tx.clone();
            waiters.push(tokio::spawn(async move {
                let slot = q.enter(|p| tx.send((i, p)).unwrap()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(slot);
            }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(tx);
        assert_eq!(rx.recv().await, Some((0, 0)));
        assert_eq!(rx.recv().await, Some((1, 1)));
        assert_eq!(q.waiting(), 2);
        assert_eq!(
            q.enter(|_| {}).await.err(),
            Some(Full),
            "beyond the queue: refused"
        );
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(rx.recv().await, Some((1, 0)), "the second moved up");
        assert_eq!(q.waiting(), 0);
        assert!(q.enter(|_| {}).await.is_ok());
    }
}
