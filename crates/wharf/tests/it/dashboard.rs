//! The web dashboard in a real browser: the real `wharf server` on a loopback port with
//! local-transport nodes (private roots, as in `api.rs`), a repository with a package, a
//! deployer and a viewer token; then `node e2e/dashboard.js` drives Debian's Chromium
//! (headless, through playwright-core) through the scenarios of issue 12 and checks every
//! page with axe-core. Screenshots land in `target/dashboard-screenshots/`.
//!
//! Needs `chromium`, `nodejs` and `npm` (`.ci/run` installs them); runs `npm ci` in `e2e/`
//! when its `node_modules` is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::api::token;
use crate::apt::build_deb;
use crate::support::{Scratch, ServerProcess, outcome};

const CONFIG: &str = r#"
[[nodes]]
names = "web[01-03]"
transport = "local"
root = "roots/{name}"
labels = { role = "web" }

[groups]
front = "web[01-03]"

[[environments]]
name = "staging"
nodes = "web01"
packages = ["app"]
pipeline = "soak"

[[environments]]
name = "production"
after = "staging"
nodes = "web[02-03]"
production = true
packages = ["app"]
pipeline = "gated"

# Long enough for the browser to open the page while the deploy runs.
[[pipelines]]
name = "soak"
stages = [
  { name = "install", kind = "install" },
  { name = "soak", kind = "wait", duration = "8s" },
]

[[pipelines]]
name = "gated"
stages = [
  { name = "first", kind = "install", nodes = "web02" },
  { name = "go", kind = "manual" },
  { name = "rest", kind = "install", nodes = "web03" },
]

[commands]
install = "for p in {packages}; do printf '%s\n' \"${{p#*=}}\" > \"$WHARF_NODE_ROOT/v-${{p%%=*}}\"; done"
version = "cat \"$WHARF_NODE_ROOT/v-\"{package} 2>/dev/null || true"
restart = "true"
hold = "printf '%s\n' {package_names} >> \"$WHARF_NODE_ROOT/held\""
unhold = "rm -f \"$WHARF_NODE_ROOT/held\""
"#;

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

/// `target/dashboard-screenshots`, next to the build.
fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("../dashboard-screenshots")
}

/// `npm ci` in `e2e/` unless its packages are installed (from the committed lock file).
fn npm_ci(dir: &Path) {
    if dir.join("node_modules/playwright-core/package.json").exists()
        && dir.join("node_modules/axe-core/package.json").exists()
    {
        return;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .expect("run npm (apt-get install nodejs npm)");
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!(code, 0, "npm ci in {} failed:\n{stdout}\n{stderr}", dir.display());
}

#[test]
fn dashboard_in_a_real_browser() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)"
    );
    let e2e = e2e_dir();
    npm_ci(&e2e);

    let scratch = Scratch::new();
    for n in 1..=3 {
        std::fs::create_dir_all(scratch.path().join(format!("roots/web{n:02}"))).unwrap();
    }
    scratch.config(CONFIG);
    let deployer = token(&scratch, "deployer", "deployer", &[]);
    let viewer = token(&scratch, "viewer", "viewer", &[]);
    let (code, _, stderr) =
        outcome(&scratch.run(&["repo", "create", "tools", "--distribution", "bookworm"]));
    assert_eq!(code, 0, "{stderr}");
    let deb = build_deb(scratch.path(), "hello", "1.0", "amd64", "gzip");
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "add", "tools", deb.to_str().unwrap()]));
    assert_eq!(code, 0, "{stderr}");

    let server = ServerProcess::start(&scratch, &[], true);
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let output = Command::new("node")
        .arg("dashboard.js")
        .current_dir(&e2e)
        .env("WHARF_URL", format!("http://{}", server.addr))
        .env("WHARF_DEPLOYER_TOKEN", &deployer)
        .env("WHARF_VIEWER_TOKEN", &viewer)
        .env("WHARF_SCREENSHOTS", &shots)
        .output()
        .expect("run node (apt-get install nodejs)");
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!(code, 0, "the browser scenarios failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
    for page in ["login", "overview", "deploy-running", "audit", "history", "nodes", "repositories"]
    {
        assert!(shots.join(format!("{page}.png")).exists(), "no screenshot of {page}");
    }
    // Nothing the browser did logged a token.
    let log = server.log();
    assert!(!log.contains(&deployer) && !log.contains(&viewer), "a token reached the log");
}
