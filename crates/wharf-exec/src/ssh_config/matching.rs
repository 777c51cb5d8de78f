//! Which lines apply to a host: `Host` patterns and `Match` criteria (`all`, `canonical`,
//! `final`, `host`, `originalhost`, `user`, `localuser`, `exec`, each negatable), with
//! OpenSSH's wildcard and pattern-list rules.

/// One `Match` criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Criterion {
    pub(crate) negate: bool,
    pub(crate) kind: CriterionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CriterionKind {
    All,
    Canonical,
    Final,
    Host(String),
    OriginalHost(String),
    User(String),
    LocalUser(String),
    /// A command for `sh -c`, tokens not yet expanded.
    Exec(String),
}

/// Parse the arguments of a `Match` line.
pub(crate) fn parse_match(args: &[String]) -> Result<Vec<Criterion>, String> {
    let mut criteria = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (negate, name) = match arg.strip_prefix('!') {
            Some(name) => (true, name),
            None => (false, arg.as_str()),
        };
        let name = name.to_ascii_lowercase();
        let kind = match name.as_str() {
            "all" => CriterionKind::All,
            "canonical" => CriterionKind::Canonical,
            "final" => CriterionKind::Final,
            "host" | "originalhost" | "user" | "localuser" | "exec" => {
                let value = args.next().cloned().ok_or_else(|| {
                    format!("Match {name} needs a value (e.g. Match {name} web*)")
                })?;
                match name.as_str() {
                    "host" => CriterionKind::Host(value),
                    "originalhost" => CriterionKind::OriginalHost(value),
                    "user" => CriterionKind::User(value),
                    "localuser" => CriterionKind::LocalUser(value),
                    _ => CriterionKind::Exec(value),
                }
            }
            other => {
                return Err(format!(
                    "unsupported Match criterion {other:?}: use all, canonical, final, host, \
                     originalhost, user, localuser or exec"
                ));
            }
        };
        criteria.push(Criterion { negate, kind });
    }
    if criteria.is_empty() {
        return Err("Match needs at least one criterion (e.g. Match host web*)".to_owned());
    }
    let all_at = criteria.iter().position(|c| c.kind == CriterionKind::All);
    if all_at.is_some_and(|idx| idx + 1 != criteria.len() || idx > 1) {
        return Err("Match all cannot be combined with other criteria".to_owned());
    }
    Ok(criteria)
}

/// What `Match` criteria are evaluated against.
pub(crate) struct MatchFacts<'a> {
    /// The host so far (`HostName` applied, or the name as typed).
    pub(crate) host: &'a str,
    pub(crate) original_host: &'a str,
    /// The remote user so far (`User`, or the local user).
    pub(crate) remote_user: &'a str,
    pub(crate) local_user: &'a str,
    pub(crate) final_pass: bool,
}

/// Evaluate `criteria`; `exec` runs the (already token-expanded by `expand`) command only
/// while every earlier criterion held, as OpenSSH does. `want_final` is set by `final`.
pub(crate) fn match_criteria(
    criteria: &[Criterion],
    facts: &MatchFacts<'_>,
    want_final: &mut bool,
    exec: &mut dyn FnMut(&str) -> Result<bool, String>,
) -> Result<bool, String> {
    let mut result = true;
    for criterion in criteria {
        let matched = match &criterion.kind {
            CriterionKind::All => return Ok(result && !criterion.negate),
            CriterionKind::Canonical => facts.final_pass,
            CriterionKind::Final => {
                *want_final = true;
                facts.final_pass
            }
            CriterionKind::Host(list) => {
                pattern_list(&facts.host.to_ascii_lowercase(), list, true) == 1
            }
            CriterionKind::OriginalHost(list) => {
                pattern_list(&facts.original_host.to_ascii_lowercase(), list, true) == 1
            }
            CriterionKind::User(list) => pattern_list(facts.remote_user, list, false) == 1,
            CriterionKind::LocalUser(list) => pattern_list(facts.local_user, list, false) == 1,
            CriterionKind::Exec(command) => {
                if !result {
                    continue;
                }
                exec(command)?
            }
        };
        if matched == criterion.negate {
            result = false;
        }
    }
    Ok(result)
}

