//! Every socket the server accepts is tuned before anything is read from it:
//! `TCP_NODELAY` (else small frames wait ~40 ms for delayed ACKs) and TCP
//! keep-alive. Checked on sockets accepted through the very listener wrapper
//! `server::serve` accepts from (`server::accepting`).

use axum::serve::Listener;

#[tokio::test]
async fn accepted_sockets_get_nodelay_and_keepalive() {
    let bound = tidemark::server::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let addr = bound.local_addr().expect("addr");
    let mut listener = tidemark::server::accepting(bound);
    for _ in 0..3 {
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (io, peer) = listener.accept().await;
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(
            io.nodelay().expect("nodelay"),
            "TCP_NODELAY on an accepted socket"
        );
        let sock = socket2::SockRef::from(&io);
        assert!(sock.keepalive().expect("keepalive"), "SO_KEEPALIVE");
        assert_eq!(
            sock.tcp_keepalive_time().expect("keepalive time"),
            std::time::Duration::from_secs(60)
        );
    }
}
