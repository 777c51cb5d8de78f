//! [`TerminalProgress`]: the application layer's progress reports, drawn on stderr —
//! only when stderr is a terminal and the output is not `--json`, so pipes, scripts and
//! JSON never see it.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::output;

/// Draws a flow's progress on a terminal (see the module docs).
pub(crate) struct TerminalProgress {
    enabled: bool,
    state: Mutex<State>,
}

struct State {
    what: String,
    total: u64,
    done: u64,
    last_draw: Option<Instant>,
}

impl TerminalProgress {
    /// `wanted`: false for `--json`. Drawing also needs stderr to be a terminal.
    pub(crate) fn new(wanted: bool) -> TerminalProgress {
        TerminalProgress {
            enabled: wanted && std::io::stderr().is_terminal(),
            state: Mutex::new(State { what: String::new(), total: 0, done: 0, last_draw: None }),
        }
    }

    /// Erase the progress line (before the result is printed).
    pub(crate) fn clear(&self) {
        if self.enabled {
            output::progress(None);
        }
    }

    fn draw(&self, state: &mut State, force: bool) {
        let due = state.last_draw.is_none_or(|at| at.elapsed() > Duration::from_millis(100));
        if !self.enabled || !(due || force) {
            return;
        }
        state.last_draw = Some(Instant::now());
        output::progress(Some(&line(&state.what, state.done, state.total)));
    }
}

/// `wharf: reading packages 1200/20000 (6%)`, or without a total `wharf: writing indices…`.
fn line(what: &str, done: u64, total: u64) -> String {
    if total == 0 {
        return format!("wharf: {what}…");
    }
    let percent = done.saturating_mul(100) / total;
    format!("wharf: {what} {done}/{total} ({percent}%)")
}

impl wharf_app::progress::Progress for TerminalProgress {
    fn phase(&self, what: &str, total: u64) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *state = State { what: what.to_owned(), total, done: 0, last_draw: None };
        self.draw(&mut state, true);
    }

    fn advance(&self, n: u64) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.done = state.done.saturating_add(n);
        self.draw(&mut state, false);
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
    fn lines_say_how_far() {
        assert_eq!(
            line("reading packages", 1200, 20_000),
            "wharf: reading packages 1200/20000 (6%)"
        );
        assert_eq!(line("writing indices", 0, 0), "wharf: writing indices…");
    }

    #[test]
    fn json_output_never_draws() {
        let progress = TerminalProgress::new(false);
        assert!(!progress.enabled);
        progress.phase("reading packages", 10);
        progress.advance(3);
        let state = progress.state.lock().unwrap();
        assert_eq!((state.done, state.last_draw), (3, None));
    }
}
