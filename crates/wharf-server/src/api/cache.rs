//! What the API keeps in memory between requests, each copy tagged with the store's change
//! counter it was read at ([`wharf_store::ChangeCounters`], bumped by triggers on every
//! write by any process): the token table ([`wharf_app::token::TokenCache`], used by
//! [`super::auth`]) and here the newest pages of the deploy history, as the JSON bytes
//! sent. A request learns the counters once, in [`super::auth::authorize`], through
//! [`CounterReads`]: from a read that started after the request arrived (so it sees every
//! write committed before), shared by every request that waited for it. A page is
//! answered from memory only while the deploy counter is the one the page was read at and
//! no deploy was active then (an active deploy can turn `interrupted` when its process
//! dies, which no write announces: the reaper must look on every read while one runs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use tokio::sync::watch;
use wharf_store::ChangeCounters;

/// The store's change counters, read by one request at a time on behalf of all that are
/// waiting: under load, one query serves every request that arrived while the one before
/// it ran, instead of one query each.
#[derive(Debug)]
pub(crate) struct CounterReads {
    /// How many reads have started; a read's number is this count once it has started.
    started: AtomicU64,
    /// The newest finished read: its number and the counters it found.
    latest: watch::Sender<(u64, ChangeCounters)>,
    /// Held by the request doing a read.
    reading: tokio::sync::Mutex<()>,
}

impl Default for CounterReads {
    fn default() -> CounterReads {
        CounterReads {
            started: AtomicU64::new(0),
            latest: watch::Sender::new((0, ChangeCounters::default())),
            reading: tokio::sync::Mutex::new(()),
        }
    }
}

impl CounterReads {
    /// The counters from a `read` that started after this call did: the newest one if it
    /// qualifies, else the next one — done here if no one else is doing it.
    pub(crate) async fn read<F, E>(&self, read: impl Fn() -> F) -> Result<ChangeCounters, E>
    where
        F: std::future::Future<Output = Result<ChangeCounters, E>>,
    {
        // Reads numbered above `started` now begin after this point.
        let need = self.started.load(Ordering::SeqCst) + 1;
        let mut latest = self.latest.subscribe();
        loop {
            let (n, counters) = *latest.borrow_and_update();
            if n >= need {
                return Ok(counters);
            }
            tokio::select! {
                // Another request's read finished: look again.
                changed = latest.changed() => {
                    if changed.is_err() {
                        // Unreachable while `self` lives (it owns the sender); read alone.
                        return read().await;
                    }
                }
                // No read going (or the one going failed): this request reads.
                _guard = self.reading.lock() => {
                    let (n, counters) = *self.latest.borrow();
                    if n >= need {
                        return Ok(counters);
                    }
                    let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
                    let counters = read().await?;
                    self.latest.send_if_modified(|latest| {
                        let newer = n > latest.0;
                        if newer {
                            *latest = (n, counters);
                        }
                        newer
                    });
                    return Ok(counters);
                }
            }
        }
    }
}

/// The most pages kept: filters × limits a dashboard and a few scripts ask for.
const MAX_PAGES: usize = 64;

/// A history request: environment, state and limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    pub(crate) environment: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) limit: u32,
}

#[derive(Debug, Default)]
struct Pages {
    /// The deploy counter every page below was read at.
    counter: i64,
    by_key: HashMap<PageKey, Bytes>,
}

/// The newest pages of `GET /deploys`, by query.
#[derive(Debug, Default)]
pub(crate) struct DeployPages {
    pages: Mutex<Pages>,
}

impl DeployPages {
    /// The page for `key` read at deploy counter `counter`, if kept.
    pub(crate) fn get(&self, counter: i64, key: &PageKey) -> Option<Bytes> {
        let pages = self.lock();
        (pages.counter == counter).then(|| pages.by_key.get(key).cloned()).flatten()
    }

