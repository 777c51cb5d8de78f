//! [`Progress`]: how a long flow (adding thousands of packages, a publish) tells a front
//! end how far it is. The CLI draws a bar on a terminal; the server may stream it; tests
//! and scripts pass [`Silent`].

/// Receives a flow's progress. Every method has a do-nothing default.
pub trait Progress: Send + Sync {
    /// A new phase of work: `total` units (files, steps), or 0 when unknown.
    fn phase(&self, what: &str, total: u64) {
        let _ = (what, total);
    }

    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64) {
        let _ = n;
    }

    /// The flow is over (successfully or not).
    fn finish(&self) {}
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
