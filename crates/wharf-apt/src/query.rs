//! Package queries: the subset of aptly's query language people use, parsed once and
//! evaluated against many packages. Pure: no I/O.
//!
//! ```text
//! query     := and ('|' and)*              lowest precedence
//! and       := not (',' not)*
//! not       := '!' not | '(' query ')' | term
//! term      := pkg [condition] ['{' arch '}']   lower-case first letter: a package name
//!            | Field [condition]                upper-case: a control field (`Name`, `Section`…)
//!            | $Field [condition]               `$Version`, `$Architecture`, `$Source`, …
//!            | pkg_version_arch                 exactly one package
//! condition := '(' [op] value ')'               op: << <= (<) = >= (>) >> %; none means =
//! ```
//!
//! As in aptly (1.5, Debian 12's): `pkg (>= 1.2)` and `$Version (…)` compare versions as
//! dpkg does; `$Architecture (= amd64)` also matches `Architecture: all` packages; other
//! fields compare with dpkg's ordering too, applied to any text
//! ([`wharf_core::version::compare_text`]); `%` is a shell glob (`*`, `?`, `[…]`); a field
//! without condition means "the field is present". `tests/it/apt_copy.rs` checks all this
//! against aptly itself.
//! Unlike aptly, a bare `pkg` means the package called `pkg` only, not also those that
//! `Provides` it, and aptly's `~` (regular expression) is refused with a pointer to `%`.
//! Values may be quoted with `'` or `"` (backslash escapes the next character).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr as _;

use wharf_core::version::Version;

use lex::{Kind, Token, column, lex};

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query {
    expr: Expr,
}

/// Why a query does not parse: the column (1-based, in characters) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid package query {query:?} at column {column}: {message}")]
pub struct QueryError {
    pub query: String,
    pub column: usize,
    pub message: String,
}

/// A version relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Less,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    Greater,
}

impl Relation {
    /// Whether `ordering` (have compared with wanted) satisfies the relation.
    #[must_use]
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            Relation::Less => ordering == Ordering::Less,
            Relation::LessOrEqual => ordering != Ordering::Greater,
            Relation::Equal => ordering == Ordering::Equal,
            Relation::GreaterOrEqual => ordering != Ordering::Less,
            Relation::Greater => ordering == Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone)]
enum Condition {
    /// No condition: name equality, or the field is present.
    Any,
    Compare(Relation, String),
    Glob(String),
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `pkg [(op version)] [{arch}]`; the version parsed when the relation compares.
    Package {
        name: String,
        condition: Condition,
        version: Option<Version>,
        arch: Option<String>,
    },
    /// `Field [(op value)]` or `$Field [(op value)]`.
    Field {
        field: String,
        condition: Condition,
        version: Option<Version>,
    },
    /// `pkg_version_arch`.
    Key {
        name: String,
        version: String,
        arch: String,
    },
}

/// What a query looks at in one package.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub architecture: &'a str,
    /// The control stanza (without file fields is fine), for other fields.
    pub control: &'a str,
}

impl Candidate<'_> {
    fn field(&self, field: &str) -> Option<String> {
        match field {
            "Name" | "Package" => Some(self.name.to_owned()),
            "Version" => Some(self.version.to_owned()),
            "Architecture" | "$Architecture" => Some(self.architecture.to_owned()),
            "$PackageType" => Some("deb".to_owned()),
            "$Source" => Some(match control_field(self.control, "Source") {
                None => self.name.to_owned(),
                Some(source) => source.split('(').next().unwrap_or_default().trim().to_owned(),
            }),
            "$SourceVersion" => Some(
                control_field(self.control, "Source")
                    .and_then(|source| {
                        let (_, rest) = source.split_once('(')?;
                        Some(rest.rsplit_once(')')?.0.trim().to_owned())
                    })
                    .unwrap_or_else(|| self.version.to_owned()),
            ),
            other if other.starts_with('$') => None,
            other => control_field(self.control, other),
        }
    }

    /// Whether an `{arch}` or `$Architecture (= arch)` restriction admits this package:
    /// its own architecture, or `all` for any binary architecture.
    #[must_use]
    pub fn matches_architecture(&self, arch: &str) -> bool {
        self.architecture == arch || (self.architecture == "all" && arch != "source")
    }
}

/// The value of `name` in a control stanza (field names compare case-insensitively),
/// continuation lines joined with newlines.
#[must_use]
pub fn control_field(control: &str, name: &str) -> Option<String> {
    let mut lines = control.lines();
    while let Some(line) = lines.next() {
        let Some((field, value)) = line.split_once(':') else { continue };
        if line.starts_with([' ', '\t']) || !field.eq_ignore_ascii_case(name) {
            continue;
        }
        let mut out = value.trim().to_owned();
        for more in lines.by_ref() {
            if !more.starts_with([' ', '\t']) {
                break;
            }
            out.push('\n');
            out.push_str(more.trim());
        }
        return Some(out);
    }
    None
}

