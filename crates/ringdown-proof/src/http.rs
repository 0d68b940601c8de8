//! The proof's HTTP client: one keep-alive HTTP/1.1 connection, reopened
//! after a transport error.

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

pub struct Http {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Http {
        Http { addr, sender: None }
    }

    /// Opens the connection now (a no-op while it is open).
    pub async fn connect(&mut self) -> Result<()> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// One request; the connection is dropped (and reopened next time) on a
    /// transport error.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        self.connect().await?;
        let result = async {
            let sender = self.sender.as_mut().expect("connected");
            sender.ready().await?;
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, self.addr.to_string())
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body))?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    /// `GET path`, its status and body as text.
    pub async fn get(&mut self, path: &str) -> Result<(StatusCode, String)> {
        let (status, body) = self.request(Method::GET, path, Bytes::new()).await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}
