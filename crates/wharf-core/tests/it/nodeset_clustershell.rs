//! Differential test: Wharf's node sets against the real ClusterShell (Debian package
//! `clustershell`). Thousands of random expressions from a fixed-seed PRNG are evaluated
//! by one python3 process running `ClusterShell.NodeSet.NodeSet`, and a sample through
//! the `nodeset` command itself; expand, fold and count must match exactly, and
//! expressions ClusterShell rejects must be rejected.

use std::io::Write as _;
use std::process::{Command, Stdio};

use wharf_core::nodeset::{NoGroups, NodeSet};

const N_EXPRESSIONS: usize = 4_000;

/// ClusterShell's answer for one expression: `Ok((expand, fold, count))` or the error.
type Outcome = Result<(String, String, usize), String>;

const PYTHON_SCRIPT: &str = r#"
import sys
from ClusterShell.NodeSet import NodeSet
out = []
for line in sys.stdin:
    expr = line.rstrip("\n")
    try:
        ns = NodeSet(expr)
        out.append("OK\t%s\t%s\t%d" % (" ".join(ns), str(ns), len(ns)))
    except Exception as exc:
        out.append("ERR\t%s: %s" % (type(exc).__name__, str(exc).replace("\n", " ")))
sys.stdout.write("\n".join(out) + "\n")
"#;

/// xorshift64*: tiny, deterministic, good enough to spread expressions.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PREFIXES: &[&str] = &["n", "node", "r", "web", "db-", "a1b", "cn7x", "x", "c", "gpu-"];
const PLAIN: &[&str] = &["login", "mgmt", "head", "a1b2c3", "n07x12", "x"];
const MALFORMED: &[&str] = &[
    "n[1-",
    "n[3-1]",
    "n[]",
    "n]1",
    "n[1-2",
    "n[01-5]",
    "n[1-2][3]",
    "a[1-3/0]",
    "n[1-9/2]0",
    "n[a-b]",
    "[",
    "]",
    "n[1,,2]",
    "n[--1]",
    "n[1-2-3-4-5]",
];

fn number(rng: &mut Prng) -> String {
    let max = if rng.chance(80) { 16 } else { 120 };
    let value = rng.below(max);
    match rng.below(6) {
        0 => format!("{value:02}"),
        1 => format!("{value:03}"),
        _ => value.to_string(),
    }
}

fn range_item(rng: &mut Prng) -> String {
    match rng.below(8) {
        0 | 1 => number(rng),
        2 => {
            let a = rng.below(12);
            let b = a + rng.below(12);
            let step = 1 + rng.below(4);
            format!("{a}-{b}/{step}")
        }
        3 => {
            let a = rng.below(12);
            let b = a + rng.below(12);
            format!("{a:02}-{b:02}")
        }
        _ => {
            let a = rng.below(14);
            let b = a + rng.below(10);
            format!("{a}-{b}")
        }
    }
}

fn bracket(rng: &mut Prng) -> String {
    let n_items = 1 + rng.below(3);
    let items: Vec<String> = (0..n_items).map(|_| range_item(rng)).collect();
    format!("[{}]", items.join(","))
}

fn term(rng: &mut Prng) -> String {
    match rng.below(20) {
        0 => rng.pick(PLAIN).to_owned(),
        1 if rng.chance(30) => rng.pick(MALFORMED).to_owned(),
        2 | 3 => format!("{}{}", rng.pick(PREFIXES), number(rng)),
        4 | 5 => format!("{}{}n{}", rng.pick(&["r", "rack"]), bracket(rng), bracket(rng)),
        6 => format!("r{}c{}n{}", bracket(rng), bracket(rng), bracket(rng)),
        7 => format!("r{}n{}", number(rng), bracket(rng)),
        8 => format!("r{}n{}", bracket(rng), number(rng)),
        9 => format!("{}{}{}", rng.pick(PREFIXES), rng.below(3), bracket(rng)),
        10 => format!("{}{}{}", rng.pick(PREFIXES), bracket(rng), rng.below(3)),
        11 => format!("{}{}-ib", rng.pick(PREFIXES), bracket(rng)),
        12 | 13 => {
            let (r, n) = (rng.below(4), rng.below(4));
            format!("r[{r}-{}]n[{n}-{}]", r + rng.below(3), n + rng.below(3))
        }
        _ => format!("{}{}", rng.pick(PREFIXES), bracket(rng)),
    }
}

