//! Tests of pipeline resolution: built-ins, written pipelines, and every configuration error with its line.

use super::*;

/// A fleet with two tiers (gitaly, praefect) and a web fleet; `gstg` has no tiers.
pub(crate) const FLEET: &str = r#"
[[nodes]]
names = "web[01-10],gitaly[01-02],praefect01,stg[1-2]"

[groups]
canary = "web[01-02]"

[[environments]]
name = "gstg"
nodes = "stg[1-2]"

[[environments]]
name = "gprd-cny"
nodes = "@canary"
after = "gstg"
production = true
canary = true

[[environments]]
name = "gprd"
nodes = "web[03-10],gitaly[01-02],praefect01"
after = "gprd-cny"
production = true

[[services]]
name = "praefect"
kind = "rpc"
nodes = "praefect01"
tier = 2

[[services]]
name = "gitaly"
kind = "rpc"
nodes = "gitaly[01-02]"
tier = 1

[[services]]
name = "puma"
kind = "worker"
nodes = "web[01-10]"
"#;

pub(crate) fn load(extra: &str) -> Result<(Inventory, Pipelines), ConfigError> {
    let source = ConfigSource::new("wharf.toml", format!("{FLEET}{extra}"));
    let config = source.parse()?;
    let inventory = Inventory::from_config(&config, &source)?;
    let pipelines = Pipelines::resolve(&config, &source, &inventory)?;
    Ok((inventory, pipelines))
}

/// The line of `extra`'s `n`th line (1-based) once appended to the fleet.
fn line(n: usize) -> usize {
    FLEET.lines().count() + n
}

