//! What the API keeps in memory between requests, each copy tagged with the store's change
//! counter it was read at ([`wharf_store::ChangeCounters`], bumped by triggers on every
//! write by any process): the token table ([`wharf_app::token::TokenCache`], used by
//! [`super::auth`]) and here the newest pages of the deploy history, as the JSON bytes
//! sent. A request reads the counters once, in [`super::auth::authorize`]; a page is
//! answered from memory only while the deploy counter is the one the page was read at and
//! no deploy was active then (an active deploy can turn `interrupted` when its process
//! dies, which no write announces: the reaper must look on every read while one runs).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;

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
    use super::*;

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
