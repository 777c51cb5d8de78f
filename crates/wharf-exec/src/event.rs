//! What a run reports as it goes: [`Event`]s (output lines and finished nodes), produced
//! by the pool's capture and the fan-out engine, consumed by front ends.

use std::sync::Arc;

use crate::outcome::NodeResult;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub enum Event {
    /// One complete line (without its `\n`; a last line may lack one) of kept output.
    Line { node: Arc<str>, stream: OutputStream, line: Vec<u8> },
    /// A node is done; its full result.
    Finished(NodeResult),
}
