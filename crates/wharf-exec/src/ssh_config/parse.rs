//! Reading config files into lines, as `readconf.c` reads them: `Keyword value`,
//! `Keyword=value`, double quotes, comments, and `Include` (globs, relative paths under
//! `~/.ssh` for user files and `/etc/ssh` for the system file) resolved when the file is
//! loaded. Values are checked here even in blocks that will not apply, as OpenSSH does.

use std::path::{Path, PathBuf};

use super::matching::{Criterion, parse_match};
use super::{SshConfigError, parse_flag, parse_policy};

/// One meaningful line of a config file.
#[derive(Debug, Clone)]
pub(crate) enum Line {
    Host(Vec<String>),
    Match(Vec<Criterion>),
    /// The files an `Include` line named, parsed, in glob order.
    Include(Vec<ConfigFile>),
    Setting(Setting),
}

/// `Keyword args…` with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Setting {
    /// Lowercased.
    pub(crate) keyword: String,
    pub(crate) args: Vec<String>,
    /// The rest of the line after the keyword, unsplit (`ProxyCommand` takes it whole).
    pub(crate) raw: String,
    pub(crate) file: std::sync::Arc<Path>,
    pub(crate) line: usize,
}

/// A parsed file: its lines with their numbers.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFile {
    pub(crate) path: std::sync::Arc<Path>,
    pub(crate) lines: Vec<(usize, Line)>,
}

/// Where `~` and relative `Include` paths point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncludeBase<'a> {
    /// `None`: a file given as text alone; relative or `~` includes are refused.
    pub(crate) home: Option<&'a Path>,
    /// A user file (`~/.ssh/config`, `-F`): relative includes live in `~/.ssh`; a system
    /// file's in `/etc/ssh`.
    pub(crate) user: bool,
}

const MAX_INCLUDE_DEPTH: usize = 16;

pub(crate) fn load_file(
    path: &Path,
    base: IncludeBase<'_>,
    depth: usize,
) -> Result<Option<ConfigFile>, SshConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_text(path, &text, base, depth).map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(SshConfigError {
            file: path.to_owned(),
            line: 0,
            message: format!("cannot read: {err}; fix its permissions or remove the file"),
        }),
    }
}

pub(crate) fn parse_text(
    file: &Path,
    text: &str,
    base: IncludeBase<'_>,
    depth: usize,
) -> Result<ConfigFile, SshConfigError> {
    let shared: std::sync::Arc<Path> = file.into();
    let mut lines = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error =
            |message: String| SshConfigError { file: file.to_owned(), line: line_no, message };
        let (keyword, rest) = split_keyword(line);
        let keyword = keyword.to_ascii_lowercase();
        let args = split_args(rest).map_err(|msg| error(msg.to_owned()))?;
        let parsed = match keyword.as_str() {
            "host" => {
                if args.is_empty() {
                    return Err(error("Host needs at least one pattern".to_owned()));
                }
                Line::Host(args)
            }
            "match" => Line::Match(parse_match(&args).map_err(error)?),
            "include" => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(error(format!(
                        "more than {MAX_INCLUDE_DEPTH} nested Include levels (an Include loop?)"
                    )));
                }
                let mut files = Vec::new();
                for arg in &args {
                    for path in include_paths(arg, base).map_err(error)? {
                        if let Some(parsed) = load_file(&path, base, depth + 1)? {
                            files.push(parsed);
                        }
                    }
                }
                Line::Include(files)
            }
            _ => {
                if args.is_empty() {
                    return Err(error(format!("{keyword} needs a value")));
                }
                check_value(&keyword, &args).map_err(error)?;
                Line::Setting(Setting {
                    keyword,
                    args,
                    raw: rest.to_owned(),
                    file: shared.clone(),
                    line: line_no,
                })
            }
        };
        lines.push((line_no, parsed));
    }
    Ok(ConfigFile { path: shared, lines })
}

