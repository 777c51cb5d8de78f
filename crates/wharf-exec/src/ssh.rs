//! The SSH transport over russh: connect (directly, through `ProxyJump` hosts or a
//! `ProxyCommand`), check the host key (`host_check.rs`), authenticate with ssh-agent keys
//! then key files (with their user certificates), run a command on a fresh channel, copy a
//! file over SFTP.
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
use russh::keys::{Algorithm, Certificate, EcdsaCurve, HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use russh::{ChannelMsg, Sig, cipher, kex};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::capture::Capture;
use crate::event::OutputStream;
use crate::host_check::ClientHandler;
use crate::outcome::{Outcome, Unreachable, UnreachableReason};
use crate::target::{Algorithms, SshTarget, is_file};

/// Key exchange when ssh_config names none: `curve25519-sha256` first (see the module doc).
const WHARF_KEX: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::MLKEM768X25519_SHA256,
    kex::ECDH_SHA2_NISTP256,
    kex::DH_GEX_SHA256,
    kex::DH_G14_SHA256,
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
];

/// Host certificate algorithms offered (as OpenSSH offers them by default), so a host with a
/// certificate presents it and `@cert-authority` lines can vouch for it.
const HOST_CERTIFICATES: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 },
    Algorithm::Ecdsa { curve: EcdsaCurve::NistP384 },
    Algorithm::Ecdsa { curve: EcdsaCurve::NistP521 },
    Algorithm::Rsa { hash: Some(HashAlg::Sha512) },
    Algorithm::Rsa { hash: Some(HashAlg::Sha256) },
];

/// The russh client configuration for hosts whose ssh_config sets no algorithm or
/// `ServerAlive*` option (shared by a pool).
pub(crate) fn client_config() -> Arc<client::Config> {
    Arc::new(config_with(wharf_preferred(), Some(Duration::from_secs(30)), 3))
}

fn wharf_preferred() -> russh::Preferred {
    russh::Preferred {
        kex: Cow::Borrowed(WHARF_KEX),
        host_key_certificates: Cow::Borrowed(HOST_CERTIFICATES),
        ..russh::Preferred::default()
    }
}

fn config_with(
    preferred: russh::Preferred,
    keepalive_interval: Option<Duration>,
    keepalive_max: usize,
) -> client::Config {
    client::Config {
        preferred,
        nodelay: true,
        keepalive_interval,
        keepalive_max,
        ..client::Config::default()
    }
}

/// The configuration for `target` when its ssh_config changes the defaults; a list that
/// leaves nothing the client speaks is refused, naming the option.
pub(crate) fn target_config(
    target: &SshTarget,
) -> Result<Option<Arc<client::Config>>, Unreachable> {
    let (interval, count_max) = target.server_alive;
    if target.algorithms == Algorithms::default() && interval.is_zero() {
        return Ok(None);
    }
    let mut preferred = wharf_preferred();
    let algorithms = &target.algorithms;
    if let Some(names) = &algorithms.kex {
        let mut kex = spoken("KexAlgorithms", names, |name| kex::Name::try_from(name).ok())?;
        kex.extend([kex::EXTENSION_SUPPORT_AS_CLIENT, kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT]);
        preferred.kex = Cow::Owned(kex);
    }
    if let Some(names) = &algorithms.ciphers {
        let ciphers = spoken("Ciphers", names, |name| cipher::Name::try_from(name).ok())?;
        preferred.cipher = Cow::Owned(ciphers);
    }
    if let Some(names) = &algorithms.host_key {
        let parse = |name: &str| name.parse::<Algorithm>().ok();
        let (certs, plain): (Vec<String>, Vec<String>) =
            names.iter().cloned().partition(|name| name.ends_with("-cert-v01@openssh.com"));
        preferred.host_key_certificates = Cow::Owned(
            certs
                .iter()
                .filter_map(|name| parse(name.trim_end_matches("-cert-v01@openssh.com")))
                .collect(),
        );
        preferred.key = Cow::Owned(plain.iter().filter_map(|name| parse(name)).collect());
        if preferred.key.is_empty() && preferred.host_key_certificates.is_empty() {
            return Err(unspoken("HostKeyAlgorithms", names));
        }
    }
    let (keepalive_interval, keepalive_max) = if interval.is_zero() {
        (Some(Duration::from_secs(30)), 3)
    } else {
        (Some(interval), usize::try_from(count_max).unwrap_or(usize::MAX))
    };
    Ok(Some(Arc::new(config_with(preferred, keepalive_interval, keepalive_max))))
}

