//! Every socket the server accepts is tuned before anything is read from it:
//! `TCP_NODELAY` (else small frames wait ~40 ms for delayed ACKs) and TCP
//! keep-alive. Checked on sockets accepted by the very function
//! `server::serve` accepts with (`http::listen::accept`).

#[tokio::test]
async fn accepted_sockets_get_nodelay_and_keepalive() {
    let bound = tidemark::server::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let addr = bound.local_addr().expect("addr");
    let listener = bound;
    for _ in 0..3 {
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (io, peer) = tidemark::http::listen::accept(&listener).await;
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
