//! The SSH transport over russh: connect (directly or through `ProxyJump` hosts), check the
//! host key against `known_hosts`, authenticate with ssh-agent keys then key files, run a
//! command on a fresh channel, copy a file over SFTP.
//!
//! Key exchange prefers `curve25519-sha256`: OpenSSH 9.2's default (sntrup761x25519) costs
//! ten times the client CPU per connection, which dominates a fan-out to many nodes.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Sig, kex};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::capture::Capture;
use crate::event::OutputStream;
use crate::known_hosts::{self, HostKeyStatus};
use crate::outcome::{Outcome, Unreachable, UnreachableReason};
use crate::ssh_config::HostKeyPolicy;
use crate::target::{SshTarget, is_file};

/// The russh client configuration Wharf uses for every connection.
pub(crate) fn client_config() -> Arc<client::Config> {
    let preferred = russh::Preferred {
        kex: Cow::Borrowed(&[
            kex::CURVE25519,
            kex::CURVE25519_PRE_RFC_8731,
            kex::MLKEM768X25519_SHA256,
            kex::ECDH_SHA2_NISTP256,
            kex::DH_GEX_SHA256,
            kex::DH_G14_SHA256,
            kex::EXTENSION_SUPPORT_AS_CLIENT,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
        ]),
        ..russh::Preferred::default()
    };
    Arc::new(client::Config {
        preferred,
        nodelay: true,
        keepalive_interval: Some(Duration::from_secs(30)),
        ..client::Config::default()
    })
}

/// Decides about the server's key, and remembers why it said no.
struct ClientHandler {
    host: String,
    port: u16,
    known_hosts_files: Vec<PathBuf>,
    policy: HostKeyPolicy,
    refusal: Arc<Mutex<Option<String>>>,
}

impl ClientHandler {
    fn refuse(&self, message: String) -> bool {
        *self.refusal.lock().expect("refusal lock") = Some(message);
        false
    }
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = server_key.public_key();
        let algorithm = key.algorithm().as_str().to_owned();
        let Ok(blob) = key.to_bytes() else {
            return Ok(self.refuse("cannot encode the server's host key".to_owned()));
        };
        let (files, host, port, policy) =
            (self.known_hosts_files.clone(), self.host.clone(), self.port, self.policy);
        let name = known_hosts::host_entry_name(&self.host, self.port);
        let decision = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let status = known_hosts::check(&files, &host, port, &algorithm, &blob)
                .map_err(|err| format!("cannot read known_hosts: {err}"))?;
            match status {
                HostKeyStatus::Known => Ok(()),
                HostKeyStatus::Revoked { file, line } => Err(format!(
                    "the {algorithm} host key of {name} is marked @revoked in {}:{line}",
                    file.display()
                )),
                HostKeyStatus::Changed { file, line } if policy != HostKeyPolicy::AcceptAny => Err(format!(
                    "REMOTE HOST KEY CHANGED: the {algorithm} key of {name} does not match {}:{line}; \
                     if the host was reinstalled, remove that line (ssh-keygen -R '{name}' -f {})",
                    file.display(),
                    file.display()
                )),
                HostKeyStatus::Changed { .. } => Ok(()),
                HostKeyStatus::Unknown if policy == HostKeyPolicy::Strict => Err(format!(
                    "no {algorithm} host key for {name} in {}; connect once with --accept-new \
                     (StrictHostKeyChecking accept-new) or add it to known_hosts",
                    files.first().map_or_else(|| "known_hosts".to_owned(), |f| f.display().to_string())
                )),
                HostKeyStatus::Unknown => {
                    let Some(file) = files.first() else { return Ok(()) };
                    known_hosts::record(file, &host, port, &algorithm, &blob)
                        .map_err(|err| format!("cannot record the host key of {name} in {}: {err}", file.display()))?;
                    tracing::info!(host = %name, file = %file.display(), "recorded new host key");
                    Ok(())
                }
            }
        })
        .await
        .map_err(|_| russh::Error::Disconnect)?;
        match decision {
            Ok(()) => Ok(true),
            Err(message) => Ok(self.refuse(message)),
        }
    }
}

/// An authenticated SSH connection, and the jump connections it is tunnelled through.
pub(crate) struct SshConnection {
    handle: Handle<ClientHandler>,
    _jumps: Option<Arc<SshConnection>>,
}

impl SshConnection {
    pub(crate) fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    pub(crate) async fn close(&self) {
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }
}

/// Private keys read from disk once per pool (a fan-out reads the same file 1,000 times).
pub(crate) type KeyCache = Mutex<std::collections::HashMap<PathBuf, Option<Arc<PrivateKey>>>>;

