//! Per-node output capture with a byte limit, streaming complete lines as [`Event`]s.
//!
//! **Invariant:** at most `limit` bytes of output (stdout and stderr together) are kept per
//! node; everything after is only counted. Lines are streamed out of the kept buffer itself,
//! so streaming costs no second copy.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::event::{Event, OutputStream};

pub(crate) struct Capture {
    node: Arc<str>,
    limit: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Where the next unsent line starts, per stream.
    stdout_sent: usize,
    stderr_sent: usize,
    truncated: u64,
    events: Option<mpsc::Sender<Event>>,
}

impl Capture {
    pub(crate) fn new(
        node: Arc<str>,
        limit: usize,
        events: Option<mpsc::Sender<Event>>,
    ) -> Capture {
        Capture {
            node,
            limit,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_sent: 0,
            stderr_sent: 0,
            truncated: 0,
            events,
        }
    }

    pub(crate) async fn push(&mut self, stream: OutputStream, data: &[u8]) {
        let room = self.limit.saturating_sub(self.stdout.len() + self.stderr.len());
        let kept = data.len().min(room);
        self.truncated += (data.len() - kept) as u64;
        if kept == 0 {
            return;
        }
        match stream {
            OutputStream::Stdout => self.stdout.extend_from_slice(&data[..kept]),
            OutputStream::Stderr => self.stderr.extend_from_slice(&data[..kept]),
        }
        self.send_lines(stream, false).await;
    }

    async fn send_lines(&mut self, stream: OutputStream, flush: bool) {
        let Some(events) = &self.events else { return };
        let (buffer, sent) = match stream {
            OutputStream::Stdout => (&self.stdout, &mut self.stdout_sent),
            OutputStream::Stderr => (&self.stderr, &mut self.stderr_sent),
        };
        while let Some(pos) = buffer[*sent..].iter().position(|&b| b == b'\n') {
            let line = buffer[*sent..*sent + pos].to_vec();
            *sent += pos + 1;
            let _ = events.send(Event::Line { node: self.node.clone(), stream, line }).await;
        }
        if flush && *sent < buffer.len() {
            let line = buffer[*sent..].to_vec();
            *sent = buffer.len();
            let _ = events.send(Event::Line { node: self.node.clone(), stream, line }).await;
        }
    }

    /// Send any last partial lines and hand back (stdout, stderr, truncated bytes).
    pub(crate) async fn finish(mut self) -> (Vec<u8>, Vec<u8>, u64) {
        self.send_lines(OutputStream::Stdout, true).await;
        self.send_lines(OutputStream::Stderr, true).await;
        (self.stdout, self.stderr, self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_limit_counts_rest_and_streams_lines() {
        let (sender, mut receiver) = mpsc::channel(16);
        let mut capture = Capture::new(Arc::from("n1"), 10, Some(sender));
        capture.push(OutputStream::Stdout, b"ab\ncd").await;
        capture.push(OutputStream::Stderr, b"e\n").await;
        capture.push(OutputStream::Stdout, b"fghij\nrest").await;
        let (stdout, stderr, truncated) = capture.finish().await;
        assert_eq!(
            (stdout.as_slice(), stderr.as_slice(), truncated),
            (&b"ab\ncdfgh"[..], &b"e\n"[..], 7)
        );
        let mut lines = Vec::new();
        while let Ok(Event::Line { line, stream, .. }) = receiver.try_recv() {
            lines.push((stream, String::from_utf8(line).unwrap()));
        }
        assert_eq!(
            lines,
            [
                (OutputStream::Stdout, "ab".to_owned()),
                (OutputStream::Stderr, "e".to_owned()),
                (OutputStream::Stdout, "cdfgh".to_owned()),
            ]
        );
    }
}
