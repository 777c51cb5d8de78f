//! Table tests: aptly's documented semantics, dpkg ordering, and errors with columns.

use super::*;

const PACKAGES: &[(&str, &str, &str, &str)] = &[
    ("hello", "1.0-1", "amd64", "Section: utils\nSource: hello-src (1.0)\n"),
    ("hello", "1.2~rc1-1", "amd64", "Section: utils\n"),
    ("hello", "1.2-1", "arm64", "Section: utils\n"),
    ("hello", "2:0.1", "amd64", "Section: utils\n"),
    ("hello-doc", "1.2-1", "all", "Section: doc\nDepends: hello\n"),
    ("libfoo1", "3.0", "amd64", "Section: libs\nPriority: optional\n"),
];

/// The `name_version_arch` of every package in [`PACKAGES`] the query matches.
fn check(query: &str, expected: &[&str]) {
    let parsed = Query::parse(query).unwrap_or_else(|err| panic!("{query}: {err}"));
    let matched: Vec<String> = PACKAGES
        .iter()
        .filter(|(name, version, architecture, control)| {
            parsed.matches(&Candidate { name, version, architecture, control })
        })
        .map(|(name, version, arch, _)| format!("{name}_{version}_{arch}"))
        .collect();
    assert_eq!(matched, expected, "{query}");
}

#[test]
fn names_keys_and_version_relations() {
    let all_hello =
        ["hello_1.0-1_amd64", "hello_1.2~rc1-1_amd64", "hello_1.2-1_arm64", "hello_2:0.1_amd64"];
    check("hello", &all_hello);
    check("  hello  ", &all_hello);
    check("hello_1.2-1_arm64", &["hello_1.2-1_arm64"]);
    check("hello_1.2-1_amd64", &[]);
    check("hello (= 1.0-1)", &["hello_1.0-1_amd64"]);
    check("hello (1.0-1)", &["hello_1.0-1_amd64"]);
    check("hello (= 0:1.0-1)", &["hello_1.0-1_amd64"]);
    // dpkg ordering: ~ sorts before anything, epochs dominate.
    check("hello (>= 1.2)", &["hello_1.2-1_arm64", "hello_2:0.1_amd64"]);
    check("hello (>= 1.2~)", &["hello_1.2~rc1-1_amd64", "hello_1.2-1_arm64", "hello_2:0.1_amd64"]);
    check("hello (<< 1.2)", &["hello_1.0-1_amd64", "hello_1.2~rc1-1_amd64"]);
    check("hello (< 1.2-1)", &["hello_1.0-1_amd64", "hello_1.2~rc1-1_amd64", "hello_1.2-1_arm64"]);
    check("hello (> 1.2-1)", &["hello_1.2-1_arm64", "hello_2:0.1_amd64"]);
    check("hello (>> 1.2-1)", &["hello_2:0.1_amd64"]);
    check("hello (<= 1.0-1)", &["hello_1.0-1_amd64"]);
    check("hello (% 1.*)", &["hello_1.0-1_amd64", "hello_1.2~rc1-1_amd64", "hello_1.2-1_arm64"]);
    check("hello {arm64}", &["hello_1.2-1_arm64"]);
    check(
        "hello (>= 1.0) {amd64}",
        &["hello_1.0-1_amd64", "hello_1.2~rc1-1_amd64", "hello_2:0.1_amd64"],
    );
    check("hello-doc {arm64}", &["hello-doc_1.2-1_all"]);
}

