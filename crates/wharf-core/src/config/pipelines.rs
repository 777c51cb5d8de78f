//! `[[pipelines]]`: the stages of a deploy, as written. `wharf-deploy` checks them against
//! the inventory (unknown services, bad batch sizes, a `run` without `command`, …) and
//! resolves them; this module only knows their shape.

use std::fmt;

use serde::Deserialize;

use super::Spanned;

/// `[[pipelines]]`: a named list of stages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub name: Spanned<String>,
    pub stages: Spanned<Vec<StageConfig>>,
}

/// One `[[pipelines.stages]]` table; which keys apply depends on `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub name: Spanned<String>,
    pub kind: Spanned<StageKind>,
    /// `run`: the command, run with `sh -c` on every node of the stage.
    pub command: Option<Spanned<String>>,
    /// `restart`: service names, kinds (`rpc`) or `tier:N`.
    pub services: Option<Spanned<Vec<String>>>,
    /// `http-check`: the URL, the expected status (default 200) and body substring, and
    /// the timeout (a duration, default 10s).
    pub url: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<u16>>,
    pub expect_body: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// `wait`: how long, e.g. `"5m"`.
    pub duration: Option<Spanned<String>>,
    /// Node-set expression, intersected with the environment's nodes. Default: all of them.
    pub nodes: Option<Spanned<String>>,
    /// Nodes per batch: a count (`5`, `"5"`) or a percentage (`"25%"`). Default: all.
    pub batch: Option<Spanned<AmountValue>>,
    /// Failed nodes the stage tolerates: a count or a percentage. Default 0.
    pub max_failures: Option<Spanned<AmountValue>>,
    #[serde(default)]
    pub when: StageWhen,
    /// Once this stage ran, rolling back past this deploy needs `--force REASON`.
    #[serde(default)]
    pub point_of_no_return: bool,
}

/// What a stage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageKind {
    Check,
    Run,
    Install,
    Restart,
    HttpCheck,
    Wait,
    Manual,
}

impl fmt::Display for StageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StageKind::Check => "check",
            StageKind::Run => "run",
            StageKind::Install => "install",
            StageKind::Restart => "restart",
            StageKind::HttpCheck => "http-check",
            StageKind::Wait => "wait",
            StageKind::Manual => "manual",
        })
    }
}

/// When a stage runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageWhen {
    #[default]
    Always,
    /// Only in environments with `canary = true`; skipped elsewhere.
    CanaryOnly,
    /// Waits for an operator to continue it.
    Manual,
}

/// A count or a percentage as written: `5` or `"5"` or `"25%"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AmountValue {
    Count(i64),
    Text(String),
}

impl fmt::Display for AmountValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountValue::Count(n) => write!(f, "{n}"),
            AmountValue::Text(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, ConfigError};

    fn parse_err(text: &str) -> ConfigError {
        Config::parse(Path::new("wharf.toml"), text).expect_err("config should be rejected")
    }

    #[test]
    fn pipelines_parse_with_their_stages() {
        let config = Config::parse(
            Path::new("wharf.toml"),
            "[[pipelines]]\nname = \"upgrade\"\n\n[[pipelines.stages]]\nname = \"prepare\"\nkind = \"check\"\n\n[[pipelines.stages]]\nname = \"web\"\nkind = \"install\"\nbatch = \"25%\"\nmax_failures = 1\nwhen = \"canary-only\"\npoint_of_no_return = true\n",
        )
        .unwrap();
        let stages = config.pipelines[0].stages.get_ref();
        assert_eq!(stages.len(), 2);
        assert_eq!(*stages[1].kind.get_ref(), StageKind::Install);
        assert_eq!(stages[1].batch.as_ref().unwrap().get_ref(), &AmountValue::Text("25%".into()));
        assert_eq!(stages[1].max_failures.as_ref().unwrap().get_ref(), &AmountValue::Count(1));
        assert_eq!(stages[1].when, StageWhen::CanaryOnly);
        assert!(stages[1].point_of_no_return && !stages[0].point_of_no_return);
        assert_eq!(stages[0].when, StageWhen::Always);
    }

    #[test]
    fn bad_stage_keys_name_the_line() {
        for (text, line) in [
            (
                "[[pipelines]]\nname = \"p\"\n[[pipelines.stages]]\nname = \"s\"\nkind = \"deploy\"\n",
                5,
            ),
            (
                "[[pipelines]]\nname = \"p\"\n[[pipelines.stages]]\nname = \"s\"\nkind = \"run\"\ncomand = \"x\"\n",
                6,
            ),
            (
                "[[pipelines]]\nname = \"p\"\n[[pipelines.stages]]\nname = \"s\"\nkind = \"run\"\nwhen = \"sometimes\"\n",
                6,
            ),
        ] {
            assert_eq!(parse_err(text).line, Some(line), "{text}");
        }
    }
}
