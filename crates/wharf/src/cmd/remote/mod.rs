//! `--server URL`: commands through a `wharf server`'s API instead of the local data
//! directory, printing what the local commands print (through their own render functions)
//! and exiting with the same codes. A deploy the server runs in the background is followed
//! through its live events (`GET /api/v1/deploys/ID/events`) until it ends.
//!
//! Here: the client (`Remote`: the token, one error mapping, percent-encoding) and the
//! routing. `deploys.rs`: `deploy` (and `--dry-run`), `rollback`, `resume`, `approve`,
//! `cancel`, `status`, `history`, `show`. `guards.rs`: windows, locks, holds, maintenance.
//! `repo.rs`: `repo` (`add` is one multipart upload: all or nothing), `snapshot`,
//! `publish`. `mirror.rs`: `mirror` (the keyring file is read here and sent armored).
//! `ops.rs`: `nodes`, `nodeset`, `health`, `schedules`, `audit` (and
//! `--verify`), `log`, `token`, `config check`. Commands that only make sense where they run (`run`, `copy`, `demo`,
//! `server`, `key export`, `publish --to-dir`, `backup`, `restore`) are refused saying
//! why; `version`, `completions` and `man` never reach this module.

use std::io::BufRead as _;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::Command;
use crate::env_vars;
use crate::exit::UsageError;

mod deploys;
mod guards;
mod mirror;
mod ops;
mod repo;

/// A command that only works where it runs: why, and what to do.
fn local_only(why: &str) -> anyhow::Error {
    anyhow::Error::new(UsageError(format!(
        "{why}: run it without --server (unset ${}), on the machine it is about",
        env_vars::SERVER
    )))
}

