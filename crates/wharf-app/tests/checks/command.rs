//! `command` checks, and which checks apply to which environment.

use std::time::{Duration, Instant};

use wharf_app::checks::{CheckTarget, configured};

use crate::support::{config, environment, only, run};

fn check(name: &str, command: &str, extra: &str) -> String {
    format!("[[checks]]\nname = \"{name}\"\nkind = \"command\"\ncommand = '{command}'\n{extra}\n")
}

#[tokio::test]
async fn command_check_sees_the_deploy_in_its_environment() {
    let gprd = environment("gprd", &["web01", "web02"], true);
    let command = r#"printf "%s|%s|%s\n" "$WHARF_ENVIRONMENT" "$WHARF_VERSION" "$WHARF_NODES""#;
    let outcome = only(run(&check("env", command, ""), &gprd).await);
    assert!(outcome.passed, "{outcome:?}");
    assert_eq!((outcome.name.as_str(), outcome.kind.as_str()), ("env", "command"));
    assert_eq!(outcome.evidence, ["exited 0", "gprd|11.8.0|web01,web02"]);

    // Values reach the command as variables only: a version with shell syntax is inert.
    let (config, source) = config(&check("v", r#"echo "$WHARF_VERSION""#, ""));
    let version = "1.0$(echo injected);echo x";
    let target = CheckTarget { environment: &gprd, version, ignore_production_checks: false };
    let outcome = only(configured(&config, &source, &target).await.unwrap());
    assert_eq!(outcome.evidence, ["exited 0", version]);
}

#[tokio::test]
async fn command_check_fails_with_its_exit_code_and_last_lines() {
    let command = "for i in 1 2 3 4 5 6 7; do echo line $i; done; echo oops >&2; exit 3";
    let outcome =
        only(run(&check("c", command, ""), &environment("gstg", &["web01"], false)).await);
    assert!(!outcome.passed);
    assert_eq!(outcome.evidence, ["exited 3", "line 4", "line 5", "line 6", "line 7", "oops"]);
}

#[tokio::test]
async fn command_check_is_killed_at_its_timeout() {
    // The background sleep keeps the output pipe open: only killing the group ends it.
    let command = "echo started; sleep 30 & sleep 30";
    let started = Instant::now();
    let outcome = only(
        run(&check("slow", command, "timeout = \"1s\""), &environment("gstg", &["web01"], false))
            .await,
    );
    let elapsed = started.elapsed();
    assert!(!outcome.passed);
    assert_eq!(outcome.evidence, ["did not finish within 1s: killed", "started"]);
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn checks_apply_by_environment_and_production_and_report_in_file_order() {
    let checks = [
        check("slow-first", "sleep 1", ""),
        check("prod-only", "true", "production_only = true"),
        check("gstg-only", "true", "environments = [\"gstg\"]"),
        check("everywhere", "sleep 1; false", ""),
    ]
    .concat();
    let (config, source) = config(&checks);
    let (gprd, gstg) =
        (environment("gprd", &["web01"], true), environment("gstg", &["web01"], false));
    let names = |ignore: bool, env| {
        let target =
            CheckTarget { environment: env, version: "1", ignore_production_checks: ignore };
        let (config, source) = (&config, &source);
        async move {
            let outcomes = configured(config, source, &target).await.unwrap();
            outcomes.into_iter().map(|o| (o.name, o.passed)).collect::<Vec<_>>()
        }
    };
    let own =
        |list: &[(&str, bool)]| list.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect::<Vec<_>>();
    let started = Instant::now();
    assert_eq!(
        names(false, &gprd).await,
        own(&[("slow-first", true), ("prod-only", true), ("everywhere", false)])
    );
    // Two checks of 1 s each: together well under 2 s only when they run at once.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1900), "checks run concurrently: {elapsed:?}");
    assert_eq!(names(true, &gprd).await, own(&[("slow-first", true), ("everywhere", false)]));
    assert_eq!(
        names(false, &gstg).await,
        own(&[("slow-first", true), ("gstg-only", true), ("everywhere", false)])
    );
}
