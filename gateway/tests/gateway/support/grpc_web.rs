//! A grpc-web client with frames built by hand, in the binary and the text format, over
//! HTTP/1.1.

use std::net::SocketAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What a grpc-web call answered.
#[derive(Debug)]
pub struct GrpcWebReply {
    pub http_status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub grpc_status: Option<i32>,
    pub grpc_message: String,
    pub messages: Vec<Bytes>,
}

/// Which grpc-web wire format to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcWebFormat {
    Binary,
    Text,
}

/// Calls `path` with grpc-web over HTTP/1.1, frames built by hand.
pub async fn grpc_web_call(
    address: SocketAddr,
    path: &str,
    message: &impl prost::Message,
    headers: &[(&str, &str)],
    format: GrpcWebFormat,
) -> GrpcWebReply {
    let encoded = message.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + encoded.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(encoded.len()).unwrap());
    frame.extend_from_slice(&encoded);
    let (content_type, body) = match format {
        GrpcWebFormat::Binary => ("application/grpc-web+proto", frame.freeze()),
        GrpcWebFormat::Text => (
            "application/grpc-web-text",
            Bytes::from(STANDARD.encode(&frame)),
        ),
    };
    let mut request = http::Request::post(format!("http://{address}{path}"))
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .header("x-user-agent", "grpc-web-javascript/0.1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body)).unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_11);
    let (parts, body) = response.into_parts();
    let raw = body.collect().await.unwrap().to_bytes();
    if parts.status == http::StatusCode::OK {
        let answered = parts.headers["content-type"].to_str().unwrap();
        assert!(
            answered.starts_with(content_type),
            "{answered} for {content_type}"
        );
    }
    let mut payload = match format {
        GrpcWebFormat::Binary => raw,
        // Each chunk is encoded on its own (with padding), so decode group by group.
        GrpcWebFormat::Text => {
            let mut decoded = Vec::new();
            for group in raw.chunks(4) {
                decoded.extend(STANDARD.decode(group).unwrap());
            }
            Bytes::from(decoded)
        }
    };

    let header_status = parts
        .headers
        .get("grpc-status")
        .map(|value| value.to_str().unwrap().parse::<i32>().unwrap());
    let mut reply = GrpcWebReply {
        http_status: parts.status,
        grpc_status: header_status,
        grpc_message: parts
            .headers
            .get("grpc-message")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        messages: Vec::new(),
    };
    while payload.remaining() >= 5 {
        let flags = payload.get_u8();
        let length = payload.get_u32() as usize;
        let content = payload.split_to(length);
        if flags & 0x80 == 0 {
            reply.messages.push(content);
            continue;
        }
        for line in std::str::from_utf8(&content).unwrap().split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            match name.trim().to_ascii_lowercase().as_str() {
                "grpc-status" => reply.grpc_status = Some(value.trim().parse().unwrap()),
                "grpc-message" => reply.grpc_message = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    reply
}
