//! wharf-store's integration tests: one binary. The conformance suite in [`conformance`]
//! runs against SQLite in a temp dir ([`sqlite`]) and against a real PostgreSQL server the
//! test starts itself ([`postgres`]); SQLite-only behaviour (two processes writing one
//! file) lives in [`sqlite`].

mod conformance;
mod deploy;
mod guard;
mod outbox;
mod postgres;
mod sqlite;
mod token;
