//! The subset of OpenSSH's `ssh_config(5)` that fleet operators rely on with `clush`:
//! `Host` patterns (`*`, `?`, `!negation`), `HostName` (with `%h`), `Port`, `User`,
//! `IdentityFile` (`~`, `%d`, `%h`, `%r`, `%u`, `%%`), `UserKnownHostsFile`,
//! `StrictHostKeyChecking` and `ProxyJump`.
//!
//! As in OpenSSH, the first value obtained for a keyword wins, except `IdentityFile`,
//! which accumulates. `Match` blocks are skipped whole (their settings never apply);
//! unknown keywords are ignored, since the file is shared with `ssh` itself.

use std::path::{Path, PathBuf};

/// `StrictHostKeyChecking`: what to do with a host key that `known_hosts` does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// `yes`: refuse unknown and changed keys.
    Strict,
    /// `accept-new`: record unknown keys, refuse changed ones.
    AcceptNew,
    /// `no` / `off`: record unknown keys and accept changed ones (not recommended).
    AcceptAny,
}

/// One `Host` block: its patterns and the settings written under it.
#[derive(Debug, Clone, Default)]
struct HostBlock {
    patterns: Vec<String>,
    settings: Vec<(String, String)>,
}

/// A parsed ssh config file.
#[derive(Debug, Clone, Default)]
pub struct SshConfigFile {
    blocks: Vec<HostBlock>,
}

/// The settings that apply to one host, before defaults are filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub host_name: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// In file order, tokens not yet expanded.
    pub identity_files: Vec<String>,
    pub user_known_hosts_files: Option<Vec<String>>,
    pub strict_host_key_checking: Option<HostKeyPolicy>,
    pub proxy_jump: Option<String>,
}

/// A line of the file that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SshConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl SshConfigFile {
    /// Read `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<SshConfigFile, SshConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => SshConfigFile::parse(path, &text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(SshConfigFile::default()),
            Err(err) => Err(SshConfigError {
                file: path.to_owned(),
                line: 0,
                message: format!("cannot read: {err}"),
            }),
        }
    }

    /// Parse the text of a config file (`file` names it in errors).
    pub fn parse(file: &Path, text: &str) -> Result<SshConfigFile, SshConfigError> {
        // Settings before the first `Host` line apply to every host.
        let mut blocks = vec![HostBlock { patterns: vec!["*".to_owned()], settings: Vec::new() }];
        let mut in_match = false;
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error =
                |message: String| SshConfigError { file: file.to_owned(), line: idx + 1, message };
            let (keyword, rest) = split_keyword(line);
            let keyword = keyword.to_ascii_lowercase();
            let args = split_args(rest).map_err(|msg| error(msg.to_owned()))?;
            match keyword.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(error("Host needs at least one pattern".to_owned()));
                    }
                    in_match = false;
                    blocks.push(HostBlock { patterns: args, settings: Vec::new() });
                }
                "match" => in_match = true,
                _ if in_match => {}
                _ => {
                    let Some(value) = args.first() else {
                        return Err(error(format!("{keyword} needs a value")));
                    };
                    let value = if keyword == "userknownhostsfile" {
                        args.join(" ")
                    } else {
                        value.clone()
                    };
                    check_value(&keyword, &value).map_err(error)?;
                    blocks.last_mut().expect("always one block").settings.push((keyword, value));
                }
            }
        }
        Ok(SshConfigFile { blocks })
    }

    /// The settings for `host` (the name as typed: a node name).
    pub fn host(&self, host: &str) -> HostConfig {
        let mut config = HostConfig::default();
        for block in self.blocks.iter().filter(|block| host_matches(&block.patterns, host)) {
            for (keyword, value) in &block.settings {
                match keyword.as_str() {
                    "hostname" => {
                        config
                            .host_name
                            .get_or_insert_with(|| value.replace("%h", host).replace("%%", "%"));
                    }
                    "port" => {
                        config.port = config.port.or_else(|| value.parse().ok());
                    }
                    "user" => {
                        config.user.get_or_insert_with(|| value.clone());
                    }
                    "identityfile" => config.identity_files.push(value.clone()),
                    "userknownhostsfile" => {
                        config.user_known_hosts_files.get_or_insert_with(|| {
                            value.split_whitespace().map(str::to_owned).collect()
                        });
                    }
                    "stricthostkeychecking" => {
                        config.strict_host_key_checking =
                            config.strict_host_key_checking.or_else(|| parse_policy(value));
                    }
                    "proxyjump" => {
                        config.proxy_jump.get_or_insert_with(|| value.clone());
                    }
                    _ => {}
                }
            }
        }
        if config.proxy_jump.as_deref() == Some("none") {
            config.proxy_jump = None;
        }
        config
    }
}