/// The files an `Include` argument names: anchored as OpenSSH anchors it, then globbed
/// (sorted, as glob(3) returns them). A pattern matching nothing is no error.
fn include_paths(arg: &str, base: IncludeBase<'_>) -> Result<Vec<PathBuf>, String> {
    if arg.starts_with('~') && !base.user {
        return Err(format!(
            "Include {arg}: a system file cannot include a path under ~; use an absolute path"
        ));
    }
    let anchored = if arg.starts_with('/') {
        PathBuf::from(arg)
    } else {
        let home = base.home.ok_or_else(|| {
            format!("Include {arg}: a relative path needs a home directory; use an absolute path")
        })?;
        let relative = arg.strip_prefix("~/").or_else(|| (arg == "~").then_some(""));
        match relative {
            Some(rest) => home.join(rest),
            None if base.user => home.join(".ssh").join(arg),
            None => Path::new("/etc/ssh").join(arg),
        }
    };
    Ok(glob_paths(&anchored))
}

/// Expand `*`, `?` and `[…]`-free globs component by component, sorted.
fn glob_paths(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for component in pattern.components().skip(1) {
        let part = component.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for dir in &found {
            if !part.contains(['*', '?']) {
                let path = dir.join(part.as_ref());
                if path.exists() {
                    next.push(path);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut names: Vec<String> = entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.') || part.starts_with('.'))
                .filter(|name| super::matching::glob_case(&part, name, false))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| dir.join(name)));
        }
        found = next;
    }
    found.retain(|path| !path.is_dir());
    found
}

/// Values OpenSSH refuses are refused here too, with what to write instead.
fn check_value(keyword: &str, args: &[String]) -> Result<(), String> {
    let value = args[0].as_str();
    match keyword {
        "port" if value.parse::<u16>().map_or(true, |port| port == 0) => {
            Err(format!("Port {value:?} is not a port number (1-65535)"))
        }
        "stricthostkeychecking" if parse_policy(value).is_none() => {
            Err(format!("StrictHostKeyChecking {value:?}: use yes, accept-new or no"))
        }
        "checkhostip" | "hashknownhosts" | "identitiesonly" | "batchmode"
            if parse_flag(value).is_none() =>
        {
            Err(format!("{keyword} {value:?}: use yes or no"))
        }
        "connecttimeout" if value != "none" && super::parse_seconds(value).is_none() => {
            Err(format!("ConnectTimeout {value:?}: give seconds (e.g. 10, 1m) or none"))
        }
        "serveraliveinterval" if super::parse_seconds(value).is_none() => {
            Err(format!("ServerAliveInterval {value:?}: give seconds (e.g. 15, 1m)"))
        }
        "serveralivecountmax" if value.parse::<u32>().is_err() => {
            Err(format!("ServerAliveCountMax {value:?}: give a whole number"))
        }
        "userknownhostsfile" | "globalknownhostsfile"
            if args.len() > 1 && args.iter().any(|arg| arg.eq_ignore_ascii_case("none")) =>
        {
            Err(format!("{keyword}: \"none\" must appear alone"))
        }
        "ciphers" | "kexalgorithms" | "hostkeyalgorithms" => {
            super::algorithms::check_spec(keyword, value)
        }
        _ => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_resolve_relative_to_the_ssh_dir_and_glob_sorted() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir_all(ssh.join("conf.d")).unwrap();
        std::fs::write(ssh.join("conf.d/b.conf"), "Port 2\n").unwrap();
        std::fs::write(ssh.join("conf.d/a.conf"), "Port 1\nInclude nested\n").unwrap();
        std::fs::write(ssh.join("nested"), "User n\n").unwrap();
        let base = IncludeBase { home: Some(home.path()), user: true };
        let file =
            parse_text(Path::new("cfg"), "Include conf.d/*.conf missing*\n", base, 0).unwrap();
        let Line::Include(files) = &file.lines[0].1 else { panic!("{file:?}") };
        assert_eq!(files.len(), 2);
        assert!(matches!(&files[0].lines[1].1, Line::Include(inner) if inner.len() == 1));
        let err = parse_text(
            Path::new("sys"),
            "Include ~/x\n",
            IncludeBase { home: None, user: false },
            0,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("sys:1:"), "{err}");
    }

    #[test]
    fn include_loops_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loop");
        std::fs::write(&path, format!("Include {}\n", path.display())).unwrap();
        let err = load_file(&path, IncludeBase { home: None, user: true }, 0).unwrap_err();
        assert!(err.message.contains("Include loop"), "{err}");
    }
}
