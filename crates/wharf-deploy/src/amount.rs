//! Counts and percentages of nodes: batch sizes and failure limits.

use std::fmt;
use std::str::FromStr;

/// A number of nodes, absolute (`5`) or relative to a stage's node count (`25%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Count(usize),
    /// 0 to 100.
    Percent(u8),
}

impl Amount {
    /// No node at all: the default failure limit.
    pub const ZERO: Amount = Amount::Count(0);

    /// How many of `total` nodes this is. Percentages round up for batch sizes (25% of 10
    /// is 3 per batch); see [`exceeds`] for failure limits, which round down.
    #[must_use]
    pub fn batch_size(self, total: usize) -> usize {
        let size = match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => (total * usize::from(p)).div_ceil(100),
        };
        size.clamp(1, total.max(1))
    }
}

impl FromStr for Amount {
    type Err = String;

    fn from_str(text: &str) -> Result<Amount, String> {
        let invalid = |why: &str| {
            format!(
                "invalid amount {text:?}: {why} (write a count like \"5\" or a percentage like \"25%\")"
            )
        };
        let text = text.trim();
        if let Some(number) = text.strip_suffix('%') {
            let p: u8 = number.parse().map_err(|_| invalid("not a whole percentage"))?;
            if p > 100 {
                return Err(invalid("more than 100%"));
            }
            return Ok(Amount::Percent(p));
        }
        text.parse().map(Amount::Count).map_err(|_| invalid("not a whole number"))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Count(n) => write!(f, "{n}"),
            Amount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Split `nodes` (kept in their order) into batches of `size`; `None` is one batch. Every
/// batch has at least one node; no nodes, no batches.
#[must_use]
pub fn batches(nodes: &[String], size: Option<Amount>) -> Vec<Vec<String>> {
    let size = size.map_or(nodes.len(), |size| size.batch_size(nodes.len())).max(1);
    nodes.chunks(size).map(<[String]>::to_vec).collect()
}

/// Whether `failed` of `total` nodes is past the limit `max_failures`. Percentages round
/// down (10% of 5 nodes tolerates no failure): a limit never tolerates more than it says.
#[must_use]
pub fn exceeds(max_failures: Amount, failed: usize, total: usize) -> bool {
    let allowed = match max_failures {
        Amount::Count(n) => n,
        Amount::Percent(p) => total * usize::from(p) / 100,
    };
    failed > allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Case {
        Parse(&'static str, Result<Amount, &'static str>),
        Batches(usize, Option<&'static str>, &'static [usize]),
        Exceeds(&'static str, usize, usize, bool),
    }
    use Case::*;

    fn check(case: &Case) {
        match case {
            Parse(text, want) => {
                let got = text.parse::<Amount>();
                match (want, &got) {
                    (Ok(want), Ok(got)) => {
                        assert_eq!(got, want, "{text}");
                        assert_eq!(got.to_string().parse::<Amount>().as_ref(), Ok(got));
                    }
                    (Err(why), Err(err)) => assert!(err.contains(why), "{text}: {err}"),
                    _ => panic!("{text}: got {got:?}, want {want:?}"),
                }
            }
            Batches(n, size, want) => {
                let nodes: Vec<String> = (1..=*n).map(|i| format!("n{i:02}")).collect();
                let size = size.map(|s| s.parse().unwrap());
                let got = batches(&nodes, size);
                let lens: Vec<usize> = got.iter().map(Vec::len).collect();
                assert_eq!(lens, *want, "{n} nodes by {size:?}");
                assert_eq!(got.concat(), nodes, "order kept, nothing lost");
            }
            Exceeds(limit, failed, total, want) => {
                let got = exceeds(limit.parse().unwrap(), *failed, *total);
                assert_eq!(got, *want, "{failed}/{total} against {limit}");
            }
        }
    }

    #[test]
    fn amounts() {
        for case in [
            Parse("5", Ok(Amount::Count(5))),
            Parse("0", Ok(Amount::Count(0))),
            Parse("25%", Ok(Amount::Percent(25))),
            Parse(" 100% ", Ok(Amount::Percent(100))),
            Parse("101%", Err("more than 100%")),
            Parse("2.5%", Err("not a whole percentage")),
            Parse("-1", Err("not a whole number")),
            Parse("five", Err("not a whole number")),
            Parse("", Err("not a whole number")),
            Batches(10, Some("25%"), &[3, 3, 3, 1]),
            Batches(10, None, &[10]),
            Batches(10, Some("3"), &[3, 3, 3, 1]),
            Batches(10, Some("100%"), &[10]),
            Batches(10, Some("50"), &[10]),
            Batches(3, Some("1%"), &[1, 1, 1]),
            Batches(4, Some("0%"), &[1, 1, 1, 1]),
            Batches(1, Some("25%"), &[1]),
            Batches(0, Some("25%"), &[]),
            Batches(0, None, &[]),
            Exceeds("0", 0, 10, false),
            Exceeds("0", 1, 10, true),
            Exceeds("2", 2, 10, false),
            Exceeds("2", 3, 10, true),
            Exceeds("10%", 1, 10, false),
            Exceeds("10%", 2, 10, true),
            Exceeds("10%", 1, 5, true),
            Exceeds("100%", 5, 5, false),
        ] {
            check(&case);
        }
    }
}
