//! Differential test: for generated configurations (Include, Host and Match with every
//! criterion, patterns, negation, tokens, the options Wharf uses), what Wharf resolves for
//! each host equals what OpenSSH's own `ssh -G -F FILE HOST` prints.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use wharf_exec::ssh_config::algorithms::{AlgorithmKind, assemble};
use wharf_exec::ssh_config::{
    HostConfig, HostKeyPolicy, MatchEnv, ResolveOptions, SshConfigFile, TokenContext, expand_path,
};

/// A small deterministic generator (xorshift), so a failure is reproducible by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const HOSTS: &[&str] = &["web1", "web2", "db1", "bastion", "lb-a", "lb-b", "10.0.0.7"];

fn setting(rng: &mut Rng) -> String {
    let line = match rng.next() % 23 {
        0 => format!(
            "HostName {}",
            rng.pick(&["%h.example", "real-%h", "10.1.2.3", "Upper.Example"])
        ),
        1 => format!("Port {}", rng.pick(&["22", "2222", "1022"])),
        2 => format!("User {}", rng.pick(&["deploy", "admin", "ops"])),
        3 => format!("IdentityFile {}", rng.pick(&["~/.ssh/id_%r", "%d/keys/%h", "/k/%n-%p"])),
        4 => format!(
            "UserKnownHostsFile {}",
            rng.pick(&["~/.ssh/kh_%h %d/kh2", "/kh/%k", "/kh/%n_%p_%r_%u", "none"])
        ),
        5 => {
            format!("GlobalKnownHostsFile {}", rng.pick(&["/etc/ssh/fleet_known_hosts", "/g1 /g2"]))
        }
        6 => format!("HostKeyAlias {}", rng.pick(&["shared-lb", "Fleet.Key"])),
        7 => format!("CheckHostIP {}", rng.pick(&["yes", "no"])),
        8 => format!("StrictHostKeyChecking {}", rng.pick(&["yes", "no", "accept-new"])),
        9 => format!("ProxyCommand {}", rng.pick(&["nc %h %p", "ssh -W %h:%p jump", "none"])),
        10 => format!("ProxyJump {}", rng.pick(&["bastion", "admin@bastion:2200", "none"])),
        11 => format!("ConnectTimeout {}", rng.pick(&["5", "1m", "none"])),
        12 => format!("ServerAliveInterval {}", rng.pick(&["15", "2m"])),
        13 => format!("ServerAliveCountMax {}", rng.pick(&["2", "10"])),
        14 => format!(
            "Ciphers {}",
            rng.pick(&[
                "+aes128-cbc",
                "-aes*-ctr",
                "^aes256-gcm@openssh.com",
                "aes256-ctr,aes128-ctr"
            ])
        ),
        15 => format!(
            "KexAlgorithms {}",
            rng.pick(&["-diffie-hellman*", "curve25519-sha256", "^ecdh-sha2-nistp256"])
        ),
        16 => format!(
            "HostKeyAlgorithms {}",
            rng.pick(&["+ssh-rsa", "-*-cert-v01@openssh.com", "^ssh-ed25519"])
        ),
        17 => format!("IdentitiesOnly {}", rng.pick(&["yes", "no"])),
        18 => format!("BatchMode {}", rng.pick(&["yes", "no"])),
        19 => format!("HashKnownHosts {}", rng.pick(&["yes", "no"])),
        20 => format!("CertificateFile {}", rng.pick(&["~/.ssh/id_%r-cert.pub", "/certs/%h"])),
        21 => {
            format!("IdentityAgent {}", rng.pick(&["none", "SSH_AUTH_SOCK", "~/agent-%h-%r.sock"]))
        }
        _ => "LogLevel ERROR".to_owned(),
    };
    format!("  {line}\n")
}