fn check_value(keyword: &str, value: &str) -> Result<(), String> {
    match keyword {
        "port" if value.parse::<u16>().map_or(true, |port| port == 0) => {
            Err(format!("Port {value:?} is not a port number"))
        }
        "stricthostkeychecking" if parse_policy(value).is_none() => {
            Err(format!("StrictHostKeyChecking {value:?}: use yes, accept-new or no"))
        }
        _ => Ok(()),
    }
}

fn parse_policy(value: &str) -> Option<HostKeyPolicy> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "ask" => Some(HostKeyPolicy::Strict),
        "accept-new" => Some(HostKeyPolicy::AcceptNew),
        "no" | "off" => Some(HostKeyPolicy::AcceptAny),
        _ => None,
    }
}

/// `Keyword value`, `Keyword=value` or `Keyword = value`.
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    (keyword, rest)
}

/// Whitespace-separated arguments; double quotes group.
fn split_args(text: &str) -> Result<Vec<String>, &'static str> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    args.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            '#' if !quoted && !started => break,
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    if started {
        args.push(current);
    }
    Ok(args)
}

/// A `Host` line matches when one positive pattern matches and no negated one does.
fn host_matches(patterns: &[String], host: &str) -> bool {
    let mut matched = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, host) {
                return false;
            }
        } else if glob(pattern, host) {
            matched = true;
        }
    }
    matched
}

/// `*` and `?` wildcards, case-insensitive like OpenSSH's host matching.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let text: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// What `%` tokens and `~` expand to.
#[derive(Debug, Clone)]
pub struct TokenContext<'a> {
    /// `%d` and `~`: the local home directory.
    pub home: &'a Path,
    /// `%h`: the remote host name (after `HostName`).
    pub host: &'a str,
    /// `%n`: the name as typed.
    pub original_host: &'a str,
    /// `%r`: the remote user.
    pub remote_user: &'a str,
    /// `%u`: the local user.
    pub local_user: &'a str,
    /// `%p`: the port.
    pub port: u16,
}

/// Expand `~/` and `%` tokens in a path setting such as `IdentityFile`.
pub fn expand_path(value: &str, ctx: &TokenContext<'_>) -> PathBuf {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('d') => out.push_str(&ctx.home.display().to_string()),
            Some('h') => out.push_str(ctx.host),
            Some('n') => out.push_str(ctx.original_host),
            Some('r') => out.push_str(ctx.remote_user),
            Some('u') => out.push_str(ctx.local_user),
            Some('p') => out.push_str(&ctx.port.to_string()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    if out == "~" {
        return ctx.home.to_owned();
    }
    match out.strip_prefix("~/") {
        Some(rest) => ctx.home.join(rest),
        None => PathBuf::from(out),
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!((old.host_name, old.port), (None, Some(22)));
    }

    #[test]
    fn equals_quotes_match_blocks_and_proxyjump() {
        let config = parse(
            "Host=a?\n  HostName = \"10.0.0.1\"\n  ProxyJump bastion\n  UserKnownHostsFile /k1 /k2\n\
             Match host a1\n  Port 1\nHost b\n  ProxyJump none\n",
        );
        let a1 = config.host("a1");
        assert_eq!(a1.host_name.as_deref(), Some("10.0.0.1"));
        assert_eq!(a1.port, None, "Match blocks are skipped");
        assert_eq!(a1.proxy_jump.as_deref(), Some("bastion"));
        assert_eq!(a1.user_known_hosts_files, Some(vec!["/k1".to_owned(), "/k2".to_owned()]));
        assert_eq!(config.host("a12").host_name, None);
        assert_eq!(config.host("b").proxy_jump, None);
    }

    #[test]
    fn bad_values_name_the_line() {
        let err = SshConfigFile::parse(Path::new("cfg"), "Host a\n Port nope\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("cfg:2:"), "{err}");
        let err =
            SshConfigFile::parse(Path::new("cfg"), "StrictHostKeyChecking maybe\n").unwrap_err();
        assert!(err.message.contains("accept-new"), "{err}");
    }

    #[test]
    fn globs() {
        for (pattern, text, expected) in [
            ("*", "x", true),
            ("n??", "n01", true),
            ("n??", "n001", false),
            ("*.internal", "a.INTERNAL", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} {text}");
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
        };
        assert_eq!(expand_path("~/.ssh/id_%r", &ctx), Path::new("/home/op/.ssh/id_deploy"));
        assert_eq!(
            expand_path("%d/k-%h-%n-%p-%u-%%", &ctx),
            Path::new("/home/op/k-10.0.0.1-web01-22-op-%")
        );
    }
}
