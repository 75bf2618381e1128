//! The cap on request message sizes, enforced on the gRPC framing without decoding messages.
//!
//! A gRPC body is a sequence of messages, each prefixed by a 5-byte header (compressed flag
//! and big-endian length). The wrapper reads those headers as the body streams through and
//! fails the body when a message announces more than the cap, before its bytes are buffered
//! anywhere; it records that it did, so the gateway answers `RESOURCE_EXHAUSTED` instead of
//! whatever the upstream makes of a body that broke off.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Status;

/// Length of the header in front of every gRPC message.
const MESSAGE_HEADER_LENGTH: usize = 5;

/// Set when a body was cut off for carrying a message larger than the cap.
#[derive(Debug, Clone, Default)]
pub(crate) struct OversizedFlag(Arc<AtomicBool>);

impl OversizedFlag {
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The message of the status for an oversized request message.
pub(crate) fn oversized_status(max_message_bytes: usize) -> Status {
    Status::resource_exhausted(format!(
        "a request message is larger than the gateway's limit of {max_message_bytes} bytes"
    ))
}

pin_project! {
    /// A request body that fails when a gRPC message in it is larger than the cap.
    pub(crate) struct MessageSizeLimit<B> {
        #[pin]
        inner: B,
        max_message_bytes: usize,
        header: [u8; MESSAGE_HEADER_LENGTH],
        header_filled: usize,
        remaining_in_message: usize,
        failed: bool,
        oversized: OversizedFlag,
    }
}

impl<B> MessageSizeLimit<B> {
    /// Wraps `inner`; `oversized` is set if the cap is hit.
    pub(crate) fn new(inner: B, max_message_bytes: usize, oversized: OversizedFlag) -> Self {
        Self {
            inner,
            max_message_bytes,
            header: [0; MESSAGE_HEADER_LENGTH],
            header_filled: 0,
            remaining_in_message: 0,
            failed: false,
            oversized,
        }
    }
}

/// Follows the message boundaries through `chunk`; `false` when a message is too large.
fn follow_messages(
    mut chunk: &[u8],
    header: &mut [u8; MESSAGE_HEADER_LENGTH],
    header_filled: &mut usize,
    remaining_in_message: &mut usize,
    max_message_bytes: usize,
) -> bool {
    while !chunk.is_empty() {
        if *remaining_in_message > 0 {
            let skipped = (*remaining_in_message).min(chunk.len());
            *remaining_in_message -= skipped;
            chunk = &chunk[skipped..];
            continue;
        }
        let copied = (MESSAGE_HEADER_LENGTH - *header_filled).min(chunk.len());
        header[*header_filled..*header_filled + copied].copy_from_slice(&chunk[..copied]);
        *header_filled += copied;
        chunk = &chunk[copied..];
        if *header_filled == MESSAGE_HEADER_LENGTH {
            *header_filled = 0;
            let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            if length > max_message_bytes {
                return false;
            }
            *remaining_in_message = length;
        }
    }
    true
}

impl<B> Body for MessageSizeLimit<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Status>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        let frame = match std::task::ready!(this.inner.poll_frame(context)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let within_limit = follow_messages(
                data,
                this.header,
                this.header_filled,
                this.remaining_in_message,
                *this.max_message_bytes,
            );
            if !within_limit {
                *this.failed = true;
                this.oversized.set();
                return Poll::Ready(Some(Err(oversized_status(*this.max_message_bytes))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // Deliberately unknown: the hint of a translated grpc-web-text body is the length of
        // its base64 text, not of the decoded bytes, and an exact hint becomes the
        // content-length of the forwarded HTTP/2 request, which the upstream then rejects.
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(length: usize) -> Vec<u8> {
        let mut framed = vec![0];
        framed.extend_from_slice(&u32::try_from(length).expect("small").to_be_bytes());
        framed.extend(std::iter::repeat_n(7u8, length));
        framed
    }

    fn follows(chunks: &[&[u8]], max: usize) -> bool {
        let mut header = [0; MESSAGE_HEADER_LENGTH];
        let mut filled = 0;
        let mut remaining = 0;
        chunks
            .iter()
            .all(|chunk| follow_messages(chunk, &mut header, &mut filled, &mut remaining, max))
    }

    #[test]
    fn messages_within_the_cap_pass() {
        let mut body = message(10);
        body.extend(message(0));
        body.extend(message(16));
        assert!(follows(&[&body], 16));
        // Split at every position, headers included.
        for split in 0..body.len() {
            let (left, right) = body.split_at(split);
            assert!(follows(&[left, right], 16), "split at {split}");
        }
    }

    #[test]
    fn an_oversized_message_is_caught_even_when_its_header_is_split() {
        let mut body = message(3);
        body.extend(message(17));
        assert!(!follows(&[&body], 16));
        for split in 0..body.len() {
            let (left, right) = body.split_at(split);
            assert!(!follows(&[left, right], 16), "split at {split}");
        }
    }

    #[tokio::test]
    async fn the_body_fails_and_flags_an_oversized_message() {
        use http_body_util::BodyExt as _;
        let flag = OversizedFlag::default();
        let inner = http_body_util::Full::new(Bytes::from(message(100)))
            .map_err(|never: std::convert::Infallible| -> Status { match never {} });
        let mut body = MessageSizeLimit::new(inner, 64, flag.clone());
        let error = body.frame().await.expect("a frame").expect_err("too large");
        assert_eq!(error.code(), tonic::Code::ResourceExhausted);
        assert!(flag.is_set());
        assert!(body.frame().await.is_none());
    }
}
