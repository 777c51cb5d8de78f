//! One module per command family. Each function takes its parsed arguments and the resolved
//! [`Settings`], does the work through library crates, prints through [`crate::output`],
//! and returns the exit code.

mod apply;
mod audit;
mod backup;
mod chat;
mod config;
mod demo;
mod deploy;
mod generate;
mod guard;
mod mirror;
mod nodes;
mod nodeset;
mod notify;
mod publish;
mod remote;
mod repo;
mod run;
mod server;
mod status;
mod token;
mod version;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::settings::Settings;

/// Run the command the user asked for.
pub(crate) fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        // Commands that need no configuration run even when wharf.toml is broken.
        Command::Version(command) => version::run(command),
        Command::Completions(args) => generate::completions(&args),
        Command::Man(args) => generate::man(&args),
        command if cli.global.server.is_some() => {
            remote::dispatch(cli.global.server.as_deref().unwrap_or_default(), command)
        }
        command => {
            let settings = Settings::load(&cli.global)?;
            let announces = notify::announces(&command);
            let outcome = match command {
                Command::Config(ConfigCommand::Check(args)) => config::check(&settings, &args),
                Command::Nodes(args) => nodes::list(&settings, &args),
                Command::Nodeset(args) => nodeset::run(&settings, &args),
                Command::Audit(args) => audit::show(&settings, &args),
                Command::Log(args) => audit::log(&settings, &args),
                Command::Demo(args) => demo::run(&settings, &args),
                Command::Run(args) => run::run(&settings, &args),
                Command::Copy(args) => run::copy(&settings, &args),
                Command::Repo(command) => repo::repo(&settings, command),
                Command::Mirror(command) => mirror::run(&settings, command),
                Command::Snapshot(command) => repo::snapshot(&settings, command),
                Command::Publish(args) => publish::publish(&settings, args),
                Command::Key(command) => publish::key(&settings, &command),
                Command::Apply(args) => apply::run(&settings, &args),
                Command::Import(command) => apply::import(&settings, &command),
                Command::Health(args) => publish::health(&settings, &args),
                Command::Server(args) => server::run(&settings, &args),
                Command::Backup(args) => backup::backup(&settings, &args),
                Command::Restore(args) => backup::restore(&settings, &args),
                Command::Deploy(args) => deploy::deploy(&settings, &args),
                Command::Rollback(args) => deploy::rollback(&settings, &args),
                Command::Resume(args) => deploy::resume(&settings, &args),
                Command::Approve(args) => deploy::approve(&settings, &args),
                Command::Cancel(args) => deploy::cancel(&settings, &args),
                Command::Lock(args) => guard::lock(&settings, &args),
                Command::Unlock(args) => guard::unlock(&settings, &args),
                Command::Locks(args) => guard::locks(&settings, &args),
                Command::Windows(args) => guard::windows(&settings, &args),
                Command::Schedules(args) => guard::schedules(&settings, &args),
                Command::Hold(args) => guard::hold(&settings, &args),
                Command::Unhold(args) => guard::unhold(&settings, &args),
                Command::Holds(args) => guard::holds(&settings, &args),
                Command::Maintenance(command) => guard::maintenance(&settings, &command),
                Command::Deploys(command) => status::run(&settings, &command),
                Command::Token(command) => token::run(&settings, &command),
                Command::Version(_) | Command::Completions(_) | Command::Man(_) => {
                    unreachable!("handled above")
                }
            };
            if announces {
                notify::flush(&settings);
            }
            outcome
        }
    }
}

/// A current-thread runtime for commands that talk to the store or the network.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}
