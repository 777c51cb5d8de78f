//! Tests of command templates: expansion tables, validation, and hostile values through a real `sh -c`.

use std::process::Command;

use super::*;

fn pin(name: &str, version: &str) -> Pin {
    Pin { name: name.parse().unwrap(), version: version.parse().unwrap() }
}

fn template(key: CommandKey, text: &str) -> Template {
    Template::parse(key, text).unwrap()
}

#[test]
fn shell_quote_table() {
    for (value, quoted) in [
        ("", "''"),
        ("plain", "'plain'"),
        ("two words", "'two words'"),
        ("it's", r"'it'\''s'"),
        ("''", r"''\'''\'''"),
        ("$(touch pwned)", "'$(touch pwned)'"),
        ("a\nb", "'a\nb'"),
        ("back\\slash", "'back\\slash'"),
        ("ünï ✓", "'ünï ✓'"),
    ] {
        assert_eq!(shell_quote(value), quoted, "{value:?}");
    }
}

#[test]
fn expansion_table() {
    let pins =
        [pin("gitlab-ce", "10.4.0+rnightly.75436.44501791-0"), pin("libfoo1", "2:1.0~rc1-1")];
    let unit: UnitName = "swh-worker@loader_git.service".parse().unwrap();
    let reason: Reason = "nightly broke: it's #4211".parse().unwrap();
    let node: NodeName = "web01".parse().unwrap();
    let package: PackageName = "gitlab-ce".parse().unwrap();
    let version: Version = "11.8.0-ee.0".parse().unwrap();
    let all = Values {
        packages: &pins,
        package: Some(&package),
        version: Some(&version),
        unit: Some(&unit),
        reason: Some(&reason),
        node: Some(&node),
        allow_downgrades: false,
    };
    let defaults = CommandTemplates::defaults();
    let default = |key| defaults.get(key).unwrap().clone();
    use CommandKey as K;
    let cases: Vec<(Template, Values<'_>, &str)> = vec![
        (
            default(K::Install),
            all,
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
             -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold  \
             'gitlab-ce=10.4.0+rnightly.75436.44501791-0' 'libfoo1=2:1.0~rc1-1'",
        ),
        (
            default(K::Install),
            Values { allow_downgrades: true, ..all },
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
             -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
             --allow-downgrades 'gitlab-ce=10.4.0+rnightly.75436.44501791-0' 'libfoo1=2:1.0~rc1-1'",
        ),
        (
            default(K::Version),
            all,
            "dpkg-query -W -f='${db:Status-Status} ${Version}' 'gitlab-ce' 2>/dev/null \
             | sed -n 's/^installed //p'",
        ),
        (default(K::Hold), all, "apt-mark hold 'gitlab-ce' 'libfoo1'"),
        (default(K::Unhold), all, "apt-mark unhold 'gitlab-ce' 'libfoo1'"),
        (default(K::Holds), Values::default(), "apt-mark showhold"),
        (default(K::Stop), all, "systemctl stop 'swh-worker@loader_git.service'"),
        (default(K::Start), all, "systemctl start 'swh-worker@loader_git.service'"),
        (default(K::Restart), all, "systemctl restart 'swh-worker@loader_git.service'"),
        (default(K::Status), all, "systemctl is-active 'swh-worker@loader_git.service'"),
        (template(K::Reconfigure, "gitlab-ctl reconfigure"), all, "gitlab-ctl reconfigure"),
        (
            template(
                K::MaintenanceStart,
                "systemctl stop cron.service; puppet agent --disable {reason}",
            ),
            all,
            r"systemctl stop cron.service; puppet agent --disable 'nightly broke: it'\''s #4211'",
        ),
        (
            template(K::MaintenanceStop, "echo {{deployed}} {version} on {node}"),
            all,
            "echo {deployed} '11.8.0-ee.0' on 'web01'",
        ),
    ];
    for (template, values, expected) in cases {
        let command = expand(&template, &values).unwrap();
        assert_eq!(command.as_str(), expected, "{template}");
        assert_eq!(command.key(), template.key());
    }
}

