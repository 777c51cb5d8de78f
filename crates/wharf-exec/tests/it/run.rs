//! Running commands over SSH: many nodes, mixed results, connection reuse, ProxyJump,
//! agent authentication and SFTP copy.

use std::process::Command;

use wharf_exec::gather::{failures, gather};
use wharf_exec::testing::{TEST_USER, node_names};
use wharf_exec::{Action, Event, Outcome, OutputStream, Pool, fan_out, run_all};

use crate::fleet::{Fleet, entries, logins, options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_on_200_nodes_with_connection_reuse() {
    let names = node_names("n", 200);
    let fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    let pool = Pool::new();
    let action = Action::Run("echo hello; id -un".to_owned());
    let results = run_all(&pool, fleet.targets(&names), action.clone(), &options()).await;
    assert_eq!(results.len(), 200);
    for result in &results {
        assert_eq!(result.outcome, Outcome::Exited(0), "{}: {:?}", result.node, result.outcome);
        assert_eq!(String::from_utf8_lossy(&result.stdout), format!("hello\n{TEST_USER}\n"));
        assert!(result.finished >= result.started);
    }
    assert_eq!(results[0].node, "n001", "results keep the order of the targets");
    assert_eq!(pool.open_connections(), 200);
    // A second command on the same pool opens no new connection.
    let again = run_all(&pool, fleet.targets(&names), action, &options()).await;
    assert!(again.iter().all(|result| result.outcome.is_success()));
    assert_eq!(logins(&fleet.sshd), 200, "connections are reused");
    pool.close().await;
    assert_eq!(pool.open_connections(), 0);
    // A one-shot run closes each connection as its node finishes.
    let one_shot = wharf_exec::FanoutOptions { keep_connections: false, ..options() };
    let results =
        run_all(&pool, fleet.targets(&names[..10]), Action::Run("true".to_owned()), &one_shot)
            .await;
    assert!(results.iter().all(|result| result.outcome.is_success()));
    assert_eq!(pool.open_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_exit_codes_are_grouped() {
    // a* reach sshd at 127.0.0.1, b* at 127.0.0.2: $SSH_CONNECTION tells them apart.
    let a_names = node_names("a", 6);
    let b_names = node_names("b", 3);
    let mut all = entries(&a_names, "127.0.0.1");
    all.extend(entries(&b_names, "127.0.0.2"));
    all.push(("closed".to_owned(), "127.0.0.1"));
    let mut fleet = Fleet::start(&all);
    // `closed` points at a port nothing listens on.
    let closed_port =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    fleet.config_text = fleet.config_text.replace(
        "Host closed\n  HostName 127.0.0.1\n",
        &format!("Host closed\n  HostName 127.0.0.1\n  Port {closed_port}\n"),
    );
    let names: Vec<String> =
        a_names.iter().chain(&b_names).cloned().chain(["closed".to_owned()]).collect();
    let command = r#"case "$SSH_CONNECTION" in *" 127.0.0.2 "*) echo two; exit 3;; esac; echo one"#;
    let results =
        run_all(&Pool::new(), fleet.targets(&names), Action::Run(command.to_owned()), &options())
            .await;
    let groups = gather(&results, false);
    let summary: Vec<_> = groups
        .iter()
        .map(|group| {
            (
                group.nodes.len(),
                String::from_utf8_lossy(group.stdout).into_owned(),
                group.outcome.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(6, "one\n".to_owned(), Outcome::Exited(0)), (3, "two\n".to_owned(), Outcome::Exited(3))]
    );
    let failures = failures(&results);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0].0, ["b001", "b002", "b003"]);
    assert_eq!(failures[0].1, "exited with exit code 3");
    assert_eq!(failures[1].0, ["closed"]);
    assert!(failures[1].1.starts_with("unreachable (refused)"), "{}", failures[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_stream_as_they_arrive() {
    let names = node_names("s", 3);
    let fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    let (sender, mut receiver) = tokio::sync::mpsc::channel(64);
    let options = wharf_exec::FanoutOptions { stream_lines: true, ..options() };
    let pool = Pool::new();
    let run = fan_out(
        &pool,
        fleet.targets(&names),
        Action::Run("echo out; echo err >&2; printf tail".to_owned()),
        &options,
        sender,
    );
    let collect = async {
        let mut events = Vec::new();
        while let Some(event) = receiver.recv().await {
            events.push(event);
        }
        events
    };
    let ((), events) = tokio::join!(run, collect);
    let mut s001_lines = Vec::new();
    let mut finished = 0;
    for event in &events {
        match event {
            Event::Line { node, stream, line } if &**node == "s001" => {
                s001_lines.push((*stream, String::from_utf8_lossy(line).into_owned()));
            }
            Event::Finished(_) => finished += 1,
            Event::Line { .. } => {}
        }
    }
    assert_eq!(finished, 3);
    s001_lines.sort_by_key(|(stream, _)| *stream == OutputStream::Stderr);
    assert_eq!(
        s001_lines,
        [
            (OutputStream::Stdout, "out".to_owned()),
            (OutputStream::Stdout, "tail".to_owned()),
            (OutputStream::Stderr, "err".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_an_auth_failure() {
    let names = node_names("k", 2);
    let mut fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    let other_key = fleet.sshd.dir.path().join("not_authorized");
    wharf_exec::testing::keygen(&other_key);
    fleet.config_text = fleet
        .config_text
        .replace(&fleet.sshd.client_key.display().to_string(), &other_key.display().to_string());
    let results =
        run_all(&Pool::new(), fleet.targets(&names), Action::Run("true".to_owned()), &options())
            .await;
    for result in &results {
        let Outcome::Unreachable(unreachable) = &result.outcome else {
            panic!("{:?}", result.outcome)
        };
        assert_eq!(unreachable.reason, wharf_exec::UnreachableReason::Auth, "{unreachable:?}");
        assert!(unreachable.message.contains(TEST_USER), "{}", unreachable.message);
        assert!(unreachable.message.contains("not_authorized"), "{}", unreachable.message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_jump_reaches_a_host_through_another() {
    let mut fleet =
        Fleet::start(&[("jump".to_owned(), "127.0.0.1"), ("inner".to_owned(), "127.0.0.2")]);
    fleet.config_text = fleet.config_text.replace("Host inner\n", "Host inner\n  ProxyJump jump\n");
    let names = vec!["inner".to_owned()];
    let results = run_all(
        &Pool::new(),
        fleet.targets(&names),
        Action::Run("echo $SSH_CONNECTION".to_owned()),
        &options(),
    )
    .await;
    assert_eq!(results[0].outcome, Outcome::Exited(0), "{:?}", results[0]);
    let connection = String::from_utf8_lossy(&results[0].stdout).into_owned();
    // The inner connection arrives from the jump host's sshd, at 127.0.0.2.
    assert!(connection.contains(" 127.0.0.2 "), "{connection}");
    assert_eq!(logins(&fleet.sshd), 2, "one login on the jump host, one on the target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_agent_keys_authenticate() {
    let names = node_names("g", 1);
    let mut fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    fleet.config_text = fleet.config_text.replace(
        &fleet.sshd.client_key.display().to_string(),
        &fleet.sshd.dir.path().join("absent_key").display().to_string(),
    );
    let socket = fleet.sshd.dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !socket.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let added = Command::new("ssh-add")
        .arg(&fleet.sshd.client_key)
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let mut targets = fleet.targets(&names);
    let wharf_exec::TargetTransport::Ssh(ssh) = &mut targets[0].transport else { unreachable!() };
    ssh.agent = Some(socket.clone());
    let results =
        run_all(&Pool::new(), targets.clone(), Action::Run("true".to_owned()), &options()).await;
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(results[0].outcome, Outcome::Exited(0), "{:?}", results[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_writes_the_file_over_sftp() {
    let names = node_names("c", 3);
    let fleet = Fleet::start(&entries(&names, "127.0.0.1"));
    let dest_dir = fleet.sshd.dir.path().join("dest");
    std::fs::create_dir(&dest_dir).unwrap();
    std::fs::set_permissions(&dest_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .unwrap();
    let source = fleet.sshd.dir.path().join("payload.sh");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &payload).unwrap();
    std::fs::set_permissions(&source, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    let dest = dest_dir.join("payload.sh").display().to_string();
    let results = run_all(
        &Pool::new(),
        fleet.targets(&names[..1]),
        Action::Copy { source, dest: dest.clone() },
        &options(),
    )
    .await;
    assert_eq!(results[0].outcome, Outcome::Exited(0), "{:?}", results[0]);
    assert_eq!(std::fs::read(&dest).unwrap(), payload);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dest).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o750);
    let missing = run_all(
        &Pool::new(),
        fleet.targets(&names[1..]),
        Action::Copy {
            source: fleet.sshd.dir.path().join("payload.sh"),
            dest: "/nonexistent-dir/x".to_owned(),
        },
        &options(),
    )
    .await;
    assert!(
        missing
            .iter()
            .all(|r| matches!(&r.outcome, Outcome::Failed(m) if m.contains("/nonexistent-dir/x"))),
        "{missing:?}"
    );
}