fn load_key(cache: &KeyCache, path: &Path) -> Option<Arc<PrivateKey>> {
    if let Some(key) = cache.lock().expect("key cache").get(path) {
        return key.clone();
    }
    let key = if is_file(path) {
        match russh::keys::load_secret_key(path, None) {
            Ok(key) => Some(Arc::new(key)),
            Err(err) => {
                tracing::warn!(file = %path.display(), "skipping identity file: {err}");
                None
            }
        }
    } else {
        None
    };
    cache.lock().expect("key cache").insert(path.to_owned(), key.clone());
    key
}

/// Connect and authenticate; every failure is an [`Unreachable`] with its reason.
pub(crate) fn connect<'a>(
    target: &'a SshTarget,
    config: Arc<client::Config>,
    keys: &'a KeyCache,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Arc<SshConnection>, Unreachable>> + Send + 'a>> {
    Box::pin(async move {
        let refusal = Arc::new(Mutex::new(None));
        let handler = ClientHandler {
            host: target.host.clone(),
            port: target.port,
            known_hosts_files: target.known_hosts_files.clone(),
            policy: target.host_key_policy,
            refusal: refusal.clone(),
        };
        let (handle, jumps) = match &target.proxy_jump {
            Some(jump) => {
                let jump_connection = connect(jump, config.clone(), keys).await.map_err(|err| {
                    Unreachable::new(
                        err.reason,
                        format!("via jump host {}: {}", jump.host, err.message),
                    )
                })?;
                let channel = jump_connection
                    .handle
                    .channel_open_direct_tcpip(
                        target.host.clone(),
                        u32::from(target.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|err| {
                        Unreachable::new(
                            UnreachableReason::Other,
                            format!(
                                "jump host {} cannot open a tunnel to {}:{}: {err}",
                                jump.host, target.host, target.port
                            ),
                        )
                    })?;
                let handle = handshake(config, channel.into_stream(), handler, &refusal).await?;
                (handle, Some(jump_connection))
            }
            None => {
                let stream = tcp_connect(&target.host, target.port).await?;
                (handshake(config, stream, handler, &refusal).await?, None)
            }
        };
        let mut connection = SshConnection { handle, _jumps: jumps };
        authenticate(&mut connection.handle, target, keys).await?;
        Ok(Arc::new(connection))
    })
}

async fn tcp_connect(host: &str, port: u16) -> Result<tokio::net::TcpStream, Unreachable> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| {
            Unreachable::new(UnreachableReason::Dns, format!("cannot resolve {host}: {err}"))
        })?
        .collect();
    let mut last_error = None;
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(err) => last_error = Some((addr, err)),
        }
    }
    Err(match last_error {
        Some((addr, err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
            Unreachable::new(UnreachableReason::Refused, format!("connection refused by {addr}"))
        }
        Some((addr, err)) => {
            Unreachable::new(UnreachableReason::Other, format!("cannot connect to {addr}: {err}"))
        }
        None => Unreachable::new(UnreachableReason::Dns, format!("{host} resolves to no address")),
    })
}

async fn handshake<S>(
    config: Arc<client::Config>,
    stream: S,
    handler: ClientHandler,
    refusal: &Mutex<Option<String>>,
) -> Result<Handle<ClientHandler>, Unreachable>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    client::connect_stream(config, stream, handler).await.map_err(|err| {
        if let Some(message) = refusal.lock().expect("refusal lock").take() {
            return Unreachable::new(UnreachableReason::HostKey, message);
        }
        Unreachable::new(UnreachableReason::Other, format!("SSH handshake failed: {err}"))
    })
}

