//! What one client can hold of the daemon: the length of every error
//! message it is sent, its place among the connections (`limits.
//! max_connections`) and among the open `CheckStream` calls
//! (`limits.max_open_streams`). Streams outlive the request concurrency
//! limit and the unary deadline (both end when the response starts), so
//! they have a cap of their own; a stream's replies are computed one at a
//! time, only as the transport takes them, so a client that never reads
//! holds at most its HTTP/2 window; and `limits.max_connection_age_secs`
//! ends every connection, with its streams, in the end.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// An error message for a client: outside text escaped, and at most
/// [`sltd_model::MAX_LOGGED_TEXT`] bytes, so that no input can make an
/// oversized `grpc-message`.
pub(crate) fn client_message(text: &str) -> String {
    sltd_model::printable(text, sltd_model::MAX_LOGGED_TEXT).into_owned()
}

/// Places for connections or streams, taken without waiting.
#[derive(Debug, Clone)]
pub(crate) struct Places(Arc<Semaphore>);

impl Places {
    pub(crate) fn new(n: usize) -> Self {
        Self(Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))))
    }

    pub(crate) fn take(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.0).try_acquire_owned().ok()
    }
}

/// A connection holding its place until it closes.
#[derive(Debug)]
pub(crate) struct PlacedConnection {
    inner: TcpStream,
    _place: OwnedSemaphorePermit,
}

impl PlacedConnection {
    pub(crate) fn new(inner: TcpStream, place: OwnedSemaphorePermit) -> Self {
        Self {
            inner,
            _place: place,
        }
    }
}

impl Connected for PlacedConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for PlacedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PlacedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A stream of replies holding its place until it ends or is dropped.
pub(crate) struct PlacedStream<S> {
    inner: S,
    _place: OwnedSemaphorePermit,
}

impl<S> PlacedStream<S> {
    pub(crate) fn new(inner: S, place: OwnedSemaphorePermit) -> Self {
        Self {
            inner,
            _place: place,
        }
    }
}

impl<S: Stream + Unpin> Stream for PlacedStream<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_bounded_and_escaped() {
        let m = client_message(&format!("mrz: {}\n\x1b[2J", "<".repeat(100_000)));
        assert!(m.len() <= sltd_model::MAX_LOGGED_TEXT);
        assert!(!m.contains('\x1b'));
    }

    #[test]
    fn places_run_out_and_come_back() {
        let p = Places::new(1);
        let held = p.take().expect("a first place");
        assert!(p.take().is_none());
        drop(held);
        assert!(p.take().is_some());
    }
}
