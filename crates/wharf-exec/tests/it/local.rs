//! The local transport: `sh -c` with WHARF_NODE and WHARF_NODE_ROOT, exit codes, timeouts.

use std::time::{Duration, Instant};

use wharf_exec::{
    Action, ExecOptions, FanoutOptions, LocalTarget, Outcome, Pool, Target, TargetTransport,
    run_all,
};

fn local(name: &str, root: Option<&std::path::Path>) -> Target {
    Target {
        name: name.to_owned(),
        transport: TargetTransport::Local(LocalTarget { root: root.map(ToOwned::to_owned) }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_nodes_see_their_name_and_root() {
    let dir = tempfile::tempdir().unwrap();
    let targets = vec![local("web01", Some(dir.path())), local("web02", None)];
    let command =
        r#"echo "$WHARF_NODE ${WHARF_NODE_ROOT:-none}"; [ "$WHARF_NODE" = web01 ] || exit 7"#;
    let results =
        run_all(&Pool::new(), targets, Action::Run(command.to_owned()), &FanoutOptions::default())
            .await;
    assert_eq!(
        String::from_utf8_lossy(&results[0].stdout),
        format!("web01 {}\n", dir.path().display())
    );
    assert_eq!(results[0].outcome, Outcome::Exited(0));
    assert_eq!(
        (results[1].stdout.as_slice(), &results[1].outcome),
        (&b"web02 none\n"[..], &Outcome::Exited(7))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_timeout_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("survived");
    let command = format!("(sleep 2; touch {}) & sleep 30", marker.display());
    let options = FanoutOptions {
        exec: ExecOptions {
            command_timeout: Some(Duration::from_millis(300)),
            ..ExecOptions::default()
        },
        ..FanoutOptions::default()
    };
    let started = Instant::now();
    let results =
        run_all(&Pool::new(), vec![local("n1", None)], Action::Run(command), &options).await;
    assert_eq!(results[0].outcome, Outcome::TimedOut(Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    // The background child was in the group and died with it: wait past its 2 s.
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        assert!(!marker.exists(), "a process of the killed group survived");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_copy_lands_under_the_root() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let source = root.path().join("src.conf");
    std::fs::write(&source, "x=1\n").unwrap();
    let action = Action::Copy { source, dest: "/etc/app.conf".to_owned() };
    let results = run_all(
        &Pool::new(),
        vec![local("n1", Some(root.path()))],
        action,
        &FanoutOptions::default(),
    )
    .await;
    assert_eq!(results[0].outcome, Outcome::Exited(0), "{:?}", results[0]);
    assert_eq!(std::fs::read_to_string(root.path().join("etc/app.conf")).unwrap(), "x=1\n");
}