fn expression(rng: &mut Prng) -> String {
    let n_terms = 1 + rng.below(5);
    let mut expr = term(rng);
    for _ in 1..n_terms {
        let op = if rng.chance(40) { "," } else { rng.pick(&[",", "!", "&", "^"]) };
        let (before, after) = if rng.chance(10) { (" ", " ") } else { ("", "") };
        expr.push_str(&format!("{before}{op}{after}{}", term(rng)));
    }
    if rng.chance(3) {
        expr.push(',');
    }
    if rng.chance(3) {
        expr = format!("  {expr} ");
    }
    expr
}

fn python() -> &'static str {
    // Debian's interpreter first: a pyenv shim on PATH may not see dist-packages.
    if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" }
}

fn clustershell(exprs: &[String]) -> Vec<Outcome> {
    let mut child = Command::new(python())
        .args(["-c", PYTHON_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): install Debian package clustershell")
        });
    let mut stdin = child.stdin.take().expect("stdin");
    let input = exprs.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("python3 output");
    writer.join().expect("writer thread").expect("write expressions");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python3 with ClusterShell failed ({stderr}): install Debian package clustershell"
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let outcomes: Vec<Outcome> = stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields[..] {
                ["OK", expand, fold, count] => {
                    Ok((expand.to_owned(), fold.to_owned(), count.parse().expect("count")))
                }
                _ => Err(line.to_owned()),
            }
        })
        .collect();
    assert_eq!(outcomes.len(), exprs.len(), "one ClusterShell answer per expression");
    outcomes
}

fn wharf(expr: &str) -> Outcome {
    NodeSet::parse(expr, &NoGroups)
        .map(|set| (set.iter().collect::<Vec<_>>().join(" "), set.fold(), set.len()))
        .map_err(|e| e.to_string())
}

/// Compares; `None` when both agree (two errors agree whatever their messages).
fn mismatch(expr: &str, theirs: &Outcome, ours: &Outcome) -> Option<String> {
    match (theirs, ours) {
        (Ok(a), Ok(b)) if a == b => None,
        (Err(_), Err(_)) => None,
        _ => Some(format!("{expr:?}\n  clustershell: {theirs:?}\n  wharf:        {ours:?}")),
    }
}

fn expressions() -> Vec<String> {
    let mut rng = Prng(0x5EED_2024_C1A5_7E11);
    (0..N_EXPRESSIONS).map(|_| expression(&mut rng)).collect()
}

#[test]
fn random_expressions_match_clustershell_library() {
    let exprs = expressions();
    let theirs = clustershell(&exprs);
    let mut mismatches = Vec::new();
    let (mut n_ok, mut n_err) = (0, 0);
    for (expr, theirs) in exprs.iter().zip(&theirs) {
        if theirs.is_ok() {
            n_ok += 1
        } else {
            n_err += 1
        }
        if let Some(m) = mismatch(expr, theirs, &wharf(expr)) {
            mismatches.push(m);
        }
    }
    assert!(
        n_ok > N_EXPRESSIONS / 2 && n_err > 50,
        "generator balance: {n_ok} valid, {n_err} rejected"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} expressions differ from ClusterShell:\n{}",
        mismatches.len(),
        exprs.len(),
        mismatches.join("\n")
    );
}

fn nodeset_command(flag: &str, expr: &str) -> Result<String, String> {
    let output = Command::new("nodeset").args([flag, expr]).output().unwrap_or_else(|e| {
        panic!("cannot run nodeset ({e}): install Debian package clustershell")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).trim_end_matches('\n').to_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn sample_matches_nodeset_command() {
    let exprs = expressions();
    let mut mismatches = Vec::new();
    for expr in exprs.iter().step_by(N_EXPRESSIONS / 20).take(20) {
        let theirs: Outcome = (|| {
            let expand = nodeset_command("-e", expr)?;
            let fold = nodeset_command("-f", expr)?;
            let count = nodeset_command("-c", expr)?;
            Ok((expand, fold, count.parse().map_err(|_| count.clone())?))
        })();
        if let Some(m) = mismatch(expr, &theirs, &wharf(expr)) {
            mismatches.push(m);
        }
    }
    assert!(mismatches.is_empty(), "differs from the nodeset command:\n{}", mismatches.join("\n"));
}
