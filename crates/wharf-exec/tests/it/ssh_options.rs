//! ssh_config options against a real sshd: HostKeyAlias, host certificates signed by a CA
//! (`ssh-keygen -s … -h`) and a revoked CA, user certificates, ProxyCommand, Match exec.

use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_exec::ssh_config::SshConfigFile;
use wharf_exec::testing::{Sshd, TEST_USER, keygen};
use wharf_exec::{
    Action, HostKeyPolicy, HostOverrides, LocalEnv, Outcome, Pool, SshResolver, Target,
    TargetTransport, UnreachableReason, run_all,
};

use crate::fleet::options;

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Sign `key.pub` with the CA at `ca` (a host certificate when `host`), for `principal`.
fn sign(ca: &Path, key: &Path, principal: &str, host: bool) -> PathBuf {
    let mut command = Command::new("ssh-keygen");
    command.args(["-q", "-s"]).arg(ca).args(["-I", "wharf-test", "-n", principal]);
    if host {
        command.arg("-h");
    }
    run(command.arg(key.with_extension("pub")));
    let mut cert = key.as_os_str().to_owned();
    cert.push("-cert.pub");
    PathBuf::from(cert)
}

fn public_line(key: &Path) -> String {
    let text = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Resolve `names` through `config` (home: the sshd's directory) and run `true` on each.
async fn run_true(sshd: &Sshd, config: &str, names: &[&str]) -> Vec<Outcome> {
    let resolver = SshResolver {
        config: SshConfigFile::parse(Path::new("test_ssh_config"), config).unwrap(),
        env: LocalEnv { home: sshd.dir.path().to_owned(), local_user: "root".into(), agent: None },
        default_user: None,
        default_policy: HostKeyPolicy::Strict,
        forced_policy: None,
    };
    let targets = names
        .iter()
        .map(|name| Target {
            name: (*name).to_owned(),
            transport: TargetTransport::Ssh(
                resolver.resolve(name, &HostOverrides::default()).unwrap(),
            ),
        })
        .collect();
    let results = run_all(&Pool::new(), targets, Action::Run("true".into()), &options()).await;
    results.into_iter().map(|result| result.outcome).collect()
}

fn host_block(sshd: &Sshd, pattern: &str, known_hosts: &Path, extra: &str) -> String {
    format!(
        "Host {pattern}\n  HostName 127.0.0.1\n  Port {port}\n  User {TEST_USER}\n  IdentityFile {key}\n  \
         UserKnownHostsFile {kh}\n  GlobalKnownHostsFile none\n{extra}",
        port = sshd.port,
        key = sshd.client_key.display(),
        kh = known_hosts.display(),
    )
}

fn refusal(outcome: &Outcome, reason: UnreachableReason) -> String {
    match outcome {
        Outcome::Unreachable(unreachable) if unreachable.reason == reason => {
            unreachable.message.clone()
        }
        other => panic!("expected {reason:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_key_alias_lets_many_aliases_share_one_entry() {
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.path().join("kh");
    std::fs::write(&known_hosts, format!("shared-lb {}\n", sshd.host_public_key)).unwrap();
    let config = host_block(&sshd, "lb-*", &known_hosts, "  HostKeyAlias Shared-LB\n");
    let outcomes = run_true(&sshd, &config, &["lb-a", "lb-b"]).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Exited(0)), "{outcomes:?}");
    let without = host_block(&sshd, "lb-*", &known_hosts, "");
    let message =
        refusal(&run_true(&sshd, &without, &["lb-a"]).await[0], UnreachableReason::HostKey);
    assert!(message.contains(&format!("[127.0.0.1]:{}", sshd.port)), "{message}");
}

fn cert_sshd(principal: &'static str) -> (Sshd, PathBuf) {
    let sshd = Sshd::start_with(move |dir| {
        let ca = dir.join("host_ca");
        keygen(&ca);
        let cert = sign(&ca, &dir.join("host_ed25519"), principal, true);
        format!("HostCertificate {}\n", cert.display())
    });
    let ca = sshd.dir.path().join("host_ca");
    (sshd, ca)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_certificates_from_a_trusted_ca_are_accepted_and_checked() {
    let (sshd, ca) = cert_sshd("127.0.0.1");
    let known_hosts = sshd.dir.path().join("kh");
    std::fs::write(
        &known_hosts,
        format!("@cert-authority [127.0.0.*]:*,127.0.0.* {}\n", public_line(&ca)),
    )
    .unwrap();
    let config = host_block(&sshd, "node*", &known_hosts, "");
    let outcomes = run_true(&sshd, &config, &["node1", "node2"]).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Exited(0)), "{outcomes:?}");
    // The certificate names 127.0.0.1: an alias it does not name is refused, saying so.
    let aliased = host_block(&sshd, "node*", &known_hosts, "  HostKeyAlias 127.0.0.9\n");
    let message =
        refusal(&run_true(&sshd, &aliased, &["node1"]).await[0], UnreachableReason::HostKey);
    assert!(message.contains("principals") && message.contains("127.0.0.9"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_ca_is_refused_naming_the_line() {
    let (sshd, ca) = cert_sshd("127.0.0.1");
    let known_hosts = sshd.dir.path().join("kh");
    let ca_line = public_line(&ca);
    std::fs::write(&known_hosts, format!("@cert-authority * {ca_line}\n@revoked * {ca_line}\n"))
        .unwrap();
    let config = host_block(&sshd, "node*", &known_hosts, "");
    let message =
        refusal(&run_true(&sshd, &config, &["node1"]).await[0], UnreachableReason::HostKey);
    assert!(
        message.contains("@revoked") && message.contains(&format!("{}:2", known_hosts.display())),
        "{message}"
    );
    assert!(!sshd.log_text().contains("Accepted publickey"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_certificates_authenticate() {
    let sshd = Sshd::start_with(|dir| {
        let ca = dir.join("user_ca");
        keygen(&ca);
        let user_key = dir.join("user_key");
        keygen(&user_key);
        sign(&ca, &user_key, TEST_USER, false);
        format!("TrustedUserCAKeys {}\n", ca.with_extension("pub").display())
    });
    let known_hosts = sshd.dir.path().join("kh");
    sshd.write_known_hosts(&known_hosts);
    let user_key = sshd.dir.path().join("user_key");
    // The key alone is not authorized: only its certificate gets in.
    let config = format!(
        "Host certified\n  HostName 127.0.0.1\n  Port {port}\n  User {TEST_USER}\n  IdentityFile {key}\n  \
         CertificateFile {key}-cert.pub\n  UserKnownHostsFile {kh}\n",
        port = sshd.port,
        key = user_key.display(),
        kh = known_hosts.display(),
    );
    let outcomes = run_true(&sshd, &config, &["certified"]).await;
    assert_eq!(outcomes, [Outcome::Exited(0)]);
    assert!(sshd.log_text().contains("ED25519-CERT"), "{}", sshd.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_command_carries_the_connection() {
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.path().join("kh");
    sshd.write_known_hosts(&known_hosts);
    // A real ProxyCommand: OpenSSH's client forwarding through the same sshd.
    let proxy = format!(
        "  ProxyCommand ssh -F /dev/null -i {key} -o UserKnownHostsFile={kh} -o BatchMode=yes \
         -p %p -l {TEST_USER} -W %h:%p 127.0.0.2\n  HostName 127.0.0.1\n",
        key = sshd.client_key.display(),
        kh = known_hosts.display(),
    );
    let config = format!(
        "Host proxied\n{proxy}  Port {port}\n  User {TEST_USER}\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n",
        port = sshd.port,
        key = sshd.client_key.display(),
        kh = known_hosts.display(),
    );
    let outcomes = run_true(&sshd, &config, &["proxied"]).await;
    assert_eq!(outcomes, [Outcome::Exited(0)], "{}", sshd.log_text());
    let logins = sshd.log_text().matches("Accepted publickey").count();
    assert_eq!(logins, 2, "the proxy's own login, then Wharf's through it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_exec_decides_per_host() {
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.path().join("kh");
    sshd.write_known_hosts(&known_hosts);
    let marker = sshd.dir.path().join("enabled-good");
    std::fs::write(&marker, "").unwrap();
    let config = format!(
        "Match exec \"test -e {dir}/enabled-%n\"\n  Port {port}\nHost *\n  Port 1\n  HostName 127.0.0.1\n  \
         User {TEST_USER}\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n",
        dir = sshd.dir.path().display(),
        port = sshd.port,
        key = sshd.client_key.display(),
        kh = known_hosts.display(),
    );
    let outcomes = run_true(&sshd, &config, &["good", "bad"]).await;
    assert_eq!(outcomes[0], Outcome::Exited(0));
    let message = refusal(&outcomes[1], UnreachableReason::Refused);
    assert!(message.contains(":1"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_host_ip_checks_and_records_the_address() {
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.path().join("kh");
    let port = sshd.port;
    std::fs::write(&known_hosts, format!("[localhost]:{port} {}\n", sshd.host_public_key)).unwrap();
    let block = |check: &str| {
        format!(
            "Host named\n  HostName localhost\n  Port {port}\n  User {TEST_USER}\n  IdentityFile {key}\n  \
             UserKnownHostsFile {kh}\n  GlobalKnownHostsFile none\n  CheckHostIP {check}\n",
            key = sshd.client_key.display(),
            kh = known_hosts.display(),
        )
    };
    // A new address is recorded next to the name.
    assert_eq!(run_true(&sshd, &block("yes"), &["named"]).await, [Outcome::Exited(0)]);
    let text = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(text.contains(&format!("[127.0.0.1]:{port} {}", sshd.host_public_key)), "{text}");
    // An address listed with another key is refused, naming the line; `no` ignores it.
    let impostor = sshd.dir.path().join("impostor");
    keygen(&impostor);
    std::fs::write(
        &known_hosts,
        format!(
            "[localhost]:{port} {}\n[127.0.0.1]:{port} {}\n",
            sshd.host_public_key,
            public_line(&impostor)
        ),
    )
    .unwrap();
    let message =
        refusal(&run_true(&sshd, &block("yes"), &["named"]).await[0], UnreachableReason::HostKey);
    assert!(
        message.contains("CheckHostIP")
            && message.contains(&format!("{}:2", known_hosts.display())),
        "{message}"
    );
    assert_eq!(run_true(&sshd, &block("no"), &["named"]).await, [Outcome::Exited(0)]);
}

/// An `ssh-agent` on a private socket, killed on drop.
struct Agent {
    socket: PathBuf,
    child: std::process::Child,
}

impl Agent {
    fn start(dir: &Path, keys: &[&Path]) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent").arg("-D").arg("-a").arg(&socket).spawn().unwrap();
        let agent = Agent { socket, child };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !agent.socket.exists() {
            assert!(std::time::Instant::now() < deadline, "ssh-agent did not start in 10 s");
            std::thread::sleep(std::time::Duration::from_millis(20)); // bounded poll
        }
        for key in keys {
            run(Command::new("ssh-add").arg("-q").arg(key).env("SSH_AUTH_SOCK", &agent.socket));
        }
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_only_keeps_other_agent_keys_back() {
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.path().join("kh");
    sshd.write_known_hosts(&known_hosts);
    let stranger = sshd.dir.path().join("stranger");
    keygen(&stranger);
    let agent = Agent::start(sshd.dir.path(), &[&stranger]);
    let block = |only: &str| {
        format!(
            "Host agented\n  HostName 127.0.0.1\n  Port {port}\n  User {TEST_USER}\n  IdentityFile {key}\n  \
             UserKnownHostsFile {kh}\n  IdentityAgent {sock}\n  IdentitiesOnly {only}\n",
            port = sshd.port,
            key = sshd.client_key.display(),
            kh = known_hosts.display(),
            sock = agent.socket.display(),
        )
    };
    let failed = || sshd.log_text().matches("Failed publickey").count();
    assert_eq!(run_true(&sshd, &block("no"), &["agented"]).await, [Outcome::Exited(0)]);
    let offered_stranger = failed();
    assert!(offered_stranger >= 1, "the agent's key is tried first: {}", sshd.log_text());
    assert_eq!(run_true(&sshd, &block("yes"), &["agented"]).await, [Outcome::Exited(0)]);
    assert_eq!(failed(), offered_stranger, "IdentitiesOnly: the stranger key stays in the agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_from_ssh_config_bounds_a_silent_host() {
    let sshd = Sshd::start();
    // Accepts TCP (the kernel's backlog) but never speaks SSH.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = format!(
        "Host silent\n  HostName 127.0.0.1\n  Port {}\n  ConnectTimeout 1\n",
        silent.local_addr().unwrap().port()
    );
    let started = std::time::Instant::now();
    let outcomes = run_true(&sshd, &config, &["silent"]).await;
    let message = refusal(&outcomes[0], UnreachableReason::Timeout);
    assert!(message.contains("within 1s"), "{message}");
    // The run's own connect timeout is 20 s: ssh_config's 1 s applied.
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn algorithm_lists_and_server_alive_reach_the_connection() {
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.path().join("kh");
    sshd.write_known_hosts(&known_hosts);
    let lists = "  Ciphers aes256-ctr\n  KexAlgorithms -sntrup*,curve25519*\n  \
                 HostKeyAlgorithms ^ssh-ed25519\n  ServerAliveInterval 5\n  ServerAliveCountMax 2\n";
    let config = host_block(&sshd, "tuned", &known_hosts, lists);
    assert_eq!(run_true(&sshd, &config, &["tuned"]).await, [Outcome::Exited(0)]);
    // OpenSSH 9.2's sshd accepts no CBC cipher: the list is really what is offered.
    let cbc = host_block(&sshd, "tuned", &known_hosts, "  Ciphers aes128-cbc\n");
    let outcome = &run_true(&sshd, &cbc, &["tuned"]).await[0];
    assert!(matches!(outcome, Outcome::Unreachable(_)), "{outcome:?}");
    // A list of nothing the client speaks is refused before connecting, naming the option.
    let pq = host_block(&sshd, "tuned", &known_hosts, "  KexAlgorithms sntrup761x25519-sha512\n");
    let message = refusal(&run_true(&sshd, &pq, &["tuned"]).await[0], UnreachableReason::Other);
    assert!(message.contains("KexAlgorithms") && message.contains("none that Wharf"), "{message}");
}
