//! `wharf version sort|compare`: Debian version ordering, as dpkg does it.

use anyhow::Context as _;
use wharf_core::version::Version;

use crate::cli::{CompareOp, VersionCommand};
use crate::exit::{FAILURE, SUCCESS, UsageError};
use crate::output;

pub(crate) fn run(command: VersionCommand) -> anyhow::Result<u8> {
    match command {
        VersionCommand::Sort(args) => sort(std::io::stdin().lock(), args.reverse),
        VersionCommand::Compare(args) => compare(&args.a, args.op, &args.b),
    }
}

/// Sort stdin's versions; blank lines are skipped, an invalid version names its line.
fn sort(input: impl std::io::BufRead, reverse: bool) -> anyhow::Result<u8> {
    let mut versions = Vec::new();
    for (idx, line) in input.lines().enumerate() {
        let line = line.context("cannot read versions from stdin")?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let version: Version = text.parse().with_context(|| {
            UsageError(format!("line {} of stdin is not a Debian version", idx + 1))
        })?;
        versions.push(version);
    }
    // `sort_by` is stable: equal versions (`1.0`, `0:1.0`) keep their input order.
    if reverse {
        versions.sort_by(|a, b| b.cmp(a));
    } else {
        versions.sort();
    }
    for version in &versions {
        output::line(version);
    }
    Ok(SUCCESS)
}

fn compare(a: &str, op: CompareOp, b: &str) -> anyhow::Result<u8> {
    let a: Version = a.parse()?;
    let b: Version = b.parse()?;
    let ordering = a.cmp(&b);
    let holds = match op {
        CompareOp::Lt => ordering.is_lt(),
        CompareOp::Le => ordering.is_le(),
        CompareOp::Eq => ordering.is_eq(),
        CompareOp::Ne => ordering.is_ne(),
        CompareOp::Ge => ordering.is_ge(),
        CompareOp::Gt => ordering.is_gt(),
    };
    Ok(if holds { SUCCESS } else { FAILURE })
}