#[test]
fn steps_without_a_command_expand_to_none() {
    let defaults = CommandTemplates::defaults();
    assert_eq!(expand_step(&defaults, CommandKey::Reconfigure, &Values::default()), Ok(None));
    let holds = expand_step(&defaults, CommandKey::Holds, &Values::default()).unwrap().unwrap();
    assert_eq!(holds.to_string(), "apt-mark showhold");
}

#[test]
fn a_hold_names_its_one_package() {
    let defaults = CommandTemplates::defaults();
    let package: PackageName = "gitlab-ee".parse().unwrap();
    let values = Values { package: Some(&package), ..Values::default() };
    let hold = expand_step(&defaults, CommandKey::Hold, &values).unwrap().unwrap();
    assert_eq!(hold.to_string(), "apt-mark hold 'gitlab-ee'");
    let unhold = expand_step(&defaults, CommandKey::Unhold, &values).unwrap().unwrap();
    assert_eq!(unhold.to_string(), "apt-mark unhold 'gitlab-ee'");
}

#[test]
fn a_missing_value_is_an_error_not_an_empty_word() {
    let defaults = CommandTemplates::defaults();
    for (key, placeholder) in [
        (CommandKey::Install, Placeholder::Packages),
        (CommandKey::Hold, Placeholder::PackageNames),
        (CommandKey::Version, Placeholder::Package),
        (CommandKey::Restart, Placeholder::Unit),
    ] {
        let err = expand_step(&defaults, key, &Values::default()).unwrap_err();
        assert_eq!(err, ExpandError { key, placeholder });
    }
    let reason = template(CommandKey::MaintenanceStart, "puppet agent --disable {reason}");
    let err = expand(&reason, &Values::default()).unwrap_err();
    assert_eq!(err.to_string(), "command `maintenance_start` uses {reason} but no value was given");
}

#[test]
fn bad_values_are_refused_before_any_command_is_built() {
    for bad in ["1.0 ; rm -rf /", "1.0\n", " 1.0", "1.0$(id)", "1.0'", ""] {
        assert!(bad.parse::<Version>().is_err(), "version {bad:?} accepted");
    }
    for bad in [
        "../etc/passwd",
        "gitlab/ce",
        "a",
        "Gitlab",
        "-gitlab",
        "gitlab ce",
        "gitlab;id",
        "gitlab'",
        "gitlab_ce",
        "pkg=1.0",
    ] {
        let err = bad.parse::<PackageName>().unwrap_err();
        assert_eq!(err.what, "package name", "{bad:?}");
    }
    for good in ["gitlab-ce", "libstdc++6", "0ad", "python3.11"] {
        assert_eq!(good.parse::<PackageName>().unwrap().as_str(), good);
    }
    for bad in ["", "-.mount", "--now", "a b.service", "a;b", "a/b", "x$(id)", "é.service"] {
        assert!(bad.parse::<UnitName>().is_err(), "unit {bad:?} accepted");
    }
    for good in ["nginx.service", "swh-worker@loader_git.service", "sys-devices-a:b.device"] {
        assert_eq!(good.parse::<UnitName>().unwrap().as_str(), good);
    }
    for bad in ["", "-web", "web 01", "web/01", "web;01", "wéb"] {
        assert!(bad.parse::<NodeName>().is_err(), "node {bad:?} accepted");
    }
    for bad in ["", "   ", "a\0b"] {
        assert!(bad.parse::<Reason>().is_err(), "reason {bad:?} accepted");
    }
    let err = "gitlab/ce".parse::<PackageName>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid package name \"gitlab/ce\": contains '/'; only a-z, 0-9, '+', '-' and '.' are allowed"
    );
}

/// What `sh -c line` prints, run in an empty directory; panics if it created a file there.
fn run_sh(line: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("sh").arg("-c").arg(line).current_dir(dir.path()).output().unwrap();
    assert!(output.status.success(), "{line}: {}", String::from_utf8_lossy(&output.stderr));
    let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(created.is_empty(), "{line}: the shell created {created:?}");
    String::from_utf8(output.stdout).unwrap()
}