async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    target: &SshTarget,
    keys: &KeyCache,
) -> Result<(), Unreachable> {
    let protocol = |err: &dyn std::fmt::Display| {
        Unreachable::new(UnreachableReason::Other, format!("authentication failed: {err}"))
    };
    let mut tried = Vec::new();
    if let Some(socket) = &target.agent {
        match AgentClient::connect_uds(socket).await {
            Ok(mut agent) => {
                let identities = agent.request_identities().await.unwrap_or_default();
                for identity in identities {
                    let AgentIdentity::PublicKey { key, .. } = identity else { continue };
                    let hash =
                        handle.best_supported_rsa_hash().await.map_err(|e| protocol(&e))?.flatten();
                    match handle
                        .authenticate_publickey_with(&target.user, key, hash, &mut agent)
                        .await
                    {
                        Ok(result) if result.success() => return Ok(()),
                        Ok(_) => {}
                        Err(err) => tracing::debug!("agent signing failed: {err}"),
                    }
                }
                tried.push("ssh-agent keys".to_owned());
            }
            Err(err) => tracing::debug!(socket = %socket.display(), "ssh-agent unavailable: {err}"),
        }
    }
    for path in &target.identity_files {
        let Some(key) = load_key(keys, path) else { continue };
        let hash = handle.best_supported_rsa_hash().await.map_err(|e| protocol(&e))?.flatten();
        let result = handle
            .authenticate_publickey(&target.user, PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(|e| protocol(&e))?;
        if result.success() {
            return Ok(());
        }
        tried.push(path.display().to_string());
    }
    let tried = if tried.is_empty() {
        "no usable key found".to_owned()
    } else {
        format!("tried {}", tried.join(", "))
    };
    Err(Unreachable::new(
        UnreachableReason::Auth,
        format!("permission denied for user {} ({tried})", target.user),
    ))
}

/// Run `command` on a new channel. `timeout` bounds the command (not the connection).
pub(crate) async fn exec(
    connection: &SshConnection,
    command: &str,
    timeout: Option<Duration>,
    capture: &mut Capture,
) -> Result<Outcome, ChannelOpenError> {
    let mut channel = connection
        .handle
        .channel_open_session()
        .await
        .map_err(|err| ChannelOpenError(err.to_string()))?;
    if let Err(err) = channel.exec(true, command).await {
        return Ok(Outcome::Failed(format!("cannot start the command: {err}")));
    }
    let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
    let mut exit = None;
    loop {
        let message = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, channel.wait()).await {
                Ok(message) => message,
                Err(_) => {
                    // sshd delivers `signal` requests to the command's process group.
                    let _ = channel.signal(Sig::KILL).await;
                    let _ = channel.close().await;
                    return Ok(Outcome::TimedOut(timeout.unwrap_or_default()));
                }
            },
            None => channel.wait().await,
        };
        match message {
            Some(ChannelMsg::Data { data }) => capture.push(OutputStream::Stdout, &data).await,
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                capture.push(OutputStream::Stderr, &data).await
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                exit = Some(Outcome::Exited(exit_status))
            }
            Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                exit = Some(Outcome::Signalled(signal_name_text(&signal_name)));
            }
            Some(ChannelMsg::Failure) => {
                return Ok(Outcome::Failed("the server refused to run the command".to_owned()));
            }
            Some(ChannelMsg::Close) | None => break,
            Some(_) => {}
        }
    }
    Ok(exit
        .unwrap_or_else(|| Outcome::Failed("the channel closed without an exit status".to_owned())))
}

fn signal_name_text(signal: &Sig) -> String {
    match signal {
        Sig::Custom(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

/// The connection could not open a channel: it is dead, reconnect.
#[derive(Debug)]
pub(crate) struct ChannelOpenError(pub(crate) String);

/// Copy `source` to `dest` on the node over SFTP, with `mode` as permissions.
pub(crate) async fn copy(
    connection: &SshConnection,
    source: &Path,
    dest: &str,
    mode: u32,
) -> Result<Result<u64, String>, ChannelOpenError> {
    let channel = connection
        .handle
        .channel_open_session()
        .await
        .map_err(|err| ChannelOpenError(err.to_string()))?;
    if let Err(err) = channel.request_subsystem(true, "sftp").await {
        return Ok(Err(format!("cannot start the sftp subsystem: {err}")));
    }
    let result = async {
        let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
            .await
            .map_err(|err| format!("sftp: {err}"))?;
        let mut remote =
            sftp.create(dest).await.map_err(|err| format!("cannot create {dest}: {err}"))?;
        let mut local = tokio::fs::File::open(source)
            .await
            .map_err(|err| format!("cannot read {}: {err}", source.display()))?;
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = local
                .read(&mut buffer)
                .await
                .map_err(|err| format!("cannot read {}: {err}", source.display()))?;
            if n == 0 {
                break;
            }
            remote
                .write_all(&buffer[..n])
                .await
                .map_err(|err| format!("cannot write {dest}: {err}"))?;
            total += n as u64;
        }
        remote.flush().await.map_err(|err| format!("cannot write {dest}: {err}"))?;
        remote.shutdown().await.map_err(|err| format!("cannot close {dest}: {err}"))?;
        let mut metadata = russh_sftp::protocol::FileAttributes::empty();
        metadata.permissions = Some(mode);
        sftp.set_metadata(dest, metadata)
            .await
            .map_err(|err| format!("cannot set the mode of {dest}: {err}"))?;
        let _ = sftp.close().await;
        Ok(total)
    }
    .await;
    Ok(result)
}
