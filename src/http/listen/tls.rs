//! HTTPS and `wss://` without a proxy: rustls (ring), a certificate and key
//! from PEM files (`TIDEMARK_TLS_CERT`, `TIDEMARK_TLS_KEY`), read again on
//! SIGHUP and when either file changes. A new certificate serves new
//! connections; open ones keep the session they have, so nothing drops. A
//! certificate that fails to load leaves the previous one in place (logged
//! and counted). Plain HTTP sent to the TLS port gets a readable 400.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::sock::Sock;

/// The TLS side of the listener.
pub struct Tls {
    acceptor: TlsAcceptor,
    certs: Arc<CertFiles>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.certs.cert)
            .field("key", &self.certs.key)
            .finish()
    }
}

/// The certificate files and what was last loaded from them.
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when last read.
    stamp: Mutex<Option<(SystemTime, SystemTime)>>,
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles")
            .field("cert", &self.cert)
            .finish()
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn stamp(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(cert)?, m(key)?))
}

/// Reads a certificate chain and its private key. The error names the file
/// and what is wrong with it, never the key's bytes.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        ));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "cannot read a PEM private key from {}: {e} (PKCS#8, PKCS#1 or SEC1)",
            key.display()
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, der, &provider).map_err(|e| {
        format!(
            "the key {} does not fit the certificate {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(certified)
}

impl Tls {
    /// Loads the certificate and key; an error stops the server at start.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Tls>, String> {
        let first = load(cert, key)?;
        let certs = Arc::new(CertFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(first)),
            stamp: Mutex::new(stamp(cert, key)),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(certs.clone());
        // WebSockets upgrade over HTTP/1.1 only (no RFC 8441 here), so
        // that is all the server offers.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certs,
        }))
    }

    /// Reads the files again and, when they load, serves the new
    /// certificate to new connections. On error the old one stays.
    pub fn reload(&self) -> Result<(), String> {
        let files = &self.certs;
        let now = stamp(&files.cert, &files.key);
        match load(&files.cert, &files.key) {
            Ok(k) => {
                *files.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(k);
                *files.stamp.lock().unwrap_or_else(|p| p.into_inner()) = now;
                crate::obs::tls_reload(true);
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err(e) => {
                // Not read again until a file changes once more.
                *files.stamp.lock().unwrap_or_else(|p| p.into_inner()) = now;
                crate::obs::tls_reload(false);
                tracing::error!(error = %e, "TLS certificate not reloaded; the previous one is still served");
                Err(e)
            }
        }
    }

    /// True when either file's modification time changed since last read.
    fn changed(&self) -> bool {
        let files = &self.certs;
        let now = stamp(&files.cert, &files.key);
        now.is_some() && now != *files.stamp.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reloads on SIGHUP and when the files change (checked every
    /// `interval`; 0: only on SIGHUP), until `stop`.
    pub fn watch(self: &Arc<Self>, interval: Duration, stop: CancellationToken) {
        let tls = self.clone();
        // Registered before the server answers anything: a SIGHUP sent once
        // it is ready must not meet the default action (the end).
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        tokio::spawn(async move {
            let mut tick = (!interval.is_zero()).then(|| tokio::time::interval(interval));
            loop {
                #[cfg(unix)]
                let hangup = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hangup = std::future::pending::<Option<()>>();
                let ticked = async {
                    match tick.as_mut() {
                        Some(t) => t.tick().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = hangup => { let _ = tls.reload(); }
                    _ = ticked => if tls.changed() { let _ = tls.reload(); },
                }
            }
        });
    }

    /// The TLS handshake on an accepted socket, within `limit`. A client
    /// that speaks plain HTTP instead gets a 400 saying so; `None` when
    /// there is no connection to serve.
    pub async fn accept(&self, tcp: TcpStream, limit: Duration) -> Option<Sock> {
        let mut first = [0u8; 1];
        match tokio::time::timeout(limit, tcp.peek(&mut first)).await {
            Ok(Ok(1)) => {}
            _ => return None,
        }
        // Every TLS connection opens with a handshake record (type 22).
        if first[0] != 0x16 {
            crate::obs::tls_refused("plaintext");
            refuse_plaintext(tcp).await;
            return None;
        }
        match tokio::time::timeout(limit, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Some(Sock::Tls(Box::new(tls))),
            Ok(Err(e)) => {
                crate::obs::tls_refused("handshake");
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                crate::obs::tls_refused("timeout");
                None
            }
        }
    }
}

/// What a plain-HTTP client on the TLS port reads before the close.
async fn refuse_plaintext(mut tcp: TcpStream) {
    let answer = super::raw_error(
        "400 Bad Request",
        "",
        "tls_required",
        "this port serves HTTPS: use https:// (or wss:// for WebSockets)",
    );
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        tcp.write_all(&answer).await?;
        tcp.shutdown().await?;
        // Read what the client sent, so the close is not a reset that
        // discards the answer before the client reads it.
        let mut sink = [0u8; 4096];
        loop {
            tcp.readable().await?;
            match tcp.try_read(&mut sink) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
}

/// Without TLS, SIGHUP (`systemctl reload`) has nothing to reload: it is
/// logged rather than left to its default action, which ends the process.
pub fn ignore_hangup(stop: CancellationToken) {
    #[cfg(unix)]
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    #[cfg(unix)]
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = hup.recv() => tracing::info!("SIGHUP: no TLS certificate to reload"),
            }
        }
    });
    #[cfg(not(unix))]
    drop(stop);
}
