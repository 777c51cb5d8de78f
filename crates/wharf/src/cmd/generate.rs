//! `wharf completions SHELL` and `wharf man`: shell completion scripts (`clap_complete`) and
//! roff man pages (`clap_mangen`) generated from the grammar in [`crate::cli`], so they
//! never drift from it. Neither needs a configuration.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionShell, CompletionsArgs, ManArgs};
use crate::exit::SUCCESS;
use crate::output;

/// The name the scripts complete and the pages document.
const BIN: &str = "wharf";

pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    output::raw(&completion_script(args.shell));
    Ok(SUCCESS)
}

/// The completion script for `shell`, for `wharf` and every subcommand and option.
pub(crate) fn completion_script(shell: CompletionShell) -> String {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

pub(crate) fn man(args: &ManArgs) -> anyhow::Result<u8> {
    match &args.out {
        None => output::raw(&man_page(command())?),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let written = write_pages(command(), dir)?;
            output::line(format!("wrote {} man pages to {}", written.len(), dir.display()));
        }
    }
    Ok(SUCCESS)
}

/// The grammar, built (subcommands get their `wharf-repo-add` display names), without the
/// `help` subcommand, which needs no page.
fn command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// One command's page: clap_mangen's sections, with the `Examples:` of `--help` as an
/// EXAMPLES section in no-fill mode so each invocation stays on its own line.
fn man_page(command: clap::Command) -> anyhow::Result<String> {
    let examples = command.get_after_help().map(|text| text.to_string());
    let mut page = Vec::new();
    clap_mangen::Man::new(command.after_help(None::<&str>))
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .render(&mut page)?;
    let mut page = String::from_utf8_lossy(&page).into_owned();
    if let Some(examples) = examples {
        page.push_str(".SH EXAMPLES\n.nf\n");
        for line in examples.lines().filter(|line| line.trim() != "Examples:") {
            page.push_str(&roff_line(line.strip_prefix("  ").unwrap_or(line)));
            page.push('\n');
        }
        page.push_str(".fi\n");
    }
    Ok(page)
}

/// A line of literal text for roff: backslashes escaped, and a leading `.` or `'` (which
/// would start a request) neutralised.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) { format!("\\&{escaped}") } else { escaped }
}

/// `command`'s page and those of all its subcommands, depth first; the paths written.
fn write_pages(command: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        written.extend(write_pages(sub.clone(), dir)?);
    }
    let name = command.get_display_name().unwrap_or_else(|| command.get_name()).to_owned();
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, man_page(command)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_lines_are_literal() {
        assert_eq!(roff_line("wharf repo add r ./debs/"), "wharf repo add r ./debs/");
        assert_eq!(roff_line("a\\b --json"), "a\\eb \\-\\-json");
        assert_eq!(roff_line(".not a request"), "\\&.not a request");
    }

    #[test]
    fn every_page_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_pages(command(), dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for name in ["wharf.1", "wharf-repo.1", "wharf-repo-add.1", "wharf-publish-list.1"] {
            assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
        let page = std::fs::read_to_string(dir.path().join("wharf-repo-add.1")).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH"), "{page}");
        assert!(page.contains("wharf\\-repo\\-add"), "{page}");
    }
}