    /// Keep `body` as the page for `key` at `counter` — the caller's promise: the deploy
    /// table did not change between reading `counter` and reading the page, and no deploy
    /// was active. Pages of an older counter are dropped.
    pub(crate) fn put(&self, counter: i64, key: PageKey, body: Bytes) {
        let mut pages = self.lock();
        if pages.counter != counter {
            if counter < pages.counter {
                return;
            }
            pages.counter = counter;
            pages.by_key.clear();
        }
        if pages.by_key.len() < MAX_PAGES || pages.by_key.contains_key(&key) {
            pages.by_key.insert(key, body);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A read that counts itself and answers `deploys` = its own number, after `pause`.
    async fn counted(reads: &AtomicU64, pause: std::time::Duration) -> Result<ChangeCounters, ()> {
        let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(pause).await;
        Ok(ChangeCounters { tokens: 0, deploys: i64::try_from(n).unwrap() })
    }

    #[tokio::test]
    async fn requests_waiting_share_one_read_that_started_after_they_came() {
        let counters = Arc::new(CounterReads::default());
        let reads = Arc::new(AtomicU64::new(0));
        let pause = std::time::Duration::from_millis(2);
        // The first request reads alone.
        let first = counters.read(|| counted(&reads, pause)).await.unwrap();
        assert_eq!(first.deploys, 1);
        // A request never gets a read that finished before it came: the next one reads.
        assert_eq!(counters.read(|| counted(&reads, pause)).await.unwrap().deploys, 2);
        // Fifty at once: one reads, and each gets a read that started after it came —
        // so at most two reads for all of them (one going when some came, then one more).
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (counters, reads) = (counters.clone(), reads.clone());
                tokio::spawn(async move { counters.read(|| counted(&reads, pause)).await })
            })
            .collect();
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await.unwrap().unwrap().deploys);
        }
        let n_reads = reads.load(Ordering::SeqCst);
        assert!((3..=4).contains(&n_reads), "{n_reads} reads for 50 requests");
        assert!(seen.iter().all(|&n| n >= 3), "a read older than the request: {seen:?}");
    }

    #[tokio::test]
    async fn a_failed_read_leaves_the_next_request_to_read() {
        let counters = CounterReads::default();
        let failed: Result<ChangeCounters, &str> = counters.read(|| async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        let ok =
            counters.read(|| async { Ok::<_, &str>(ChangeCounters { tokens: 7, deploys: 1 }) });
        assert_eq!(ok.await.unwrap().tokens, 7);
    }

    fn key(limit: u32) -> PageKey {
        PageKey { environment: None, state: None, limit }
    }

    #[test]
    fn pages_are_answered_only_at_the_counter_they_were_read_at() {
        let pages = DeployPages::default();
        assert_eq!(pages.get(0, &key(20)), None);
        pages.put(3, key(20), Bytes::from_static(b"[3]"));
        assert_eq!(pages.get(3, &key(20)).as_deref(), Some(&b"[3]"[..]));
        assert_eq!(pages.get(3, &key(100)), None, "another query");
        assert_eq!(pages.get(4, &key(20)), None, "the table changed since");
        // A slower request that read an older counter does not replace newer pages.
        pages.put(2, key(100), Bytes::from_static(b"[2]"));
        assert_eq!(pages.get(2, &key(100)), None);
        assert_eq!(pages.get(3, &key(20)).as_deref(), Some(&b"[3]"[..]));
        // A newer counter drops every older page.
        pages.put(5, key(100), Bytes::from_static(b"[5]"));
        assert_eq!(pages.get(3, &key(20)), None);
        assert_eq!(pages.get(5, &key(100)).as_deref(), Some(&b"[5]"[..]));
    }

    #[test]
    fn at_most_max_pages_are_kept() {
        let pages = DeployPages::default();
        for limit in 1..=u32::try_from(MAX_PAGES).unwrap() + 10 {
            pages.put(1, key(limit), Bytes::from_static(b"[]"));
        }
        assert_eq!(pages.lock().by_key.len(), MAX_PAGES);
        assert!(pages.get(1, &key(1)).is_some());
        assert!(pages.get(1, &key(u32::try_from(MAX_PAGES).unwrap() + 1)).is_none());
    }
}