/// A shell glob as Go's `filepath.Match` reads one (what aptly's `%` uses): `*`, `?`,
/// `[abc]`, `[a-z]`, `[^…]`, `\x`.
#[must_use]
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    fn class(pattern: &[char], c: char) -> Option<(bool, usize)> {
        // Returns (matched, length of the class including brackets).
        let mut idx = 1;
        let negate = matches!(pattern.get(idx), Some('^' | '!'));
        if negate {
            idx += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            let start = *pattern.get(idx)?;
            if start == ']' && !first {
                return Some((matched != negate, idx + 1));
            }
            first = false;
            idx += 1;
            if pattern.get(idx) == Some(&'-') && pattern.get(idx + 1).is_some_and(|c| *c != ']') {
                let end = pattern[idx + 1];
                matched |= start <= c && c <= end;
                idx += 2;
            } else {
                matched |= start == c;
            }
        }
    }
    fn go(pattern: &[char], text: &[char]) -> bool {
        match pattern.first() {
            None => text.is_empty(),
            Some('*') => (0..=text.len()).any(|skip| go(&pattern[1..], &text[skip..])),
            Some('?') => !text.is_empty() && go(&pattern[1..], &text[1..]),
            Some('[') => match (text.first(), class(pattern, *text.first().unwrap_or(&'\0'))) {
                (Some(_), Some((true, len))) => go(&pattern[len..], &text[1..]),
                _ => false,
            },
            Some('\\') if pattern.len() > 1 => {
                text.first() == Some(&pattern[1]) && go(&pattern[2..], &text[1..])
            }
            Some(c) => text.first() == Some(c) && go(&pattern[1..], &text[1..]),
        }
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    go(&pattern, &text)
}

fn compare_versions(have: &str, want: Option<&Version>) -> Option<Ordering> {
    let have = Version::from_str(have).ok()?;
    Some(have.cmp(want?))
}

impl Expr {
    fn matches(&self, package: &Candidate<'_>) -> bool {
        match self {
            Expr::Or(left, right) => left.matches(package) || right.matches(package),
            Expr::And(left, right) => left.matches(package) && right.matches(package),
            Expr::Not(inner) => !inner.matches(package),
            Expr::Key { name, version, arch } => {
                package.name == name && package.version == version && package.architecture == arch
            }
            Expr::Package { name, condition, version, arch } => {
                package.name == name
                    && arch.as_deref().is_none_or(|arch| package.matches_architecture(arch))
                    && version_condition(package.version, condition, version.as_ref())
            }
            Expr::Field { field, condition, version } if field == "$Version" => {
                version_condition(package.version, condition, version.as_ref())
            }
            Expr::Field { field, condition: Condition::Compare(Relation::Equal, arch), .. }
                if field == "$Architecture" =>
            {
                package.matches_architecture(arch)
            }
            Expr::Field { field, condition, .. } => {
                let Some(value) = package.field(field) else { return false };
                match condition {
                    Condition::Any => true,
                    Condition::Compare(relation, want) => {
                        relation.holds(wharf_core::version::compare_text(&value, want))
                    }
                    Condition::Glob(pattern) => glob_matches(pattern, &value),
                }
            }
        }
    }
}

fn version_condition(have: &str, condition: &Condition, want: Option<&Version>) -> bool {
    match condition {
        Condition::Any => true,
        Condition::Glob(pattern) => glob_matches(pattern, have),
        Condition::Compare(relation, _) => {
            compare_versions(have, want).is_some_and(|ordering| relation.holds(ordering))
        }
    }
}