/// A `Host` line applies when one pattern matches the host and no negated one does.
/// Case-sensitive, as OpenSSH's `match_pattern`.
pub(crate) fn host_line_matches(patterns: &[String], host: &str) -> bool {
    let mut matched = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob_case(negated, host, false) {
                return false;
            }
        } else if glob_case(pattern, host, false) {
            matched = true;
        }
    }
    matched
}

/// OpenSSH's `match_pattern_list`: comma-separated patterns; 1 when a positive one
/// matches, -1 when a negated one does (that wins), 0 otherwise.
pub(crate) fn pattern_list(text: &str, list: &str, fold: bool) -> i32 {
    let mut found = 0;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(pattern) => (true, pattern),
            None => (false, pattern),
        };
        let pattern = if fold { pattern.to_ascii_lowercase() } else { pattern.to_owned() };
        if glob_case(&pattern, text, false) {
            if negated {
                return -1;
            }
            found = 1;
        }
    }
    found
}

/// `*` and `?` wildcards, case-insensitive like OpenSSH's host matching in known_hosts.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    glob_case(pattern, text, true)
}

/// `*` and `?` wildcards; `fold` compares ASCII case-insensitively.
pub(crate) fn glob_case(pattern: &str, text: &str, fold: bool) -> bool {
    let lower = |s: &str| if fold { s.to_ascii_lowercase() } else { s.to_owned() };
    let pattern: Vec<char> = lower(pattern).chars().collect();
    let text: Vec<char> = lower(text).chars().collect();
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!glob_case("abc", "ABC", false));
    }

    #[test]
    fn pattern_lists_and_host_lines() {
        for (text, list, expected) in [
            ("web1", "web*,db*", 1),
            ("web1", "web*,!web1", -1),
            ("mail", "web*", 0),
            ("x", "!y", 0),
        ] {
            assert_eq!(pattern_list(text, list, false), expected, "{text} {list}");
        }
        let patterns = ["web*".to_owned(), "!web-old".to_owned()];
        assert!(host_line_matches(&patterns, "web1"));
        assert!(!host_line_matches(&patterns, "web-old"));
        assert!(!host_line_matches(&patterns, "WEB1"));
    }

    fn check(line: &str, facts: &MatchFacts<'_>, exec_answer: bool) -> (bool, bool, usize) {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let criteria = parse_match(&args).unwrap();
        let mut want_final = false;
        let mut runs = 0;
        let mut exec = |_: &str| {
            runs += 1;
            Ok(exec_answer)
        };
        let matched = match_criteria(&criteria, facts, &mut want_final, &mut exec).unwrap();
        (matched, want_final, runs)
    }

    #[test]
    fn match_criteria_table() {
        let facts = MatchFacts {
            host: "10.0.0.5",
            original_host: "web5",
            remote_user: "deploy",
            local_user: "op",
            final_pass: false,
        };
        for (line, exec_answer, expected) in [
            ("all", false, (true, false, 0)),
            ("!all", false, (false, false, 0)),
            ("host 10.0.0.*", false, (true, false, 0)),
            ("host web5", false, (false, false, 0)),
            ("originalhost web*,!web9", false, (true, false, 0)),
            ("user deploy localuser op", false, (true, false, 0)),
            ("!user deploy", false, (false, false, 0)),
            ("final host 10.*", false, (false, true, 0)),
            ("!final", false, (true, true, 0)),
            ("canonical", false, (false, false, 0)),
            ("host nope exec true", true, (false, false, 0)),
            ("host 10.* exec x", true, (true, false, 1)),
            ("host 10.* !exec x", true, (false, false, 1)),
        ] {
            assert_eq!(check(line, &facts, exec_answer), expected, "Match {line}");
        }
    }

    #[test]
    fn bad_match_lines_say_what_to_write() {
        for (line, needle) in [
            ("host", "needs a value"),
            ("address 1.2.3.4", "unsupported Match criterion"),
            ("all host x", "cannot be combined"),
        ] {
            let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
            let err = parse_match(&args).unwrap_err();
            assert!(err.contains(needle), "{line}: {err}");
        }
        assert!(parse_match(&[]).is_err());
    }
}
