//! Limits: a command outliving the command timeout is killed and reported; 50 MB of output
//! from one node is capped without growing memory; a dead connection is replaced.

use std::time::{Duration, Instant};

use wharf_exec::testing::{TEST_USER, node_names};
use wharf_exec::{Action, ExecOptions, FanoutOptions, Outcome, Pool, run_all};

use crate::fleet::{Fleet, entries, options};

fn remote_processes(pattern: &str) -> usize {
    let output = std::process::Command::new("pgrep")
        .args(["-u", TEST_USER, "-f", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_outliving_the_timeout_is_killed_and_reported() {
    let names = node_names("t", 3);
    let fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    let marker = format!("sleep {}", 4000 + fleet.sshd.port % 1000);
    let options = FanoutOptions {
        exec: ExecOptions { command_timeout: Some(Duration::from_secs(1)), ..options().exec },
        ..options()
    };
    let started = Instant::now();
    let command = format!("echo started; {marker}; echo never");
    let results =
        run_all(&Pool::new(), fleet.targets(&names), Action::Run(command), &options).await;
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    for result in &results {
        assert_eq!(result.outcome, Outcome::TimedOut(Duration::from_secs(1)), "{result:?}");
        assert_eq!(result.stdout, b"started\n");
        assert!(result.outcome.describe().contains("timed out"));
    }
    // sshd delivers the KILL to the command's process group: the sleeps go away.
    let deadline = Instant::now() + Duration::from_secs(10);
    while remote_processes(&marker) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(remote_processes(&marker), 0, "remote `{marker}` still running");
}

/// Peak resident memory of this test process, from /proc.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_of_output_are_capped_and_counted() {
    let fleet = Fleet::start(&[("o001".to_owned(), "127.0.0.1"), ("o002".to_owned(), "127.0.0.2")]);
    let names = vec!["o001".to_owned(), "o002".to_owned()];
    let cap = 1024 * 1024;
    let total: u64 = 50 * 1024 * 1024;
    let options =
        FanoutOptions { exec: ExecOptions { output_limit: cap, ..options().exec }, ..options() };
    let before = peak_rss_kib();
    // o001 (reached at 127.0.0.1) prints 50 MB; o002 prints a little, to stderr too.
    let command = format!(
        r#"case "$SSH_CONNECTION" in *" 127.0.0.2 "*) echo small; echo warn >&2;; *) head -c {total} /dev/zero;; esac"#
    );
    let results =
        run_all(&Pool::new(), fleet.targets(&names), Action::Run(command), &options).await;
    let grown_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    let big = &results[0];
    assert_eq!(big.outcome, Outcome::Exited(0), "{:?}", big.outcome);
    assert_eq!(big.stdout.len(), cap, "kept exactly the cap");
    assert_eq!(big.truncated_bytes, total - cap as u64, "counted the rest");
    let small = &results[1];
    assert_eq!(
        (small.stdout.as_slice(), small.stderr.as_slice(), small.truncated_bytes),
        (&b"small\n"[..], &b"warn\n"[..], 0)
    );
    assert!(grown_mib < 30, "peak memory grew by {grown_mib} MiB for 50 MiB of output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_that_died_is_replaced() {
    let names = node_names("r", 1);
    let fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    let pool = Pool::new();
    let targets = fleet.targets(&names);
    let exec = options().exec;
    let first = pool.exec(&targets[0], "echo one", &exec).await;
    assert_eq!(first.outcome, Outcome::Exited(0));
    // Kill this user's sshd session processes: the pooled connection dies under us.
    let _ = std::process::Command::new("pkill")
        .args(["-KILL", "-u", TEST_USER, "-f", "sshd: wharftest"])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut second = pool.exec(&targets[0], "echo two", &exec).await;
    while !second.outcome.is_success() && Instant::now() < deadline {
        second = pool.exec(&targets[0], "echo two", &exec).await;
    }
    assert_eq!((second.outcome, second.stdout), (Outcome::Exited(0), b"two\n".to_vec()));
}
