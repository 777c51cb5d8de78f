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
