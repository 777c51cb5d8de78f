//! All terminal output goes through here: human text on stdout, JSON with stable field
//! names when `--json` is given, errors and warnings on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "this module owns the terminal")]

use std::io::{self, Write};

use serde::Serialize;

/// Print one line of human output.
pub(crate) fn line(text: impl std::fmt::Display) {
    let mut stdout = io::stdout().lock();
    // A closed pipe (`wharf nodes | head`) is not an error worth reporting.
    let _ = writeln!(stdout, "{text}");
}

/// Print text exactly as given (e.g. an ASCII-armored key, which ends with a newline).
pub(crate) fn raw(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
}

/// Print a value as pretty JSON followed by a newline.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    let _ = writeln!(stdout);
    Ok(())
}

/// Print rows as aligned columns under a header.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (idx, (cell, width)) in cells.zip(&widths).enumerate() {
            if idx + 1 == widths.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.trim_end().to_owned()
    };
    line(render(&mut header.iter().copied()));
    for row in rows {
        line(render(&mut row.iter().map(String::as_str)));
    }
}

/// Print one value as compact JSON on one line (JSON Lines).
pub(crate) fn json_line<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    let _ = writeln!(stdout);
    Ok(())
}

/// Print one line of human output on stderr (a node's stderr, a failure summary).
pub(crate) fn err_line(text: impl std::fmt::Display) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

/// A progress line for a terminal: redrawn in place on stderr; `None` erases it. Callers
/// only use it when stderr is a terminal.
pub(crate) fn progress(text: Option<&str>) {
    let mut stderr = io::stderr().lock();
    let _ = match text {
        Some(text) => write!(stderr, "\r\x1b[K{text}"),
        None => write!(stderr, "\r\x1b[K"),
    };
    let _ = stderr.flush();
}

/// A progress bar for long work (`repo add`, `publish`): drawn on stderr, and only when the
/// caller enables it (not with `--json`) and stderr is a terminal; otherwise every method
/// does nothing, so pipes, logs and JSON output never see it. The bar is erased when it
/// finishes or is dropped, so the command's own summary line follows on a clean line.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar counting `total` units of `what` (e.g. "packages"), or a spinner when the
    /// total is unknown (0), drawn when `enabled` and stderr is a terminal.
    pub(crate) fn new(total: u64, what: &str, enabled: bool) -> Progress {
        use std::io::IsTerminal as _;
        Progress::drawn_if(total, what, enabled && io::stderr().is_terminal())
    }

    fn drawn_if(total: u64, what: &str, draw: bool) -> Progress {
        if !draw {
            return Progress { bar: None };
        }
        if total == 0 {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            )
            .with_style(
                indicatif::ProgressStyle::with_template("{prefix} {spinner} {elapsed} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            )
            .with_prefix(what.to_owned());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            return Progress { bar: Some(bar) };
        }
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} ({eta} left) {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        )
        .with_style(style)
        .with_prefix(what.to_owned());
        Progress { bar: Some(bar) }
    }

    /// `n` more units done.
    pub(crate) fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Done: erase the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Whether a bar is drawn at all.
    #[cfg(test)]
    pub(crate) fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }
}

impl Drop for Progress {
    /// An error path that never called `finish` leaves no half-drawn bar behind the error.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_and_clear();
        }
    }
}

/// A warning for the operator, on stderr.
pub(crate) fn warn(text: impl std::fmt::Display) {
    eprintln!("warning: {text}");
}

/// The error chain, printed once: `error: outer` then `  caused by: inner` lines.
pub(crate) fn error(err: &anyhow::Error) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Disabled (`--json`), or stderr not a terminal (as under the test runner): nothing is
    /// drawn and every call is a no-op.
    #[test]
    fn progress_is_a_no_op_unless_enabled_on_a_terminal() {
        let disabled = Progress::new(10, "packages", false);
        assert!(!disabled.is_drawn());
        disabled.inc(3);
        disabled.finish();

        let not_a_terminal = Progress::drawn_if(10, "packages", false);
        assert!(!not_a_terminal.is_drawn());
        not_a_terminal.inc(10);
        drop(not_a_terminal);
    }

    #[test]
    fn progress_counts_when_drawn() {
        let progress = Progress::drawn_if(5, "packages", true);
        assert!(progress.is_drawn());
        progress.inc(2);
        let bar = progress.bar.as_ref().unwrap();
        assert_eq!((bar.position(), bar.length()), (2, Some(5)));
        progress.finish();
        assert!(progress.bar.as_ref().unwrap().is_finished());
    }
}