impl Query {
    /// Parse `text`; the error names the column and what was expected there.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        let tokens = lex(text)?;
        let mut parser = Parser { text, tokens, pos: 0 };
        if parser.peek().kind == Kind::End {
            return Err(parser.error(0, "the query is empty: name a package, e.g. `hello`"));
        }
        let expr = parser.or()?;
        let next = parser.peek().clone();
        if next.kind != Kind::End {
            return Err(parser.error(
                next.start,
                &format!("unexpected {}: expected `|`, `,` or the end of the query", next.show()),
            ));
        }
        Ok(Query { expr })
    }

    /// Whether the query matches `package`.
    #[must_use]
    pub fn matches(&self, package: &Candidate<'_>) -> bool {
        self.expr.matches(package)
    }
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.pos += 1;
        token
    }

    fn error(&self, byte: usize, message: &str) -> QueryError {
        QueryError {
            query: self.text.to_owned(),
            column: column(self.text, byte),
            message: message.to_owned(),
        }
    }

    fn expect(&mut self, kind: &Kind, what: &str) -> Result<(), QueryError> {
        let token = self.next();
        if token.kind == *kind {
            Ok(())
        } else {
            Err(self.error(token.start, &format!("unexpected {}: expected {what}", token.show())))
        }
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut expr = self.and()?;
        while self.peek().kind == Kind::Or {
            self.next();
            expr = Expr::Or(Box::new(expr), Box::new(self.and()?));
        }
        Ok(expr)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut expr = self.not()?;
        while self.peek().kind == Kind::And {
            self.next();
            expr = Expr::And(Box::new(expr), Box::new(self.not()?));
        }
        Ok(expr)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        match self.peek().kind {
            Kind::Not => {
                self.next();
                Ok(Expr::Not(Box::new(self.not()?)))
            }
            Kind::LeftParen => {
                self.next();
                let expr = self.or()?;
                self.expect(&Kind::RightParen, "`)` to close the group")?;
                Ok(expr)
            }
            _ => self.term(),
        }
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        let token = self.next();
        let Kind::Word(word) = token.kind else {
            return Err(self.error(
                token.start,
                &format!(
                    "unexpected {}: expected a package name, a field (`Name`, `$Version`, …), `!` or `(`",
                    token.show()
                ),
            ));
        };
        let is_field = word.starts_with('$')
            || (word.starts_with(|c: char| c.is_ascii_uppercase()) && !word.contains('_'));
        let (condition, value_at) = self.condition()?;
        let version = self.version_of(&condition, value_at, is_field.then_some(word.as_str()))?;
        if is_field {
            const SPECIAL: &[&str] =
                &["$Version", "$Architecture", "$Source", "$SourceVersion", "$PackageType"];
            if word.starts_with('$') && !SPECIAL.contains(&word.as_str()) {
                return Err(self.error(
                    token.start,
                    &format!("unknown field {word}: expected one of {}", SPECIAL.join(", ")),
                ));
            }
            return Ok(Expr::Field { field: word, condition, version });
        }
        if matches!(condition, Condition::Any)
            && let Some((name, rest)) = word.split_once('_')
            && let Some((version, arch)) = rest.rsplit_once('_')
        {
            self.check_version(version, token.start)?;
            return Ok(Expr::Key { name: name.into(), version: version.into(), arch: arch.into() });
        }
        crate::control::check_package_name(&word).map_err(|why| {
            self.error(token.start, &format!("{why} (fields start with a capital letter or `$`)"))
        })?;
        let arch = if self.peek().kind == Kind::LeftCurly {
            self.next();
            let token = self.next();
            let Kind::Word(arch) = token.kind else {
                return Err(self.error(
                    token.start,
                    &format!("unexpected {}: expected an architecture", token.show()),
                ));
            };
            self.expect(&Kind::RightCurly, "`}` after the architecture")?;
            Some(arch)
        } else {
            None
        };
        Ok(Expr::Package { name: word, condition, version, arch })
    }

    /// `(op value)` if one follows, with the byte offset of the value.
    fn condition(&mut self) -> Result<(Condition, usize), QueryError> {
        if self.peek().kind != Kind::LeftParen {
            return Ok((Condition::Any, 0));
        }
        self.next();
        let op = match self.peek().kind {
            Kind::Op(op) => {
                let at = self.next().start;
                if op == "~" {
                    return Err(self.error(
                        at,
                        "regular expressions (`~`) are not supported: use a glob, `(% pattern*)`",
                    ));
                }
                op
            }
            _ => "=",
        };
        let token = self.next();
        let Kind::Word(value) = token.kind else {
            return Err(self.error(
                token.start,
                &format!("unexpected {}: expected a value after `{op}`", token.show()),
            ));
        };
        self.expect(&Kind::RightParen, "`)` to close the condition")?;
        let relation = match op {
            "<<" => Relation::Less,
            "<=" => Relation::LessOrEqual,
            ">=" => Relation::GreaterOrEqual,
            ">>" => Relation::Greater,
            "%" => return Ok((Condition::Glob(value), token.start)),
            _ => Relation::Equal,
        };
        Ok((Condition::Compare(relation, value), token.start))
    }

    /// The version a package or `$Version` condition compares with, checked here so a
    /// typo is an error rather than a query that matches nothing.
    fn version_of(
        &self,
        condition: &Condition,
        at: usize,
        field: Option<&str>,
    ) -> Result<Option<Version>, QueryError> {
        match (condition, field) {
            (Condition::Compare(_, value), None | Some("$Version")) => {
                self.check_version(value, at).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn check_version(&self, value: &str, at: usize) -> Result<Version, QueryError> {
        Version::from_str(value)
            .map_err(|err| self.error(at, &format!("{err}: expected a version")))
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::Less => "<<",
            Relation::LessOrEqual => "<=",
            Relation::Equal => "=",
            Relation::GreaterOrEqual => ">=",
            Relation::Greater => ">>",
        })
    }
}

mod lex;
#[cfg(test)]
mod tests;
