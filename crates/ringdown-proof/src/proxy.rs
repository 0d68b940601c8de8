//! A TCP proxy in front of an emulator that can take it away: the daemon
//! under test talks to AWS through it, the test talks to AWS directly, so
//! alerts keep arriving in the queue while the daemon cannot reach it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forwards every connection.
    Up,
    /// The service is stopped: nothing listens on the port (connections are
    /// refused) and every open connection is cut.
    Down,
    /// The service is frozen: connections are accepted and open ones are
    /// kept, but no byte is ever forwarded on them again, and they are not
    /// closed either, not even once the proxy is `Up` (then only new
    /// connections are served): a client without time limits hangs on them
    /// for good, like on a black-holed connection.
    Frozen,
}

/// A proxy on `127.0.0.1:<port>` forwarding to `upstream`.
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    acceptor: Arc<Mutex<Option<JoinHandle<()>>>>,
    upstream: SocketAddr,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel(ProxyMode::Up);
        let p = FaultProxy {
            addr,
            mode,
            acceptor: Arc::new(Mutex::new(None)),
            upstream,
        };
        p.accept_on(listener);
        Ok(p)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn mode(&self) -> ProxyMode {
        *self.mode.borrow()
    }

    /// Switches the endpoint's behaviour; open connections follow at once.
    pub async fn set(&self, mode: ProxyMode) -> std::io::Result<()> {
        let was = self.mode();
        if was == mode {
            return Ok(());
        }
        self.mode.send_replace(mode);
        if mode == ProxyMode::Down {
            if let Some(h) = self.acceptor.lock().unwrap().take() {
                h.abort();
            }
        } else if was == ProxyMode::Down {
            // The same port again, like a restarted server (SO_REUSEADDR is
            // set by tokio, so the old connections in TIME_WAIT do not block).
            let mut tries = 0;
            let listener = loop {
                match TcpListener::bind(self.addr).await {
                    Ok(l) => break l,
                    Err(_) if tries < 50 => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            self.accept_on(listener);
        }
        Ok(())
    }

    fn accept_on(&self, listener: TcpListener) {
        let mode = self.mode.subscribe();
        let upstream = self.upstream;
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(client, upstream, mode.clone()));
            }
        });
        *self.acceptor.lock().unwrap() = Some(task);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(h) = self.acceptor.lock().unwrap().take() {
            h.abort();
        }
    }
}

/// One connection: forwards while `Up`, stalls while `Frozen`, closes when
/// `Down`.
async fn serve(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<ProxyMode>) {
    let now = *mode.borrow_and_update();
    match now {
        ProxyMode::Down => return,
        ProxyMode::Frozen => return hang(client, mode).await,
        ProxyMode::Up => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    loop {
        tokio::select! {
            r = tokio::io::copy_bidirectional(&mut client, &mut server) => {
                let _ = r;
                return;
            }
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                if *mode.borrow_and_update() == ProxyMode::Frozen {
                    // Hold both sockets without reading: the peer waits on
                    // a server that no longer answers, for good.
                    drop(server);
                    return hang(client, mode).await;
                }
                if *mode.borrow() == ProxyMode::Down {
                    return;
                }
            }
        }
    }
}

/// Holds `client` open without reading or writing until the proxy goes
/// `Down` or is dropped: the client must give up by itself.
async fn hang(client: TcpStream, mut mode: watch::Receiver<ProxyMode>) {
    let _held = client;
    while mode.changed().await.is_ok() {
        if *mode.borrow_and_update() == ProxyMode::Down {
            return;
        }
    }
}
