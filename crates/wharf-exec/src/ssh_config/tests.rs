//! Resolution tests over whole config texts: precedence, Match, Include, tokens, errors.

use super::*;

fn parse(text: &str) -> SshConfigFile {
    SshConfigFile::parse(Path::new("config"), text).unwrap()
}

#[test]
fn first_value_wins_and_identity_files_accumulate() {
    let config = parse(
        "User global\n\
         Host web* !web-old\n  HostName %h.internal\n  Port 2222\n  IdentityFile ~/.ssh/web\n\
         Host *\n  Port 22\n  User deploy\n  IdentityFile %d/.ssh/id_%r\n  StrictHostKeyChecking accept-new\n",
    );
    let web = config.host("web01");
    assert_eq!(web.host_name.as_deref(), Some("web01.internal"));
    assert_eq!(web.port, Some(2222));
    assert_eq!(web.user.as_deref(), Some("global"));
    assert_eq!(web.identity_files, ["~/.ssh/web", "%d/.ssh/id_%r"]);
    assert_eq!(web.strict_host_key_checking, Some(HostKeyPolicy::AcceptNew));
    let old = config.host("web-old");
    assert_eq!((old.host_name.as_deref(), old.port), (Some("web-old"), Some(22)));
}

#[test]
fn equals_quotes_match_blocks_and_proxyjump() {
    let config = parse(
        "Host=a?\n  HostName = \"10.0.0.1\"\n  ProxyJump bastion\n  UserKnownHostsFile /k1 /k2\n\
         Match host 10.0.0.1\n  Port 1\nHost b\n  ProxyJump none\n  ProxyCommand nc %h %p\n",
    );
    let a1 = config.host("a1");
    assert_eq!(a1.host_name.as_deref(), Some("10.0.0.1"));
    assert_eq!(a1.port, Some(1), "Match host sees the HostName");
    assert_eq!(a1.proxy_jump.as_deref(), Some("bastion"));
    assert_eq!(a1.user_known_hosts_files, Some(vec!["/k1".to_owned(), "/k2".to_owned()]));
    assert_eq!(config.host("a12").host_name.as_deref(), Some("a12"));
    let b = config.host("b");
    assert_eq!((b.proxy_jump.as_deref(), b.proxy_command), (Some("none"), None));
}

#[test]
fn match_final_runs_a_second_pass_on_the_resolved_name() {
    let config = parse(
        "Host short\n HostName Long.Example\nHost long.example\n Port 2022\n\
         Match final host long.example\n User fin\nMatch originalhost short !final\n IdentityFile first\n",
    );
    let host = config.host("short");
    assert_eq!(host.host_name.as_deref(), Some("long.example"));
    assert_eq!((host.port, host.user.as_deref()), (Some(2022), Some("fin")));
    assert_eq!(host.identity_files, ["first"]);
}

#[test]
fn match_exec_runs_through_sh_with_tokens() {
    let config = parse(
        "Match exec \"test %h = web1 && test %n = web1\"\n Port 7\nMatch !exec false\n User e\n",
    );
    let host = config.host("web1");
    assert_eq!((host.port, host.user.as_deref()), (Some(7), Some("e")));
    assert_eq!(config.host("db1").port, None);
    let bad = parse("Match exec \"echo %Z\"\n Port 1\n");
    let err = bad.resolve("x", &ResolveOptions::default(), &MatchEnv::for_tests()).unwrap_err();
    assert!(err.to_string().starts_with("config:1:") && err.message.contains("%Z"), "{err}");
}

#[test]
fn includes_cannot_change_the_includers_state() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("inc.conf");
    std::fs::write(&inc, "Port 10\nHost other\n User other\n").unwrap();
    let config = parse(&format!(
        "Host a\n Include {inc}\n User a-user\nHost b\n Include {inc}\nHost *\n Port 99\n",
        inc = inc.display()
    ));
    let a = config.host("a");
    assert_eq!((a.port, a.user.as_deref()), (Some(10), Some("a-user")));
    let c = config.host("c");
    assert_eq!((c.port, c.user), (Some(99), None), "an inactive include applies nothing");
}

#[test]
fn not_implemented_keywords_are_listed_once_with_their_line() {
    let config = parse("Host *\n ForwardAgent yes\n LogLevel DEBUG\n ForwardAgent no\n");
    let host = config.host("x");
    assert_eq!(
        host.not_implemented,
        [NotImplemented { keyword: "forwardagent".into(), file: "config".into(), line: 2 }]
    );
}

#[test]
fn bad_values_name_the_line() {
    for (text, line, needle) in [
        ("Host a\n Port nope\n", 2, "port number"),
        ("StrictHostKeyChecking maybe\n", 1, "accept-new"),
        ("Host a\n CheckHostIP perhaps\n", 2, "yes or no"),
        ("ConnectTimeout soon\n", 1, "seconds"),
        ("Ciphers +rot13\n", 1, "ssh -Q cipher"),
        ("UserKnownHostsFile none /x\n", 1, "alone"),
        ("Match\n", 1, "at least one criterion"),
    ] {
        let err = SshConfigFile::parse(Path::new("cfg"), text).unwrap_err();
        assert_eq!(err.line, line, "{text}");
        assert!(err.to_string().starts_with(&format!("cfg:{line}:")), "{err}");
        assert!(err.message.contains(needle), "{text}: {err}");
    }
    let bad_host = parse("HostName %n.x\n");
    let err =
        bad_host.resolve("a", &ResolveOptions::default(), &MatchEnv::for_tests()).unwrap_err();
    assert!(err.to_string().starts_with("config:1:") && err.message.contains("%h"), "{err}");
}

#[test]
fn seconds_parse_like_convtime() {
    for (text, expected) in
        [("90", Some(90)), ("1m30s", Some(90)), ("2h", Some(7200)), ("x", None), ("", None)]
    {
        assert_eq!(parse_seconds(text), expected, "{text}");
    }
}

#[test]
fn tokens_expand() {
    let ctx = TokenContext {
        home: Path::new("/home/op"),
        host: "10.0.0.1",
        original_host: "web01",
        remote_user: "deploy",
        local_user: "op",
        port: 22,
        key_alias: "shared",
        local_host: "admin.example",
        uid: 1000,
    };
    assert_eq!(expand_path("~/.ssh/id_%r", &ctx), Path::new("/home/op/.ssh/id_deploy"));
    assert_eq!(
        expand_path("%d/k-%h-%n-%p-%u-%k-%L-%i-%%", &ctx),
        Path::new("/home/op/k-10.0.0.1-web01-22-op-shared-admin-1000-%")
    );
    assert_eq!(ctx.expand("%C").unwrap().len(), 40);
    assert!(ctx.expand("%Q").unwrap_err().contains("%Q"));
}
