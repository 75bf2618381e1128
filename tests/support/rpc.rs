//! One way to make a unary call in a test, over native gRPC or over grpc-web (HTTP/1.1), in
//! plain text to a gateway or over TLS to Envoy, so the same flow runs through both
//! protocols and both ways in.

use std::net::{IpAddr, SocketAddr};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tokio_rustls::rustls::pki_types::ServerName;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::edge::{EDGE_SERVER_NAME, EdgeTls};

/// Which protocol a [`Rpc`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Native gRPC over HTTP/2 (h2c).
    Grpc,
    /// grpc-web, binary, over HTTP/1.1.
    GrpcWeb,
}

/// Makes unary calls to the gateway, directly or through Envoy.
#[derive(Clone)]
pub struct Rpc {
    protocol: Protocol,
    base_url: String,
    channel: Channel,
    web_client: WebClient,
    /// Headers sent with every call, on top of the protocol's own.
    extra_headers: Vec<(&'static str, String)>,
}

/// How grpc-web requests travel.
#[derive(Clone)]
enum WebClient {
    /// Plain HTTP/1.1 to the gateway.
    Plain(Box<Client<HttpConnector, Full<Bytes>>>),
    /// HTTP/1.1 over TLS (ALPN http/1.1) to Envoy, one connection per call.
    Tls(TlsWebClient),
}

#[derive(Clone)]
struct TlsWebClient {
    address: SocketAddr,
    local_address: Option<IpAddr>,
    connector: tokio_rustls::TlsConnector,
}

impl TlsWebClient {
    async fn request(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let socket = tokio::net::TcpSocket::new_v4().map_err(|error| error.to_string())?;
        if let Some(local_address) = self.local_address {
            socket
                .bind(SocketAddr::new(local_address, 0))
                .map_err(|error| format!("bind {local_address}: {error}"))?;
        }
        let stream = socket
            .connect(self.address)
            .await
            .map_err(|error| format!("connect {}: {error}", self.address))?;
        let server_name = ServerName::try_from(EDGE_SERVER_NAME).expect("server name");
        let stream = self
            .connector
            .connect(server_name, stream)
            .await
            .map_err(|error| format!("TLS handshake: {error}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| format!("HTTP/1.1 handshake: {error}"))?;
        tokio::spawn(connection);
        sender
            .send_request(request)
            .await
            .map_err(|error| error.to_string())
    }
}

impl Rpc {
    /// A client of the gateway at `address`.
    pub async fn connect(address: SocketAddr, protocol: Protocol) -> Self {
        let base_url = format!("http://{address}");
        let channel = Channel::from_shared(base_url.clone())
            .expect("valid url")
            .connect()
            .await
            .expect("gateway accepts connections");
        let web_client =
            WebClient::Plain(Box::new(Client::builder(TokioExecutor::new()).build_http()));
        Self {
            protocol,
            base_url,
            channel,
            web_client,
            extra_headers: Vec::new(),
        }
    }

    /// A client of Envoy at `address` over TLS, trusting the CA of `tls`: native gRPC over
    /// HTTP/2, or grpc-web over HTTP/1.1, from `local_address` when given (another loopback
    /// address is another client).
    pub async fn connect_tls(
        address: SocketAddr,
        protocol: Protocol,
        tls: &EdgeTls,
        local_address: Option<IpAddr>,
    ) -> Self {
        let channel = Endpoint::from_shared(format!("https://{address}"))
            .expect("valid url")
            .tls_config(tls.grpc_client_config())
            .expect("TLS configuration")
            .local_address(local_address)
            .connect()
            .await
            .expect("Envoy accepts TLS connections");
        let web_client = WebClient::Tls(TlsWebClient {
            address,
            local_address,
            connector: tls.http1_connector(),
        });
        Self {
            protocol,
            base_url: String::new(),
            channel,
            web_client,
            extra_headers: Vec::new(),
        }
    }

    /// This client, sending `name: value` with every call as well.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.extra_headers.push((name, value.to_owned()));
        self
    }

    /// The protocol in use.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The native gRPC channel the client calls through (for streams, which [`Rpc::call`]
    /// does not make).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Calls `path` (e.g. `/gigmesh.auth.v1.AuthService/LogIn`) with `request`, signed in with
    /// `token` when given.
    pub async fn call<Request, Response>(
        &self,
        path: &'static str,
        request: Request,
        token: Option<&str>,
    ) -> Result<Response, Status>
    where
        Request: Message + Send + Sync + 'static,
        Response: Message + Default + Send + Sync + 'static,
    {
        match self.protocol {
            Protocol::Grpc => self.call_grpc(path, request, token).await,
            Protocol::GrpcWeb => self.call_grpc_web(path, request, token).await,
        }
    }

    async fn call_grpc<Request, Response>(
        &self,
        path: &'static str,
        request: Request,
        token: Option<&str>,
    ) -> Result<Response, Status>
    where
        Request: Message + Send + Sync + 'static,
        Response: Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        let mut request = tonic::Request::new(request);
        if let Some(token) = token {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("ascii token");
            request.metadata_mut().insert("authorization", value);
        }
        for (name, value) in &self.extra_headers {
            let value: MetadataValue<_> = value.parse().expect("ascii header");
            request
                .metadata_mut()
                .append(MetadataKey::from_static(name), value);
        }
        let codec = tonic_prost::ProstCodec::<Request, Response>::default();
        grpc.unary(request, PathAndQuery::from_static(path), codec)
            .await
            .map(tonic::Response::into_inner)
    }

