//! TLS for both listeners (`--tls-cert`, `--tls-key`), and mutual TLS (`--tls-client-ca`: every
//! connection must present a client certificate that CA signed): rustls with the ring provider,
//! the TLS stack reqwest and object_store already build. Flight SQL gets it through tonic's own
//! `ServerTlsConfig`; HTTP through [`TlsListener`], whose handshakes run in their own tasks so
//! that a slow or silent client never holds up the others.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

/// How long a client may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate chain and its private key, PEM, checked when read.
#[derive(Clone)]
pub struct Tls {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    /// The CA whose client certificates are required (mutual TLS), if any.
    client_ca_pem: Option<Vec<u8>>,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

impl Tls {
    /// Reads and checks a PEM certificate chain and its PEM private key. Errors name the file
    /// and what is wrong with it (never the key's contents).
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path)
                .map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
        };
        Self::from_pem(read(cert, "certificate")?, read(key, "key")?).map_err(|e| {
            format!(
                "TLS certificate {} with key {}: {e}",
                cert.display(),
                key.display()
            )
        })
    }

    /// A certificate chain and key given as PEM text.
    pub fn from_pem(cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Result<Self, String> {
        Self::build(cert_pem, key_pem, None)
    }

    /// The same, requiring of every client a certificate signed by the CA in `ca` (PEM, one
    /// or more certificates): mutual TLS. Errors name the file.
    pub fn with_client_ca_file(self, ca: &Path) -> Result<Self, String> {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("cannot read the TLS client CA {}: {e}", ca.display()))?;
        self.with_client_ca(pem)
            .map_err(|e| format!("TLS client CA {}: {e}", ca.display()))
    }

    /// [`Self::with_client_ca_file`] with the CA given as PEM text.
    pub fn with_client_ca(self, ca_pem: Vec<u8>) -> Result<Self, String> {
        Self::build(self.cert_pem, self.key_pem, Some(ca_pem))
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_ca_pem.is_some()
    }

    fn build(
        cert_pem: Vec<u8>,
        key_pem: Vec<u8>,
        client_ca_pem: Option<Vec<u8>>,
    ) -> Result<Self, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the certificate is not PEM: {e}"))?;
        if certs.is_empty() {
            return Err("the certificate file holds no CERTIFICATE block".into());
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("the key is not a PEM private key: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match &client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(ca_pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in CertificateDer::pem_slice_iter(ca_pem) {
                    let ca = ca.map_err(|e| format!("the client CA is not PEM: {e}"))?;
                    roots
                        .add(ca)
                        .map_err(|e| format!("the client CA is not a usable CA: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("the client CA file holds no CERTIFICATE block".into());
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| format!("the client CA cannot verify clients: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("the key does not fit the certificate: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            cert_pem,
            key_pem,
            client_ca_pem,
            config: Arc::new(config),
        })
    }

    /// tonic's configuration of the same certificate, key and client CA.
    pub(crate) fn for_tonic(&self) -> tonic::transport::ServerTlsConfig {
        let config = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem),
        );
        match &self.client_ca_pem {
            Some(ca) => config.client_ca_root(tonic::transport::Certificate::from_pem(ca)),
            None => config,
        }
    }

    /// `listener`'s connections, through TLS.
    pub(crate) fn listen(&self, listener: TcpListener) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::clone(&self.config));
        let (sender, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // The server dropped its listener (it stopped): close the port too.
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = sender.closed() => return,
                };
                let (stream, addr) = match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        // Out of descriptors, say: wait instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, ready) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        let _ = ready.send((stream, addr)).await;
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
    }
}

/// A listener whose connections have finished their TLS handshake.
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
