//! Host key checking against known_hosts: changed keys refused with file and line, unknown
//! keys refused unless accept-new, which records each host once under concurrency.

use wharf_exec::testing::node_names;
use wharf_exec::{Action, HostKeyPolicy, Outcome, Pool, UnreachableReason, run_all};

use crate::fleet::{Fleet, entries, options};

fn host_key_message(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Unreachable(unreachable) if unreachable.reason == UnreachableReason::HostKey => {
            &unreachable.message
        }
        other => panic!("expected a host key refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_naming_the_file_and_line() {
    let names = node_names("h", 2);
    let fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    let impostor = fleet.sshd.dir.path().join("impostor");
    wharf_exec::testing::keygen(&impostor);
    let impostor_key = std::fs::read_to_string(impostor.with_extension("pub")).unwrap();
    let impostor_key: Vec<&str> = impostor_key.split_whitespace().take(2).collect();
    std::fs::write(
        &fleet.known_hosts,
        format!("# fleet keys\n[127.0.0.1]:{} {}\n", fleet.sshd.port, impostor_key.join(" ")),
    )
    .unwrap();
    let results = run_all(
        &Pool::new(),
        fleet.targets(&names),
        Action::Run("touch /tmp/should-not-run".to_owned()),
        &options(),
    )
    .await;
    for result in &results {
        let message = host_key_message(&result.outcome);
        assert!(message.contains("CHANGED"), "{message}");
        assert!(message.contains(&format!("{}:2", fleet.known_hosts.display())), "{message}");
    }
    assert!(!fleet.sshd.log_text().contains("Accepted publickey"), "no login happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_known_hosts_entries_are_understood() {
    let names = node_names("x", 1);
    let fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    let hashed = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&fleet.known_hosts)
        .output()
        .unwrap();
    assert!(hashed.status.success(), "{}", String::from_utf8_lossy(&hashed.stderr));
    assert!(std::fs::read_to_string(&fleet.known_hosts).unwrap().starts_with("|1|"));
    let results =
        run_all(&Pool::new(), fleet.targets(&names), Action::Run("true".to_owned()), &options())
            .await;
    assert_eq!(results[0].outcome, Outcome::Exited(0), "{:?}", results[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_is_refused_unless_accept_new_which_records_it_once() {
    let a_names = node_names("u", 25);
    let b_names = node_names("v", 25);
    let mut all = entries(&a_names, "127.0.0.1");
    all.extend(entries(&b_names, "127.0.0.2"));
    let mut fleet = Fleet::start(&all);
    std::fs::remove_file(&fleet.known_hosts).unwrap();
    let names: Vec<String> = a_names.iter().chain(&b_names).cloned().collect();

    let strict =
        run_all(&Pool::new(), fleet.targets(&names), Action::Run("true".to_owned()), &options())
            .await;
    for result in &strict {
        let message = host_key_message(&result.outcome);
        assert!(message.contains("accept-new"), "{message}");
    }
    assert!(!fleet.known_hosts.exists(), "strict mode records nothing");

    // 50 concurrent connections, two host entries: each recorded exactly once.
    fleet.policy = Some(HostKeyPolicy::AcceptNew);
    let accepted =
        run_all(&Pool::new(), fleet.targets(&names), Action::Run("true".to_owned()), &options())
            .await;
    assert!(accepted.iter().all(|result| result.outcome.is_success()), "{accepted:?}");
    let text = std::fs::read_to_string(&fleet.known_hosts).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    let port = fleet.sshd.port;
    let key = &fleet.sshd.host_public_key;
    assert_eq!(
        lines,
        [format!("[127.0.0.1]:{port} {key}"), format!("[127.0.0.2]:{port} {key}")],
        "{text}"
    );

    // The recorded file now satisfies strict checking.
    fleet.policy = None;
    let again =
        run_all(&Pool::new(), fleet.targets(&names), Action::Run("true".to_owned()), &options())
            .await;
    assert!(again.iter().all(|result| result.outcome.is_success()), "{again:?}");
}