/// One table row: the extra config, and either the stages of pipeline `p` as
/// `name:kind` or the error's (line within `extra`, key, message fragment).
enum Want {
    Stages(&'static str, &'static [&'static str]),
    Error(usize, &'static str, &'static str),
}

fn check(extra: &str, want: &Want) {
    match (want, load(extra)) {
        (Want::Stages(name, stages), Ok((_, pipelines))) => {
            let pipeline = pipelines.get(name).unwrap_or_else(|| panic!("no pipeline {name}"));
            let got: Vec<String> = pipeline
                .stages
                .iter()
                .map(|stage| format!("{}:{}", stage.name, stage.action.kind()))
                .collect();
            assert_eq!(got, *stages, "{extra}");
        }
        (Want::Error(n, key, message), Err(err)) => {
            assert_eq!((err.line, err.key.as_deref()), (Some(line(*n)), Some(*key)), "{err}");
            assert!(err.message.contains(message), "{err}");
        }
        (_, got) => panic!(
            "{extra}: got {:?}",
            got.map(|(_, p)| p.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
        ),
    }
}

const STAGE: &str = "[[pipelines]]\nname = \"p\"\n[[pipelines.stages]]\nname = \"s\"\n";

#[test]
fn pipelines_resolve_or_name_the_line() {
    use Want::*;
    let cases: Vec<(String, Want)> = vec![
        (String::new(), Stages("upgrade", &["prepare:check", "tier-1:install", "tier-2:install", "install:install", "restart:restart", "verify:check"])),
        (String::new(), Stages("rollback", &["prepare:check", "install:install", "tier-2:install", "tier-1:install"])),
        (format!("{STAGE}kind = \"run\"\ncommand = \"gitlab-ctl reconfigure\"\n"), Stages("p", &["s:run"])),
        (
            "[[pipelines]]\nname = \"upgrade\"\n[[pipelines.stages]]\nname = \"all\"\nkind = \"install\"\n".to_owned(),
            Stages("upgrade", &["all:install"]),
        ),
        (format!("{STAGE}kind = \"run\"\n"), Error(5, "pipelines.p.stages.s.command", "needs `command`")),
        (format!("{STAGE}kind = \"run\"\ncommand = \" \"\n"), Error(6, "pipelines.p.stages.s.command", "is empty")),
        (format!("{STAGE}kind = \"install\"\ncommand = \"x\"\n"), Error(6, "pipelines.p.stages.s.command", "only to `run`")),
        (format!("{STAGE}kind = \"install\"\nbatch = \"25 %%\"\n"), Error(6, "pipelines.p.stages.s.batch", "invalid amount")),
        (format!("{STAGE}kind = \"install\"\nbatch = 0\n"), Error(6, "pipelines.p.stages.s.batch", "at least 1")),
        (format!("{STAGE}kind = \"install\"\nbatch = -2\n"), Error(6, "pipelines.p.stages.s.batch", "invalid amount")),
        (format!("{STAGE}kind = \"install\"\nmax_failures = \"150%\"\n"), Error(6, "pipelines.p.stages.s.max_failures", "more than 100%")),
        (format!("{STAGE}kind = \"install\"\nnodes = \"web[01-02],nope1\"\n"), Error(6, "pipelines.p.stages.s.nodes", "nope1")),
        (format!("{STAGE}kind = \"install\"\nnodes = \"@missing\"\n"), Error(6, "pipelines.p.stages.s.nodes", "missing")),
        (format!("{STAGE}kind = \"restart\"\nservices = [\"gitaly\", \"redis\"]\n"), Error(6, "pipelines.p.stages.s.services", "\"redis\"")),
        (format!("{STAGE}kind = \"restart\"\nservices = [\"tier:7\"]\n"), Error(6, "pipelines.p.stages.s.services", "no service has tier 7")),
        (format!("{STAGE}kind = \"restart\"\nservices = [\"rpc\", \"tier:1\", \"puma\"]\n"), Stages("p", &["s:restart"])),
        (format!("{STAGE}kind = \"http-check\"\n"), Error(5, "pipelines.p.stages.s.url", "needs `url`")),
        (format!("{STAGE}kind = \"http-check\"\nurl = \"ftp://x\"\n"), Error(6, "pipelines.p.stages.s.url", "not an http")),
        (format!("{STAGE}kind = \"http-check\"\nurl = \"http://x\"\nexpect_status = 42\n"), Error(7, "pipelines.p.stages.s.expect_status", "100 to 599")),
        (format!("{STAGE}kind = \"http-check\"\nurl = \"http://x\"\ntimeout = \"soon\"\n"), Error(7, "pipelines.p.stages.s.timeout", "invalid duration")),
        (format!("{STAGE}kind = \"wait\"\n"), Error(5, "pipelines.p.stages.s.duration", "needs `duration`")),
        (format!("{STAGE}kind = \"wait\"\nduration = \"5m\"\n"), Stages("p", &["s:wait"])),
        (format!("{STAGE}kind = \"check\"\n[[pipelines.stages]]\nname = \"s\"\nkind = \"check\"\n"), Error(7, "pipelines.p.stages.name", "defined twice")),
        (format!("{STAGE}kind = \"check\"\n{STAGE}kind = \"check\"\n"), Error(7, "pipelines.name", "defined twice")),
        ("[[pipelines]]\nname = \"p\"\nstages = []\n".to_owned(), Error(3, "pipelines.p.stages", "no stage")),
        (
            "[[environments]]\nname = \"dev\"\nnodes = \"stg1\"\npipeline = \"fast\"\n".to_owned(),
            Error(4, "environments.dev.pipeline", "no pipeline is named \"fast\""),
        ),
        (
            "[[environments]]\nname = \"dev\"\nnodes = \"stg1\"\nrollback_pipeline = \"back\"\n".to_owned(),
            Error(4, "environments.dev.rollback_pipeline", "known: rollback, upgrade"),
        ),
    ];
    for (extra, want) in &cases {
        check(extra, want);
    }
}

#[test]
fn stage_values_and_environment_choices() {
    let extra = format!(
        "{STAGE}kind = \"http-check\"\nurl = \"https://gitlab.com/-/readiness\"\nexpect_body = \"ok\"\n\
         [[pipelines.stages]]\nname = \"web\"\nkind = \"install\"\nnodes = \"web[01-10]\"\nbatch = 5\nmax_failures = \"10%\"\nwhen = \"canary-only\"\npoint_of_no_return = true\n\
         [[environments]]\nname = \"dev\"\nnodes = \"stg1\"\npipeline = \"p\"\n"
    );
    let (_, pipelines) = load(&extra).unwrap();
    let p = pipelines.get("p").unwrap();
    assert_eq!(
        p.stages[0].action,
        Action::HttpCheck {
            url: "https://gitlab.com/-/readiness".into(),
            expect_status: 200,
            expect_body: Some("ok".into()),
            timeout: DEFAULT_HTTP_TIMEOUT
        }
    );
    let web = &p.stages[1];
    assert_eq!((web.batch, web.max_failures), (Some(Amount::Count(5)), Amount::Percent(10)));
    assert_eq!(
        (web.when, web.point_of_no_return, web.skip_if_empty),
        (StageWhen::CanaryOnly, true, false)
    );
    assert_eq!(pipelines.deploy_pipeline("dev").unwrap().name, "p");
    assert_eq!(pipelines.rollback_pipeline("dev").unwrap().name, "rollback");
    assert_eq!(pipelines.deploy_pipeline("gprd").unwrap().name, "upgrade");
    assert!(pipelines.deploy_pipeline("nope").is_none());
}