fn block_header(rng: &mut Rng) -> String {
    match rng.next() % 11 {
        0 => format!("Host {}\n", rng.pick(&["web*", "*1", "web* !web2", "lb-?", "10.0.0.*", "*"])),
        1 => format!("Host {} {}\n", rng.pick(&["db*", "bastion"]), rng.pick(&["lb-a", "!db1"])),
        2 => format!(
            "Match host {}\n",
            rng.pick(&["*.example", "10.*", "real-*,!real-db1", "upper.example"])
        ),
        3 => format!("Match originalhost {}\n", rng.pick(&["web*", "!lb-*", "db1,bastion"])),
        4 => format!("Match user {}\n", rng.pick(&["deploy", "root", "ad*"])),
        5 => format!("Match localuser {}\n", rng.pick(&["root", "nobody"])),
        6 => "Match all\n".to_owned(),
        7 => format!("Match final host {}\n", rng.pick(&["*.example", "web*", "real-*"])),
        8 => format!(
            "Match {} originalhost {}\n",
            rng.pick(&["!final", "canonical"]),
            rng.pick(&["*", "web*"])
        ),
        9 => format!(
            "Match exec \"{}\"\n",
            rng.pick(&[
                "test %h = web1.example",
                "test %n != db1",
                "test %p = 2222",
                "true",
                "false"
            ])
        ),
        _ => format!(
            "Match !originalhost {} user {}\n",
            rng.pick(&["web1", "lb-*"]),
            rng.pick(&["*", "ops"])
        ),
    }
}

fn generate(rng: &mut Rng, dir: &Path, idx: usize) -> String {
    let include = dir.join(format!("inc-{idx}.conf"));
    let mut included = String::new();
    for _ in 0..rng.next() % 3 {
        included.push_str(&setting(rng));
    }
    for _ in 0..rng.next() % 3 {
        included.push_str(&block_header(rng));
        included.push_str(&setting(rng));
    }
    std::fs::write(&include, included).unwrap();
    let mut text = String::new();
    for _ in 0..rng.next() % 2 {
        text.push_str(&setting(rng));
    }
    for _ in 0..3 + rng.next() % 6 {
        text.push_str(&block_header(rng));
        for _ in 0..1 + rng.next() % 3 {
            text.push_str(&setting(rng));
        }
        if rng.chance(20) {
            text.push_str(&format!("  Include {}\n", dir.join(format!("inc-{idx}.*")).display()));
        }
    }
    text
}

/// `None` when ssh refuses the host for a jump to itself (Wharf refuses it when connecting).
fn ssh_g(config: &Path, host: &str) -> Option<BTreeMap<String, Vec<String>>> {
    let output = Command::new("ssh").arg("-G").arg("-F").arg(config).arg(host).output().unwrap();
    if String::from_utf8_lossy(&output.stderr).contains("jumphost loop") {
        return None;
    }
    assert!(
        output.status.success(),
        "ssh -G {host} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(config).unwrap()
    );
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some((key, value)) = line.split_once(' ') {
            options.entry(key.to_owned()).or_default().push(value.to_owned());
        }
    }
    Some(options)
}

fn yes_no(value: Option<bool>) -> String {
    if value.unwrap_or(false) { "yes" } else { "no" }.to_owned()
}

