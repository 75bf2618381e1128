//! Balancing: a remote service's calls spread over every replica its host name resolves
//! to, and follow the replicas as they join and leave the resolution.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use gigmesh_gateway::{RefreshOutcome, ResolveAddresses, Upstream};
use gigmesh_proto::users;

use crate::support::{GatewayHandle, Replica, USER_SERVICE, start_gateway, start_replica};

const PROFILE_READ: &str = "GetPublicProfile";

/// Answers with whatever addresses the test set last, or with an error while none is set.
#[derive(Default)]
struct ScriptedResolver {
    answer: Mutex<Option<Vec<SocketAddr>>>,
}

impl ScriptedResolver {
    fn answer_with(&self, replicas: &[&Replica]) {
        *self.answer.lock().unwrap() =
            Some(replicas.iter().map(|replica| replica.address).collect());
    }

    fn fail(&self) {
        *self.answer.lock().unwrap() = None;
    }
}

impl ResolveAddresses for ScriptedResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        assert_eq!((host, port), ("users.gigmesh.test", 50052));
        let answer = self.answer.lock().unwrap().clone();
        Box::pin(async move {
            answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
        })
    }
}

async fn read_profiles(gateway: &GatewayHandle, calls: usize) {
    let mut client = gateway.users().await;
    for _ in 0..calls {
        client
            .get_public_profile(users::GetPublicProfileRequest {
                user: Some(users::get_public_profile_request::User::Username(
                    "ada".to_owned(),
                )),
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn calls_spread_over_every_replica_and_follow_resolution() {
    let first = start_replica().await;
    let second = start_replica().await;
    let resolver = Arc::new(ScriptedResolver::default());
    resolver.answer_with(&[&first, &second]);
    let (upstream, mut discovery) =
        Upstream::balanced("http://users.gigmesh.test:50052", resolver.clone()).unwrap();
    assert_eq!(
        discovery.refresh().await,
        RefreshOutcome::Resolved(vec![first.address, second.address])
    );
    let gateway = start_gateway(vec![(USER_SERVICE.to_owned(), upstream)]).await;

    // One client connection to the gateway, yet both replicas serve: with one upstream
    // connection every call would land on one of them.
    read_profiles(&gateway, 60).await;
    let (on_first, on_second) = (
        first.seen.count(PROFILE_READ),
        second.seen.count(PROFILE_READ),
    );
    assert_eq!(on_first + on_second, 60);
    assert!(
        on_first >= 10 && on_second >= 10,
        "{on_first} / {on_second}"
    );

    // The first replica leaves the resolution and a third one joins: the first gets no
    // call from then on, the third starts getting them once it is connected.
    let third = start_replica().await;
    resolver.answer_with(&[&second, &third]);
    assert_eq!(
        discovery.refresh().await,
        RefreshOutcome::Resolved(vec![second.address, third.address])
    );
    let mut rounds = 0;
    while third.seen.count(PROFILE_READ) < 10 {
        rounds += 1;
        assert!(rounds <= 50, "the new replica got no calls");
        read_profiles(&gateway, 10).await;
    }
    assert_eq!(
        first.seen.count(PROFILE_READ),
        on_first,
        "the removed replica was called"
    );
    assert!(second.seen.count(PROFILE_READ) > on_second);
}

#[tokio::test]
async fn a_failed_resolution_keeps_the_replicas() {
    let replica = start_replica().await;
    let resolver = Arc::new(ScriptedResolver::default());
    resolver.answer_with(&[&replica]);
    let (upstream, mut discovery) =
        Upstream::balanced("http://users.gigmesh.test:50052", resolver.clone()).unwrap();
    discovery.refresh().await;
    let gateway = start_gateway(vec![(USER_SERVICE.to_owned(), upstream)]).await;
    read_profiles(&gateway, 3).await;

    // A resolver hiccup must not leave the service without endpoints.
    resolver.fail();
    assert_eq!(discovery.refresh().await, RefreshOutcome::Kept);
    read_profiles(&gateway, 3).await;
    assert_eq!(replica.seen.count(PROFILE_READ), 6);
}

#[tokio::test]
async fn calls_before_the_first_resolution_go_to_the_address_as_given() {
    let replica = start_replica().await;
    // A resolver that never answers with an address: the host itself is the endpoint.
    let resolver = Arc::new(ScriptedResolver::default());
    let (upstream, _discovery) =
        Upstream::balanced(&format!("http://{}", replica.address), resolver).unwrap();
    let gateway = start_gateway(vec![(USER_SERVICE.to_owned(), upstream)]).await;
    read_profiles(&gateway, 2).await;
    assert_eq!(replica.seen.count(PROFILE_READ), 2);
}

#[tokio::test]
async fn the_discovery_ends_with_its_channel() {
    let resolver = Arc::new(ScriptedResolver::default());
    let (upstream, mut discovery) =
        Upstream::balanced("http://users.gigmesh.test:50052", resolver).unwrap();
    drop(upstream);
    // The balancer's worker notices its last handle is gone on its own task.
    let mut attempts = 0;
    while discovery.refresh().await != RefreshOutcome::ChannelClosed {
        attempts += 1;
        assert!(attempts < 1000, "the discovery outlived its channel");
        tokio::task::yield_now().await;
    }
}