/// The names of `names` the client speaks, in order; none is an error.
fn spoken<T>(
    option: &str,
    names: &[String],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, Unreachable> {
    let spoken: Vec<T> = names.iter().filter_map(|name| parse(name)).collect();
    if spoken.is_empty() {
        return Err(unspoken(option, names));
    }
    Ok(spoken)
}

fn unspoken(option: &str, names: &[String]) -> Unreachable {
    Unreachable::new(
        UnreachableReason::Other,
        format!(
            "{option} in ssh_config leaves {} — none that Wharf's SSH client speaks; add one \
             it does (curve25519-sha256, aes256-gcm@openssh.com, ssh-ed25519, rsa-sha2-512)",
            names.join(",")
        ),
    )
}

/// An authenticated SSH connection, and the jump connections it is tunnelled through.
pub(crate) struct SshConnection {
    handle: Handle<ClientHandler>,
    _jumps: Option<Arc<SshConnection>>,
    /// The `ProxyCommand` process carrying the connection (killed when dropped).
    _proxy: Option<tokio::process::Child>,
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
        let mut handler = ClientHandler::new(target, refusal.clone());
        let config = target_config(target)?.unwrap_or(config);
        let mut proxy = None;
        let (handle, jumps) = match &target.proxy_jump {
            None if target.proxy_command.is_some() => {
                let command = target.proxy_command.as_deref().unwrap_or_default();
                let (child, stream) = spawn_proxy(command)?;
                proxy = Some(child);
                (handshake(config, stream, handler, &refusal).await?, None)
            }
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
                if let Ok(peer) = stream.peer_addr() {
                    handler.check_ip_of(target, peer);
                }
                (handshake(config, stream, handler, &refusal).await?, None)
            }
        };
        let mut connection = SshConnection { handle, _jumps: jumps, _proxy: proxy };
        authenticate(&mut connection.handle, target, keys).await?;
        Ok(Arc::new(connection))
    })
}

/// `ProxyCommand`: `sh -c COMMAND`, whose stdin and stdout carry the SSH stream.
fn spawn_proxy(
    command: &str,
) -> Result<
    (
        tokio::process::Child,
        tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>,
    ),
    Unreachable,
> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| {
            Unreachable::new(
                UnreachableReason::Other,
                format!("cannot start ProxyCommand {command:?}: {err}"),
            )
        })?;
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return Err(Unreachable::new(
            UnreachableReason::Other,
            format!("ProxyCommand {command:?} has no stdin/stdout"),
        ));
    };
    Ok((child, tokio::io::join(stdout, stdin)))
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
                let allowed = target.identities_only.then(|| configured_public_keys(target));
                for identity in identities {
                    let AgentIdentity::PublicKey { key, .. } = identity else { continue };
                    if allowed.as_ref().is_some_and(|keys| !keys.contains(key.key_data())) {
                        continue;
                    }
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
        for cert in certificates_for(target, path, &key) {
            let result = handle
                .authenticate_openssh_cert(&target.user, key.clone(), cert)
                .await
                .map_err(|e| protocol(&e))?;
            if result.success() {
                return Ok(());
            }
            tried.push(format!("{} (certificate)", path.display()));
        }
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

/// The public keys of the configured identity files (`KEY.pub`, or the key a
/// `CertificateFile` certifies): what `IdentitiesOnly` lets the agent offer.
fn configured_public_keys(target: &SshTarget) -> Vec<russh::keys::ssh_key::public::KeyData> {
    let mut keys = Vec::new();
    for path in &target.identity_files {
        let mut public = path.as_os_str().to_owned();
        public.push(".pub");
        if let Ok(key) = russh::keys::load_public_key(PathBuf::from(public)) {
            keys.push(key.key_data().clone());
        }
    }
    for file in &target.certificate_files {
        if let Ok(cert) = russh::keys::load_openssh_certificate(file) {
            keys.push(cert.public_key().clone());
        }
    }
    keys
}

/// The user certificates to offer with the key at `path`: `CertificateFile`s certifying
/// that key, and `PATH-cert.pub` as OpenSSH loads it. Unreadable files are skipped.
fn certificates_for(target: &SshTarget, path: &Path, key: &PrivateKey) -> Vec<Certificate> {
    let mut sibling = path.as_os_str().to_owned();
    sibling.push("-cert.pub");
    let sibling = PathBuf::from(sibling);
    let mut certs: Vec<Certificate> = Vec::new();
    for file in target.certificate_files.iter().chain(std::iter::once(&sibling)) {
        if !is_file(file) {
            continue;
        }
        match russh::keys::load_openssh_certificate(file) {
            Ok(cert) if cert.public_key() == key.public_key().key_data() => {
                if !certs.iter().any(|have| have == &cert) {
                    certs.push(cert);
                }
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(file = %file.display(), "skipping certificate file: {err}"),
        }
    }
    certs
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
