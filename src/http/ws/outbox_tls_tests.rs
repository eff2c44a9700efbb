//! The outbox over TLS: bytes the TLS layer accepted while the socket was
//! full must still reach a peer that reads later, with no further frame to
//! push them out (the connection task flushes, `Outbox::poll_write`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use super::Outbox;
use crate::http::listen::{Sock, WriteSide};
use crate::http::pressure::Pressure;

/// A TLS connection over loopback with small socket buffers (a few tens of
/// KiB in flight at most), the server's write half attached to an outbox.
async fn tls_pair() -> (Arc<Outbox>, tokio_rustls::client::TlsStream<TcpStream>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let listener = {
        let s = TcpSocket::new_v4().unwrap();
        s.set_send_buffer_size(4096).unwrap();
        s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        s.listen(8).unwrap()
    };
    let client = TcpSocket::new_v4().unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    let client = client.connect(listener.local_addr().unwrap());
    let (client, accepted) = tokio::join!(client, listener.accept());
    let (server, _) = accepted.unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let (server, client) = tokio::join!(
        acceptor.accept(server),
        connector.connect(name, client.unwrap())
    );
    let (_, wr) = Sock::Tls(Box::new(server.unwrap())).split();
    let out = Arc::new(Outbox::new(
        1 << 20,
        Duration::from_secs(10),
        Arc::new(Pressure::new(usize::MAX)),
    ));
    assert!(matches!(wr, WriteSide::Tls(_)));
    out.attach(wr);
    (out, client.unwrap())
}

#[tokio::test]
async fn bytes_the_tls_layer_holds_reach_a_peer_that_reads_later() {
    let (out, mut client) = tls_pair().await;
    // The connection task, as `conn.rs` runs it: write while anything is
    // left, and look again whenever kicked.
    let task = {
        let out = out.clone();
        tokio::spawn(async move {
            loop {
                let queued = !out.is_empty();
                tokio::select! {
                    w = futures::future::poll_fn(|cx| out.poll_write(cx)), if queued => {
                        if w.is_err() {
                            return;
                        }
                    }
                    _ = out.kick.notified() => {}
                }
            }
        })
    };
    // 48 KiB while the peer reads nothing: more than the sockets hold, less
    // than the TLS layer's 64 KiB, so the last frames wait inside TLS with
    // the outbox's queue empty.
    let frame = Bytes::from(vec![7u8; 1024]);
    for _ in 0..48 {
        out.push(frame.clone());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Now the peer reads: all of it arrives, with nothing more pushed.
    let mut got = vec![0u8; 48 * 1024];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut got))
        .await
        .expect("every byte arrives without another frame to push it out")
        .unwrap();
    assert!(got.iter().all(|&b| b == 7));
    task.abort();
}