const HOSTILE: &[&str] = &[
    "it's",
    "'",
    "''",
    "\"; touch pwned; \"",
    "'; touch pwned; '",
    "$(touch pwned)",
    "`touch pwned`",
    "a; touch pwned",
    "a && touch pwned",
    "a | touch pwned",
    "> pwned",
    "line one\ntouch pwned\nline three",
    "\n",
    "  spaces  around  ",
    "tab\there",
    "$HOME ${IFS} $0 $1 $@",
    "*",
    "~",
    "~root",
    "\\",
    "trailing backslash \\",
    "\\'; touch pwned #",
    "-n",
    "--help",
    "%s %d %%",
    "{reason}",
    "{{}}",
    "héllo wörld ✓ 🚀 日本語 \u{202e}rtl\u{202c}",
    "\u{7f}\u{1b}[31mred",
];

#[test]
fn hostile_reasons_reach_the_shell_as_exactly_one_word() {
    let template = template(
        CommandKey::MaintenanceStart,
        "set -- {reason}; printf '%s|' \"$#\"; printf '%s' \"$1\"",
    );
    for value in HOSTILE {
        let reason: Reason = match value.parse() {
            Ok(reason) => reason,
            Err(_) => {
                assert!(value.trim().is_empty(), "{value:?} refused");
                continue;
            }
        };
        let line =
            expand(&template, &Values { reason: Some(&reason), ..Values::default() }).unwrap();
        assert_eq!(run_sh(line.as_str()), format!("1|{value}"), "{line}");
        let printf =
            Template::parse(CommandKey::MaintenanceStart, "printf '%s\\n' {reason}").unwrap();
        let line = expand(&printf, &Values { reason: Some(&reason), ..Values::default() }).unwrap();
        assert_eq!(run_sh(line.as_str()), format!("{value}\n"), "{line}");
    }
}

#[test]
fn lists_are_one_word_per_item_in_a_real_shell() {
    let pins = [
        pin("gitlab-ce", "10.4.0+rnightly.75436.44501791-0"),
        pin("libfoo1", "2:1.0~rc1-1"),
        pin("c++", "0~1"),
    ];
    let packages = template(CommandKey::Install, "set -- {packages}; printf '%s|' \"$#\" \"$@\"");
    let names = template(CommandKey::Hold, "set -- {package_names}; printf '%s|' \"$#\" \"$@\"");
    let values = Values { packages: &pins, ..Values::default() };
    assert_eq!(
        run_sh(expand(&packages, &values).unwrap().as_str()),
        "3|gitlab-ce=10.4.0+rnightly.75436.44501791-0|libfoo1=2:1.0~rc1-1|c++=0~1|"
    );
    assert_eq!(run_sh(expand(&names, &values).unwrap().as_str()), "3|gitlab-ce|libfoo1|c++|");
    let unit: UnitName = "swh-worker@loader_git.service".parse().unwrap();
    let node: NodeName = "web-01.east".parse().unwrap();
    let restart = template(CommandKey::Restart, "printf '%s|%s' {unit} {node}");
    let values = Values { unit: Some(&unit), node: Some(&node), ..Values::default() };
    assert_eq!(
        run_sh(expand(&restart, &values).unwrap().as_str()),
        "swh-worker@loader_git.service|web-01.east"
    );
}

#[test]
fn default_version_command_prints_nothing_for_a_package_that_is_not_installed() {
    // Fail, never skip, without the real component (Debian package dpkg).
    Command::new("dpkg-query").arg("--version").output().expect("dpkg-query (Debian package dpkg)");
    let defaults = CommandTemplates::defaults();
    let version = |name: &str| {
        let package: PackageName = name.parse().unwrap();
        let line = expand_step(
            &defaults,
            CommandKey::Version,
            &Values { package: Some(&package), ..Values::default() },
        )
        .unwrap()
        .unwrap();
        run_sh(line.as_str())
    };
    assert_eq!(version("wharf-surely-not-installed"), "");
    let installed = version("dpkg");
    let parsed: Version = installed.trim().parse().expect("dpkg's installed version");
    assert!(parsed.as_str().starts_with(|c: char| c.is_ascii_digit()), "{installed:?}");
}
