//! Which processes serve an upstream: its host name resolved again and again, each address
//! one endpoint of a balanced channel.
//!
//! A Kubernetes ClusterIP Service hides its pods behind one address, and one HTTP/2
//! connection to it reaches one pod for as long as it lives: the gateway would send every
//! call of a service to one replica. A headless Service (`clusterIP: None`) instead answers
//! the name with every ready pod's address, so the gateway resolves the name periodically,
//! keeps one connection per address and spreads calls over them; pods that come and go
//! (scaling, rollouts) join and leave with the next resolution.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;
use tonic::transport::channel::Change;

use crate::upstream::configure;

/// Finds the addresses behind a host name.
pub trait ResolveAddresses: Send + Sync + 'static {
    /// Every address `host` stands for, each with `port`; an IP literal stands for itself.
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>>;
}

/// Resolves with the system resolver (in Kubernetes, the cluster DNS).
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsResolver;

impl ResolveAddresses for DnsResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// Keeps the endpoints of one balanced upstream channel in step with what its host name
/// resolves to. [`refresh`](Self::refresh) is one step; [`run`](Self::run) repeats it.
pub struct UpstreamDiscovery {
    scheme: String,
    host: String,
    port: u16,
    resolver: Arc<dyn ResolveAddresses>,
    unresolved: Endpoint,
    changes: Sender<Change<EndpointKey, Endpoint>>,
    current: BTreeSet<EndpointKey>,
}

impl std::fmt::Debug for UpstreamDiscovery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UpstreamDiscovery")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// One endpoint of a balanced channel: a resolved address, or, until the first resolution
/// succeeds, the host name itself (connected to as a plain channel would).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum EndpointKey {
    Address(SocketAddr),
    Unresolved,
}

/// What one refresh found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The name resolved; the channel now balances over these addresses.
    Resolved(Vec<SocketAddr>),
    /// The name did not resolve, or to nothing: the endpoints stay as they were, since
    /// a resolver hiccup must not take every replica away.
    Kept,
    /// The channel is gone (every handle dropped): nothing left to keep up to date.
    ChannelClosed,
}

impl UpstreamDiscovery {
    pub(crate) fn new(
        scheme: String,
        host: String,
        port: u16,
        resolver: Arc<dyn ResolveAddresses>,
        unresolved: Endpoint,
        changes: Sender<Change<EndpointKey, Endpoint>>,
    ) -> Self {
        Self {
            scheme,
            host,
            port,
            resolver,
            unresolved,
            changes,
            current: BTreeSet::new(),
        }
    }

    /// Starts with the unresolved host name as the only endpoint, so that calls made before
    /// the first resolution (or while it keeps failing) are tried, and fail like those of a
    /// plain channel, rather than wait for an endpoint that may never come.
    pub(crate) fn seed(&mut self) {
        let inserted = self.changes.try_send(Change::Insert(
            EndpointKey::Unresolved,
            self.unresolved.clone(),
        ));
        if inserted.is_ok() {
            self.current.insert(EndpointKey::Unresolved);
        }
    }

    /// Resolves the host once and inserts the addresses that appeared and removes the ones
    /// that disappeared.
    pub async fn refresh(&mut self) -> RefreshOutcome {
        if self.changes.is_closed() {
            return RefreshOutcome::ChannelClosed;
        }
        let resolved = match self.resolver.resolve(&self.host, self.port).await {
            Ok(addresses) if !addresses.is_empty() => addresses,
            Ok(_) => {
                tracing::warn!(
                    host = self.host,
                    "upstream resolved to no address; keeping the endpoints"
                );
                return RefreshOutcome::Kept;
            }
            Err(error) => {
                tracing::warn!(host = self.host, %error, "cannot resolve upstream; keeping the endpoints");
                return RefreshOutcome::Kept;
            }
        };
        let wanted: BTreeSet<EndpointKey> =
            resolved.iter().copied().map(EndpointKey::Address).collect();

        for key in wanted.difference(&self.current) {
            let EndpointKey::Address(address) = key else {
                continue;
            };
            let endpoint = match self.endpoint_for(*address) {
                Ok(endpoint) => endpoint,
                Err(error) => {
                    tracing::warn!(%address, %error, "cannot make an endpoint of an upstream address");
                    continue;
                }
            };
            if self
                .changes
                .send(Change::Insert(key.clone(), endpoint))
                .await
                .is_err()
            {
                return RefreshOutcome::ChannelClosed;
            }
            tracing::info!(host = self.host, %address, "upstream endpoint added");
        }
        for key in self.current.difference(&wanted) {
            if self
                .changes
                .send(Change::Remove(key.clone()))
                .await
                .is_err()
            {
                return RefreshOutcome::ChannelClosed;
            }
            if let EndpointKey::Address(address) = key {
                tracing::info!(host = self.host, %address, "upstream endpoint removed");
            }
        }
        self.current = wanted;
        RefreshOutcome::Resolved(resolved)
    }

    /// Refreshes every `interval` until `shutdown` is cancelled or the channel is gone.
    pub async fn run(mut self, interval: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {
                    if self.refresh().await == RefreshOutcome::ChannelClosed {
                        return;
                    }
                }
            }
        }
    }

    /// The endpoint of one resolved address, with the settings of every upstream connection.
    fn endpoint_for(&self, address: SocketAddr) -> Result<Endpoint, tonic::transport::Error> {
        Endpoint::from_shared(format!("{}://{address}", self.scheme)).map(configure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_system_resolver_reads_literals_and_names() {
        let literal = DnsResolver
            .resolve("127.0.0.2", 50052)
            .await
            .expect("a literal");
        assert_eq!(literal, ["127.0.0.2:50052".parse().expect("address")]);
        let named = DnsResolver
            .resolve("localhost", 50052)
            .await
            .expect("localhost");
        assert!(
            named
                .iter()
                .all(|address| address.ip().is_loopback() && address.port() == 50052),
            "{named:?}"
        );
        assert!(!named.is_empty());
    }
}