/// A server and the token to act with.
struct Remote {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

/// An answer that is not a success: `{code, message}` and the status.
struct Refusal {
    status: StatusCode,
    code: String,
    message: String,
    body: Value,
}

impl Remote {
    fn new(server: &str) -> Remote {
        Remote {
            base: format!("{}/api/v1", server.trim_end_matches('/')),
            token: std::env::var(env_vars::TOKEN).ok().filter(|t| !t.is_empty()),
            client: reqwest::Client::new(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> anyhow::Result<Result<Value, Refusal>> {
        let response = builder
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("cannot reach the server at {}: {err}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(Ok(body));
        }
        Ok(Err(Refusal {
            status,
            code: body["code"].as_str().unwrap_or("").to_owned(),
            message: body["message"].as_str().unwrap_or("").to_owned(),
            body,
        }))
    }

    /// Send, and read a success as `T`; anything else is the command's error.
    async fn call<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        match self.send(builder).await? {
            Ok(body) => Ok(serde_json::from_value(body)?),
            Err(refusal) => Err(error(&refusal)),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(self.request(reqwest::Method::GET, path)).await
    }

    async fn post_as<T: DeserializeOwned>(&self, path: &str, body: &Value) -> anyhow::Result<T> {
        self.call(self.request(reqwest::Method::POST, path).json(body)).await
    }

    async fn patch_as<T: DeserializeOwned>(&self, path: &str, body: &Value) -> anyhow::Result<T> {
        self.call(self.request(reqwest::Method::PATCH, path).json(body)).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(self.request(reqwest::Method::DELETE, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Result<Value, Refusal>> {
        self.send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    /// Print the deploy's events as they happen until its stream ends.
    async fn follow(&self, id: i64) -> anyhow::Result<()> {
        use futures::StreamExt as _;
        let response =
            self.request(reqwest::Method::GET, &format!("/deploys/{id}/events")).send().await?;
        if !response.status().is_success() {
            return Ok(());
        }
        let mut stream = response.bytes_stream();
        let mut pending = Vec::new();
        while let Some(chunk) = stream.next().await {
            pending.extend_from_slice(&chunk?);
            while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = pending.drain(..end + 2).collect();
                for line in frame.lines().map_while(Result::ok) {
                    if let Some(data) = line.strip_prefix("data:") {
                        deploys::print_event(data.trim());
                    }
                }
            }
        }
        Ok(())
    }
}

/// `text` as one URL path segment or query value: everything but unreserved characters
/// percent-encoded (an `--at` offset's `+` must not arrive as a space).
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A refusal as the local command would fail: exit 4 for a guard, 2 for a request the
/// server found wrong, 1 otherwise.
fn error(refusal: &Refusal) -> anyhow::Error {
    let message = if refusal.message.is_empty() {
        format!("the server answered {}", refusal.status)
    } else {
        refusal.message.clone()
    };
    match refusal.code.as_str() {
        "invalid" | "not_found" | "conflict" | "unauthorized" | "forbidden" => {
            anyhow::Error::new(UsageError(message))
        }
        "refused" => anyhow::Error::new(wharf_app::AppError::refused(message)),
        _ => anyhow::anyhow!(message),
    }
}

/// Run `command` through the server at `server`.
pub(crate) fn dispatch(server: &str, command: Command) -> anyhow::Result<u8> {
    let remote = Remote::new(server);
    let remote = &remote;
    super::runtime()?.block_on(async {
        match command {
            Command::Deploy(args) => deploys::deploy(remote, args).await,
            Command::Rollback(args) => deploys::rollback(remote, args).await,
            Command::Resume(args) => deploys::resume(remote, args).await,
            Command::Approve(args) => deploys::approve(remote, args).await,
            Command::Cancel(args) => deploys::cancel(remote, args).await,
            Command::Deploys(command) => deploys::read(remote, command).await,
            Command::Windows(args) => guards::windows(remote, &args).await,
            Command::Locks(args) => guards::locks(remote, &args).await,
            Command::Lock(args) => guards::lock(remote, &args).await,
            Command::Unlock(args) => guards::unlock(remote, &args).await,
            Command::Holds(args) => guards::holds(remote, &args).await,
            Command::Hold(args) => guards::hold(remote, &args).await,
            Command::Unhold(args) => guards::unhold(remote, &args).await,
            Command::Maintenance(command) => guards::maintenance(remote, &command).await,
            Command::Repo(command) => repo::repo(remote, command).await,
            Command::Snapshot(command) => repo::snapshot(remote, command).await,
            Command::Publish(args) => repo::publish(remote, args).await,
            Command::Apply(args) => repo::apply(remote, &args).await,
            Command::Nodes(args) => ops::list_nodes(remote, &args).await,
            Command::Nodeset(args) => ops::expand(remote, &args).await,
            Command::Health(args) => ops::health(remote, &args).await,
            Command::Schedules(args) => ops::schedules(remote, &args).await,
            Command::Audit(args) => ops::audit(remote, &args).await,
            Command::Log(args) => ops::note(remote, &args).await,
            Command::Token(command) => ops::token(remote, &command).await,
            Command::Config(crate::cli::ConfigCommand::Check(args)) => {
                ops::config_check(remote, &args).await
            }
            Command::Run(_) | Command::Copy(_) => {
                Err(local_only("run and copy connect to the nodes from the machine they run on"))
            }
            Command::Demo(_) => Err(local_only("demo writes a fleet and a data directory here")),
            Command::Import(_) => Err(local_only(
                "import reads an aptly root on this machine: run it where the data directory is",
            )),
            Command::Mirror(command) => mirror::mirror(remote, command).await,
            Command::Server(_) => Err(local_only(
                "server serves a data directory itself; --server names one to talk to",
            )),
            Command::Key(crate::cli::KeyCommand::Export) => ops::key_export(remote).await,
            Command::Backup(_) | Command::Restore(_) => Err(local_only(
                "backup and restore read and write the data directory on this machine",
            )),
            Command::Version(_) | Command::Completions(_) | Command::Man(_) => {
                unreachable!("dispatched before --server is looked at")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_values_are_percent_encoded() {
        assert_eq!(enc("2026-12-24T13:00:00+01:00"), "2026-12-24T13%3A00%3A00%2B01%3A00");
        assert_eq!(enc("*"), "%2A");
        assert_eq!(enc("bookworm-tools_1.0~rc"), "bookworm-tools_1.0~rc");
        assert_eq!(enc("a/b?c"), "a%2Fb%3Fc");
    }
}