#[test]
fn fields_and_special_fields() {
    check("$Version (>= 2)", &["hello_2:0.1_amd64", "libfoo1_3.0_amd64"]);
    // Fields compare with dpkg's ordering applied to text, as aptly does.
    check("Version (>= 2)", &["hello_2:0.1_amd64", "libfoo1_3.0_amd64"]);
    check("Section (<< libs)", &["hello-doc_1.2-1_all"]);
    check(
        "Version (>= 1.2-1)",
        &["hello_1.2-1_arm64", "hello_2:0.1_amd64", "hello-doc_1.2-1_all", "libfoo1_3.0_amd64"],
    );
    check("$Architecture (= arm64)", &["hello_1.2-1_arm64", "hello-doc_1.2-1_all"]);
    check("$Architecture (% arm*)", &["hello_1.2-1_arm64"]);
    check("Architecture (= all)", &["hello-doc_1.2-1_all"]);
    check(
        "Name (% hello*)",
        &[
            "hello_1.0-1_amd64",
            "hello_1.2~rc1-1_amd64",
            "hello_1.2-1_arm64",
            "hello_2:0.1_amd64",
            "hello-doc_1.2-1_all",
        ],
    );
    check("Name (% lib[a-f]*)", &["libfoo1_3.0_amd64"]);
    check(
        "Name (% ?ello)",
        &["hello_1.0-1_amd64", "hello_1.2~rc1-1_amd64", "hello_1.2-1_arm64", "hello_2:0.1_amd64"],
    );
    check("Priority", &["libfoo1_3.0_amd64"]);
    check("Section (= libs)", &["libfoo1_3.0_amd64"]);
    check("Depends (% *hello*)", &["hello-doc_1.2-1_all"]);
    check("$Source (= hello-src)", &["hello_1.0-1_amd64"]);
    check("$SourceVersion (= 1.0)", &["hello_1.0-1_amd64"]);
    check("$Source (= libfoo1)", &["libfoo1_3.0_amd64"]);
    check("$PackageType (= deb), libfoo1", &["libfoo1_3.0_amd64"]);
    check("Section ('doc')", &["hello-doc_1.2-1_all"]);
    check(
        r#"Section ("u\tils")"#,
        &["hello_1.0-1_amd64", "hello_1.2~rc1-1_amd64", "hello_1.2-1_arm64", "hello_2:0.1_amd64"],
    );
}

#[test]
fn operators_and_precedence() {
    check("hello-doc | libfoo1", &["hello-doc_1.2-1_all", "libfoo1_3.0_amd64"]);
    check("hello, $Architecture (= arm64)", &["hello_1.2-1_arm64"]);
    check("!hello, !hello-doc", &["libfoo1_3.0_amd64"]);
    // `,` binds tighter than `|`, `!` tighter than both.
    check("libfoo1 | hello, hello (>= 2)", &["hello_2:0.1_amd64", "libfoo1_3.0_amd64"]);
    check("(libfoo1 | hello), $Version (>= 2)", &["hello_2:0.1_amd64", "libfoo1_3.0_amd64"]);
    check("!(hello | libfoo1)", &["hello-doc_1.2-1_all"]);
    check("!!libfoo1", &["libfoo1_3.0_amd64"]);
}

#[test]
fn errors_name_the_column_and_what_was_expected() {
    for (query, column, needle) in [
        ("", 1, "the query is empty"),
        ("hello (>= 1.0", 14, "expected `)` to close the condition"),
        ("hello (>= )", 11, "expected a value after `>=`"),
        ("hello (>= not-a-version)", 11, "expected a version"),
        ("section (= libs)", 12, "expected a version"),
        ("hello (>= 1.0) extra", 16, "expected `|`, `,` or the end"),
        ("hello |", 8, "expected a package name"),
        ("(hello | x1", 12, "expected `)` to close the group"),
        ("Hello_1", 1, "must start with a lower-case"),
        ("hel/lo", 1, "contains '/'"),
        ("$Bogus (= 1)", 1, "unknown field $Bogus"),
        ("Name (~ hel.*)", 7, "regular expressions"),
        ("hello {amd64", 13, "expected `}`"),
        ("Section ('doc)", 10, "never closed"),
        ("hello_x y_amd64", 1, "contains '_'"),
        ("hello_1.0:bad_amd64", 1, "expected a version"),
        ("Name (= é) | hello (", 21, "expected a value"),
    ] {
        let err = Query::parse(query).unwrap_err();
        assert_eq!(err.column, column, "{query}: {err}");
        assert!(err.to_string().contains(needle), "{query}: {err}");
    }
}

#[test]
fn globs_follow_go_filepath_match() {
    for (pattern, text, expected) in [
        ("*", "", true),
        ("a*c", "abbbc", true),
        ("a*c", "abbbd", false),
        ("a?c", "abc", true),
        ("[a-c]x", "bx", true),
        ("[^a-c]x", "bx", false),
        ("[!a-c]x", "dx", true),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("1.[0-9]*", "1.10-1", true),
    ] {
        assert_eq!(glob_matches(pattern, text), expected, "{pattern} {text}");
    }
}

#[test]
fn control_fields_are_found_case_insensitively_with_continuations() {
    let control = "Package: x\nDescription: short\n more\n .\nSection: a\n";
    assert_eq!(control_field(control, "description").as_deref(), Some("short\nmore\n."));
    assert_eq!(control_field(control, "Section").as_deref(), Some("a"));
    assert_eq!(control_field(control, "Missing"), None);
}
