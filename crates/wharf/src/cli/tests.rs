//! Every command's `--help` has examples, and each of them parses and fits the help width.

use clap::CommandFactory as _;

use super::*;

/// The words of one example as the shell would pass them: whitespace-separated, with
/// '…' and "…" quoting; it ends at the first unquoted `|`, `>`, `<`, `&&` or `;`, which
/// belong to the shell. Globs stay literal (clap takes `./build/*.deb` as a path).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '|' | '>' | '<' | ';' | '&') if word.is_none() => break,
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line:?}");
    words.extend(word);
    words
}

#[test]
fn shell_words_split_like_sh() {
    assert_eq!(
        shell_words("wharf nodes 'web[01-04]' --json"),
        ["wharf", "nodes", "web[01-04]", "--json"]
    );
    assert_eq!(shell_words("wharf log \"a b\"  c"), ["wharf", "log", "a b", "c"]);
    assert_eq!(shell_words("wharf key export > /tmp/k.asc"), ["wharf", "key", "export"]);
    assert_eq!(shell_words("wharf a && wharf b"), ["wharf", "a"]);
    assert_eq!(shell_words("wharf nodeset -e @x | tr ' ' '\\n'"), ["wharf", "nodeset", "-e", "@x"]);
}

/// Every command and subcommand has an `Examples:` section in its help, and every
/// example in it (a line starting with `wharf `) parses; at least one of them runs the
/// command it documents.
#[test]
fn every_command_has_examples_that_parse() {
    fn walk(command: &clap::Command, path: &mut Vec<String>, checked: &mut usize) {
        let name = path.join(" ");
        let help = command.get_after_help().map(|help| help.to_string()).unwrap_or_default();
        assert!(help.starts_with("Examples:\n"), "`{name} --help` has no Examples section");
        let examples: Vec<&str> =
            help.lines().map(str::trim).filter(|line| line.starts_with("wharf ")).collect();
        assert!(examples.len() >= 2, "`{name}` has {} examples, want 2–4", examples.len());
        let mut documents_itself = false;
        for example in examples {
            let words = shell_words(example);
            if let Err(err) = Cli::try_parse_from(&words) {
                panic!("example of `{name}` does not parse: {example}\n{err}");
            }
            // The subcommand path the example runs, e.g. ["wharf", "repo", "add"].
            let matches = Cli::command().get_matches_from(&words);
            let mut ran = vec!["wharf".to_owned()];
            let mut current = &matches;
            while let Some((sub, sub_matches)) = current.subcommand() {
                ran.push(sub.to_owned());
                current = sub_matches;
            }
            documents_itself |= ran.starts_with(path);
            *checked += 1;
        }
        assert!(documents_itself, "no example of `{name}` runs `{name}`");
        for sub in command.get_subcommands() {
            path.push(sub.get_name().to_owned());
            walk(sub, path, checked);
            path.pop();
        }
    }
    let mut checked = 0;
    walk(&Cli::command(), &mut vec!["wharf".to_owned()], &mut checked);
    assert!(checked > 70, "only {checked} examples checked");
}

/// Example lines stay on one line of `--help` at the maximum width clap wraps to.
#[test]
fn examples_fit_the_help_width() {
    fn walk(command: &clap::Command) {
        let help = command.get_after_help().map(|help| help.to_string()).unwrap_or_default();
        for line in help.lines() {
            assert!(line.chars().count() <= 100, "too wide for --help: {line}");
        }
        command.get_subcommands().for_each(walk);
    }
    walk(&Cli::command());
}