/// The `ssh -G` lines Wharf's resolution stands for.
fn wharf_view(
    config: &HostConfig,
    host_arg: &str,
    env: &MatchEnv,
) -> BTreeMap<String, Vec<String>> {
    let mut view: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut put = |key: &str, value: String| view.entry(key.to_owned()).or_default().push(value);
    let host = config.host_name.clone().unwrap_or_else(|| host_arg.to_owned());
    let user = config.user.clone().unwrap_or_else(|| env.local_user.clone());
    let port = config.port.unwrap_or(22);
    let ctx = TokenContext {
        home: &env.home,
        host: &host,
        original_host: host_arg,
        remote_user: &user,
        local_user: &env.local_user,
        port,
        key_alias: config.host_key_alias.as_deref().unwrap_or(host_arg),
        local_host: &env.local_host,
        uid: env.uid,
    };
    put("hostname", host.clone());
    put("port", port.to_string());
    put("user", user.clone());
    for file in &config.identity_files {
        put("identityfile", file.clone());
    }
    for file in &config.certificate_files {
        put("certificatefile", file.clone());
    }
    match &config.user_known_hosts_files {
        Some(files) if files[0] == "none" => {}
        Some(files) => put(
            "userknownhostsfile",
            files
                .iter()
                .map(|f| expand_path(f, &ctx).display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None => put(
            "userknownhostsfile",
            format!("{0}/.ssh/known_hosts {0}/.ssh/known_hosts2", env.home.display()),
        ),
    }
    put(
        "globalknownhostsfile",
        config
            .global_known_hosts_files
            .as_ref()
            .map_or("/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2".to_owned(), |f| {
                f.join(" ")
            }),
    );
    if let Some(alias) = &config.host_key_alias {
        put("hostkeyalias", alias.clone());
    }
    match config.identity_agent.as_deref() {
        None => {}
        Some(raw @ ("none" | "SSH_AUTH_SOCK")) => put("identityagent", raw.to_owned()),
        Some(path) => put("identityagent", expand_path(path, &ctx).display().to_string()),
    }
    put("checkhostip", yes_no(config.check_host_ip));
    put("identitiesonly", yes_no(config.identities_only));
    put("batchmode", yes_no(config.batch_mode));
    put("hashknownhosts", yes_no(config.hash_known_hosts));
    put(
        "stricthostkeychecking",
        match config.strict_host_key_checking {
            None => "ask",
            Some(HostKeyPolicy::Strict) => "true",
            Some(HostKeyPolicy::AcceptNew) => "accept-new",
            Some(HostKeyPolicy::AcceptAny) => "false",
        }
        .to_owned(),
    );
    match config.proxy_jump.as_deref() {
        None | Some("none") => {
            if let Some(command) = config.proxy_command.as_deref().filter(|c| *c != "none") {
                put("proxycommand", command.to_owned());
            }
        }
        Some(jump) => put("proxyjump", jump.to_owned()),
    }
    put("connecttimeout", config.connect_timeout.map_or("none".to_owned(), |s| s.to_string()));
    put("serveraliveinterval", config.server_alive_interval.unwrap_or(0).to_string());
    put("serveralivecountmax", config.server_alive_count_max.unwrap_or(3).to_string());
    put("ciphers", assemble(AlgorithmKind::Ciphers, config.ciphers.as_deref()).join(","));
    put("kexalgorithms", assemble(AlgorithmKind::Kex, config.kex_algorithms.as_deref()).join(","));
    put(
        "hostkeyalgorithms",
        assemble(AlgorithmKind::HostKey, config.host_key_algorithms.as_deref()).join(","),
    );
    view
}

#[test]
fn resolution_equals_ssh_dash_g_over_generated_configs() {
    let dir = tempfile::tempdir().unwrap();
    let env = MatchEnv::new("root", Path::new("/root"));
    let mut compared = 0;
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let text = generate(&mut rng, dir.path(), seed as usize);
        let path = dir.path().join(format!("config-{seed}"));
        std::fs::write(&path, &text).unwrap();
        let config = SshConfigFile::load(&path, Path::new("/root")).unwrap();
        for host in HOSTS {
            let ours = config.resolve(host, &ResolveOptions::default(), &env).unwrap();
            let Some(expected) = ssh_g(&path, host) else { continue };
            let mut view = wharf_view(&ours, host, &env);
            if ours.identity_files.is_empty() {
                view.insert("identityfile".into(), expected["identityfile"].clone());
            }
            for (key, value) in &view {
                if key == "proxycommand" && expected.contains_key("proxyjump") {
                    continue;
                }
                let theirs = expected.get(key).cloned().unwrap_or_default();
                assert_eq!(
                    value,
                    &theirs,
                    "seed {seed}, host {host}, option {key}\n--- config ---\n{text}\n--- include ---\n{}",
                    std::fs::read_to_string(dir.path().join(format!("inc-{seed}.conf"))).unwrap()
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 60 * HOSTS.len() * 15, "{compared} options compared");
}