    async fn call_grpc_web<Request, Response>(
        &self,
        path: &'static str,
        request: Request,
        token: Option<&str>,
    ) -> Result<Response, Status>
    where
        Request: Message,
        Response: Message + Default,
    {
        let message = request.encode_to_vec();
        let mut frame = BytesMut::with_capacity(message.len() + 5);
        frame.put_u8(0);
        frame.put_u32(u32::try_from(message.len()).expect("small message"));
        frame.put_slice(&message);

        let mut builder = http::Request::builder()
            .method(http::Method::POST)
            .header("content-type", "application/grpc-web+proto")
            .header("accept", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("x-user-agent", "grpc-web-test/1.0");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in &self.extra_headers {
            builder = builder.header(*name, value);
        }
        let response = match &self.web_client {
            WebClient::Plain(client) => {
                let http_request = builder
                    .uri(format!("{}{path}", self.base_url))
                    .body(Full::new(frame.freeze()))
                    .expect("valid request");
                client
                    .request(http_request)
                    .await
                    .map_err(|error| error.to_string())
            }
            WebClient::Tls(client) => {
                let http_request = builder
                    .uri(path)
                    .header("host", EDGE_SERVER_NAME)
                    .body(Full::new(frame.freeze()))
                    .expect("valid request");
                client.request(http_request).await
            }
        }
        .map_err(|error| Status::unavailable(format!("grpc-web request failed: {error}")))?;
        let (parts, body) = response.into_parts();
        assert_eq!(
            parts.version,
            http::Version::HTTP_11,
            "grpc-web test must go over HTTP/1.1"
        );
        if let Some(status) = status_from_headers(&parts.headers) {
            // Trailers-only response.
            if status.code() != Code::Ok {
                return Err(status);
            }
        }
        let mut body = body
            .collect()
            .await
            .map_err(|error| Status::unavailable(format!("grpc-web body failed: {error}")))?
            .to_bytes();
        let mut reply = None;
        let mut trailer_status = None;
        while body.remaining() >= 5 {
            let flags = body.get_u8();
            let length = body.get_u32() as usize;
            assert!(body.remaining() >= length, "truncated grpc-web frame");
            let payload = body.split_to(length);
            if flags & 0x80 != 0 {
                trailer_status = Some(status_from_trailer_block(&payload));
            } else {
                reply = Some(
                    Response::decode(payload)
                        .map_err(|error| Status::internal(error.to_string()))?,
                );
            }
        }
        match trailer_status {
            Some(status) if status.code() != Code::Ok => Err(status),
            _ => reply.ok_or_else(|| Status::internal("grpc-web response without a message")),
        }
    }
}

fn status_from_headers(headers: &http::HeaderMap) -> Option<Status> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|value| value.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some(Status::new(Code::from_i32(code), message))
}

fn status_from_trailer_block(block: &[u8]) -> Status {
    let text = String::from_utf8_lossy(block);
    let mut code = Code::Unknown;
    let mut message = String::new();
    for line in text.split("\r\n") {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "grpc-status" => code = Code::from_i32(value.trim().parse().unwrap_or(2)),
                "grpc-message" => message = percent_decode(value.trim()),
                _ => {}
            }
        }
    }
    Status::new(code, message)
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&value[index + 1..index + 3], 16)
        {
            decoded.push(byte);
            index += 3;
            continue;
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
