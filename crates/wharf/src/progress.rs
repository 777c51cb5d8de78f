//! [`TerminalProgress`]: the application layer's progress reports (`wharf_app::progress`)
//! drawn as [`output::Progress`] bars — one per phase, only when stderr is a terminal and
//! the output is not `--json`, so pipes, scripts and JSON never see them.

use std::sync::Mutex;

use crate::output;

/// Draws a flow's progress on a terminal (see the module docs).
pub(crate) struct TerminalProgress {
    wanted: bool,
    bar: Mutex<Option<output::Progress>>,
}

impl TerminalProgress {
    /// `wanted`: false for `--json`. Drawing also needs stderr to be a terminal.
    pub(crate) fn new(wanted: bool) -> TerminalProgress {
        TerminalProgress { wanted, bar: Mutex::new(None) }
    }

    /// Erase the bar (before the result is printed).
    pub(crate) fn clear(&self) {
        if let Some(bar) = self.lock().take() {
            bar.finish();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<output::Progress>> {
        self.bar.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl wharf_app::progress::Progress for TerminalProgress {
    fn phase(&self, what: &str, total: u64) {
        let mut bar = self.lock();
        if let Some(previous) = bar.take() {
            previous.finish();
        }
        *bar = Some(output::Progress::new(total, &format!("wharf: {what}"), self.wanted));
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &*self.lock() {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use wharf_app::progress::Progress as _;

    use super::*;

    #[test]
    fn json_output_never_draws() {
        let progress = TerminalProgress::new(false);
        progress.phase("reading packages", 10);
        progress.advance(3);
        assert!(progress.lock().as_ref().is_some_and(|bar| !bar.is_drawn()));
        progress.clear();
        assert!(progress.lock().is_none());
    }
}
