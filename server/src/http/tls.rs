//! TLS on the one port, without a proxy in front: `wss://` and `https://` from the node itself when
//! `tls_cert` and `tls_key` are set (PEM files), as soketi and sockudo can.
//!
//! The public port is a TLS front: each connection is handshaken (rustls) and then relayed to the
//! node's plain HTTP server on a loopback port of its own, so every path behind it (the WebSocket
//! session's direct socket writes included) is the same with and without TLS. The plain server learns
//! each relayed connection's real client address from `Peers` (keyed by the relay's own local port,
//! recorded before it connects). The certificate is read again on SIGHUP and when its files change
//! (checked every 10 s); a certificate that does not load leaves the previous one in use.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::shutdown::Shutdown;

/// How long a client gets for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the certificate files are checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {source}")]
    Certificate {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot read the TLS key {path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS certificate and key do not make a server configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Relayed connections' real client addresses, by the relay's local port.
pub type Peers = Arc<DashMap<u16, SocketAddr>>;

/// The certificate and key files, and the acceptor made from them.
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    acceptor: RwLock<TlsAcceptor>,
    loaded: RwLock<Option<SystemTime>>,
}

impl Certificate {
    /// Loads the PEM certificate chain and private key.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let acceptor = acceptor(cert, key)?;
        Ok(Arc::new(Certificate {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            acceptor: RwLock::new(acceptor),
            loaded: RwLock::new(modified(cert, key)),
        }))
    }

    /// Reads the files again; keeps the current certificate when they do not load.
    pub fn reload(&self) {
        match acceptor(&self.cert, &self.key) {
            Ok(fresh) => {
                *self.acceptor.write() = fresh;
                *self.loaded.write() = modified(&self.cert, &self.key);
                tracing::info!(cert = %self.cert.display(), "TLS certificate loaded");
            }
            Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use"),
        }
    }

    fn changed(&self) -> bool {
        modified(&self.cert, &self.key) != *self.loaded.read()
    }
}

fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certificate {
            path: cert.to_path_buf(),
            source,
        })?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The later of the two files' modification times.
fn modified(cert: &Path, key: &Path) -> Option<SystemTime> {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    time(cert).max(time(key))
}

/// Accepts TLS on `public` and relays each connection to `plain` until shutdown; reloads the
/// certificate on SIGHUP and when its files change.
pub async fn run_front(
    public: TcpListener,
    plain: SocketAddr,
    certificate: Arc<Certificate>,
    peers: Peers,
    shutdown: Shutdown,
) {
    spawn_reloader(certificate.clone(), shutdown.clone());
    loop {
        let accepted = tokio::select! {
            accepted = public.accept() => accepted,
            () = shutdown.stopping() => return,
        };
        let Ok((client, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let acceptor = certificate.acceptor.read().clone();
        let peers = peers.clone();
        tokio::spawn(async move {
            if let Err(e) = relay(client, peer, acceptor, plain, &peers).await {
                tracing::debug!(error = %e, %peer, "TLS connection ended");
            }
        });
    }
}

/// Handshakes `client`, connects to the plain server from a port recorded as `peer`'s, and copies
/// both ways until either side closes.
async fn relay(
    client: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    plain: SocketAddr,
    peers: &Peers,
) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(client))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let port = socket.local_addr()?.port();
    peers.insert(port, peer);
    let connected = socket.connect(plain).await;
    let mut inner = match connected {
        Ok(inner) => inner,
        Err(e) => {
            peers.remove(&port);
            return Err(e);
        }
    };
    let _ = inner.set_nodelay(true);
    let copied = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
    peers.remove(&port);
    copied.map(|_| ())
}

fn spawn_reloader(certificate: Arc<Certificate>, shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(RELOAD_CHECK);
        loop {
            let hangup = async {
                match hangups.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.stopping() => return,
                _ = hangup => certificate.reload(),
                _ = tick.tick() => if certificate.changed() { certificate.reload() },
            }
        }
    });
}
