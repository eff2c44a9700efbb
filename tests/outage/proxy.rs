//! A TCP proxy between tidemark and PostgreSQL that the test can make pass
//! traffic, refuse (close every connection and each new one), or hang
//! (accept and hold connections, forwarding nothing: a black-holed
//! network), and restore.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    Hang,
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Pass);
        let modes = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = modes.subscribe();
                tokio::spawn(connection(client, upstream, mode));
            }
        });
        Proxy { addr, mode, task }
    }

    pub fn set(&self, m: Mode) {
        self.mode.send_replace(m);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Refuse);
        self.task.abort();
    }
}

async fn connection(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // A new connection while hanging waits (the client sees a connect that
    // never answers); while refusing it is closed at once.
    if !passing(&mut mode).await {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(pump(cr, sw, mode.clone()), pump(sr, cw, mode));
}

/// Waits while hanging; true when passing, false when refusing.
async fn passing(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Pass => return true,
            Mode::Refuse => return false,
            Mode::Hang => {}
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !passing(&mut mode).await {
            return;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.changed() => continue,
        };
        // Bytes read while the mode changed to hang are held, not lost (as
        // TCP would retransmit them once the network is back).
        if !passing(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
