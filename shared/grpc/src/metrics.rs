//! RED metrics for every RPC, in the names Grafana dashboards for gRPC expect:
//! `grpc_server_handled_total{grpc_service, grpc_method, grpc_code}` and the histogram
//! `grpc_server_handling_seconds{grpc_service, grpc_method}`.
//!
//! The status of a gRPC call is in the `grpc-status` header of a trailers-only response or in
//! the trailers at the end of the body, so the response body is wrapped and the call is
//! recorded when the trailers pass by (or when the body ends or is dropped without them).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Code;
use tower::{Layer, Service};

/// Records per-RPC counters and latencies.
#[derive(Debug, Clone, Default)]
pub struct GrpcMetricsLayer;

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

/// The service made by [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

/// `/package.Service/Method` split into service and method; anything else is `unknown`.
pub fn split_grpc_path(path: &str) -> (&str, &str) {
    path.strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .filter(|(service, method)| {
            !service.is_empty() && !method.is_empty() && !method.contains('/')
        })
        .unwrap_or(("unknown", "unknown"))
}

/// The canonical name of a gRPC code as Prometheus labels carry it (`OK`, `InvalidArgument`…).
pub fn grpc_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

fn status_from_headers(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(Code::from_i32)
}

/// One call being measured; records itself exactly once.
struct CallRecord {
    labels: Arc<(String, String)>,
    started: Instant,
    recorded: bool,
}

impl CallRecord {
    fn record(&mut self, code: Code) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        let (service, method) = &*self.labels;
        metrics::counter!(
            "grpc_server_handled_total",
            "grpc_service" => service.clone(),
            "grpc_method" => method.clone(),
            "grpc_code" => grpc_code_name(code),
        )
        .increment(1);
        metrics::histogram!(
            "grpc_server_handling_seconds",
            "grpc_service" => service.clone(),
            "grpc_method" => method.clone(),
        )
        .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        // The client went away before the status was sent.
        self.record(Code::Cancelled);
    }
}

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for GrpcMetrics<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    ResponseBody: Body,
{
    type Response = http::Response<MetricsBody<ResponseBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let (service, method) = split_grpc_path(request.uri().path());
        let mut call = CallRecord {
            labels: Arc::new((service.to_owned(), method.to_owned())),
            started: Instant::now(),
            recorded: false,
        };
        metrics::counter!(
            "grpc_server_started_total",
            "grpc_service" => call.labels.0.clone(),
            "grpc_method" => call.labels.1.clone(),
        )
        .increment(1);
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            if let Some(code) = status_from_headers(response.headers()) {
                call.record(code);
            }
            Ok(response.map(|body| MetricsBody { inner: body, call }))
        })
    }
}

pin_project! {
    /// A response body that records the call when its trailers (or its end) pass by.
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        call: CallRecord,
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(context);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.call
                        .record(status_from_headers(trailers).unwrap_or(Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(_))) => this.call.record(Code::Unknown),
            // A body that ends without trailers after a trailers-only header was recorded
            // already; otherwise the status is unknown.
            Poll::Ready(None) => this.call.record(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_grpc_paths() {
        assert_eq!(
            split_grpc_path("/gigmesh.auth.v1.AuthService/LogIn"),
            ("gigmesh.auth.v1.AuthService", "LogIn")
        );
        assert_eq!(split_grpc_path("/"), ("unknown", "unknown"));
        assert_eq!(split_grpc_path("/a/b/c"), ("unknown", "unknown"));
    }
}
