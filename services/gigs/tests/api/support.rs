//! Starts the gig service the way production does (same `App`, same serving stack) on
//! 127.0.0.1:0 with fresh `TestDeps` (database, embedded event log, a trusted signing key),
//! and wraps its RPCs in one call each. Upstream events are published to the bus and the
//! service's consumer is stepped with `drain`; what it emits is read back after relaying
//! its outbox.

use std::time::Duration;

use gigmesh_auth::Role;
use gigmesh_events::{Consumer, PollOutcome, Relay, SharedBus, decode};
use gigmesh_gigs::{App, Config};
use gigmesh_proto::gigs::TOPIC as GIGS_TOPIC;
use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_proto::gigs::gig_service_client::GigServiceClient;
use gigmesh_proto::gigs::{
    CreateGigRequest, DeleteGigRequest, Extra, Faq, GalleryItem, GetGigRequest, Gig, GigChange,
    GigChanged, GigState, ListMyGigsRequest, ListSavedGigsRequest, ListSellerGigsRequest,
    MediaKind, ModerateGigRequest, ModerationAction, ModerationState, Package, PackageTier,
    PauseGigRequest, PublishGigRequest, Requirement, RequirementKind, ResumeGigRequest,
    SaveGigRequest, UpdateGigRequest,
};
use gigmesh_proto::types::Money;
use gigmesh_runtime::Service as _;
use gigmesh_testing::{Backend, EmittedEvents, TestDeps, TestServer, TestUser, signed_in};
use prost_types::FieldMask;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// How long one consumer step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(300);

/// A running gig service with its deps and a client.
pub struct TestGigs {
    pub client: GigServiceClient<Channel>,
    /// The event log, to publish the users and reviews services' events on.
    pub bus: SharedBus,
    consumer: Consumer,
    relay: Relay,
    emitted: EmittedEvents,
    deps: TestDeps,
    _server: TestServer,
}

impl TestGigs {
    /// Starts the service with its default settings.
    pub async fn start(backend: Backend) -> TestGigs {
        Self::start_with(backend, Config::default()).await
    }

    /// Starts the service with `config`.
    pub async fn start_with(backend: Backend, config: Config) -> TestGigs {
        let deps = TestDeps::new(backend).await;
        let app = App::build(deps.service_deps(), config)
            .await
            .expect("build the gig service");
        let consumer = app.upstream_events_consumer().await.expect("consumer");
        let bus = deps.bus();
        let emitted = EmittedEvents::observe(&bus, GIGS_TOPIC).await;
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = GigServiceClient::new(server.channel().await);
        TestGigs {
            client,
            bus,
            consumer,
            relay: app.relay(),
            emitted,
            deps,
            _server: server,
        }
    }

    /// Stops the service and starts it again with `config` on the same database and event
    /// log, the way an operator restarts it with changed settings; what was emitted before
    /// and not yet read is still read by [`TestGigs::emitted`].
    pub async fn restart_with(self, config: Config) -> TestGigs {
        let TestGigs {
            client,
            bus,
            consumer,
            relay: _,
            emitted,
            deps,
            _server: server,
        } = self;
        drop(client);
        drop(consumer);
        server.stop().await;
        let app = App::build(deps.service_deps(), config)
            .await
            .expect("build the gig service again");
        let consumer = app.upstream_events_consumer().await.expect("consumer");
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = GigServiceClient::new(server.channel().await);
        TestGigs {
            client,
            bus,
            consumer,
            relay: app.relay(),
            emitted,
            deps,
            _server: server,
        }
    }

    /// A new seller (who is a buyer too).
    pub fn seller(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer, Role::Seller])
    }

    /// A new buyer.
    pub fn buyer(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer])
    }

    /// A new admin.
    pub fn admin(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer, Role::Admin])
    }

    /// Relays the outbox and returns every event that reached `gigmesh.gigs.v1` since the
    /// last call, each a GigChanged, with the record key.
    pub async fn emitted(&mut self) -> Vec<(String, GigChanged)> {
        self.emitted
            .relay_and_read(&self.relay)
            .await
            .iter()
            .map(|envelope| {
                let event = decode::<GigChanged>(envelope)
                    .expect("a GigChanged event")
                    .expect("decodable");
                (envelope.aggregate_id.clone(), event)
            })
            .collect()
    }

    /// Steps the consumer of the users and reviews events until nothing is left.
    pub async fn consume(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    pub async fn create(&mut self, user: &TestUser, gig: Gig) -> Result<Gig, Status> {
        self.client
            .create_gig(signed_in(&user.token, CreateGigRequest { gig: Some(gig) }))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn update(
        &mut self,
        user: &TestUser,
        gig: Gig,
        paths: &[&str],
    ) -> Result<Gig, Status> {
        self.client
            .update_gig(signed_in(&user.token, update_request(gig, paths)))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn publish(&mut self, user: &TestUser, gig_id: &str) -> Result<Gig, Status> {
        let request = PublishGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .publish_gig(signed_in(&user.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn pause(&mut self, user: &TestUser, gig_id: &str) -> Result<Gig, Status> {
        let request = PauseGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .pause_gig(signed_in(&user.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn resume(&mut self, user: &TestUser, gig_id: &str) -> Result<Gig, Status> {
        let request = ResumeGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .resume_gig(signed_in(&user.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn delete(&mut self, user: &TestUser, gig_id: &str) -> Result<(), Status> {
        let request = DeleteGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .delete_gig(signed_in(&user.token, request))
            .await
            .map(|_| ())
    }

    pub async fn moderate(
        &mut self,
        user: &TestUser,
        gig_id: &str,
        action: ModerationAction,
        reason: &str,
    ) -> Result<Gig, Status> {
        let request = ModerateGigRequest {
            gig_id: gig_id.to_owned(),
            action: action as i32,
            reason: reason.to_owned(),
        };
        self.client
            .moderate_gig(signed_in(&user.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    /// GetGig as `viewer`, or without a token.
    pub async fn get(&mut self, viewer: Option<&TestUser>, key: GigKey) -> Result<Gig, Status> {
        let request = GetGigRequest { gig: Some(key) };
        let request = match viewer {
            Some(user) => signed_in(&user.token, request),
            None => Request::new(request),
        };
        self.client
            .get_gig(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// A complete gig of `seller`, published.
    pub async fn published_gig(&mut self, seller: &TestUser, title: &str) -> Gig {
        let gig = self
            .create(seller, complete_gig(title))
            .await
            .expect("create");
        self.publish(seller, &gig.id).await.expect("publish")
    }

    pub async fn my_gigs(
        &mut self,
        user: &TestUser,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Gig>, String), Status> {
        let request = ListMyGigsRequest {
            page_size,
            page_token: page_token.to_owned(),
        };
        self.client
            .list_my_gigs(signed_in(&user.token, request))
            .await
            .map(|response| {
                let response = response.into_inner();
                (response.gigs, response.next_page_token)
            })
    }

    pub async fn seller_gigs(
        &mut self,
        seller_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Gig>, String), Status> {
        let request = ListSellerGigsRequest {
            seller_id: seller_id.to_owned(),
            page_size,
            page_token: page_token.to_owned(),
        };
        self.client.list_seller_gigs(request).await.map(|response| {
            let response = response.into_inner();
            (response.gigs, response.next_page_token)
        })
    }

    pub async fn save(&mut self, user: &TestUser, gig_id: &str) -> Result<(), Status> {
        let request = SaveGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .save_gig(signed_in(&user.token, request))
            .await
            .map(|_| ())
    }

    pub async fn saved(
        &mut self,
        user: &TestUser,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Gig>, String), Status> {
        let request = ListSavedGigsRequest {
            page_size,
            page_token: page_token.to_owned(),
        };
        self.client
            .list_saved_gigs(signed_in(&user.token, request))
            .await
            .map(|response| {
                let response = response.into_inner();
                (response.gigs, response.next_page_token)
            })
    }
}

/// UpdateGig of `gig` with the mask `paths`.
pub fn update_request(gig: Gig, paths: &[&str]) -> UpdateGigRequest {
    UpdateGigRequest {
        gig: Some(gig),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|path| (*path).to_owned()).collect(),
        }),
    }
}

pub fn usd(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "USD".to_owned(),
    })
}

pub fn package(tier: PackageTier, name: &str, amount_minor: i64) -> Package {
    Package {
        tier: tier as i32,
        name: name.to_owned(),
        description: format!("The {name} package."),
        price: usd(amount_minor),
        delivery_days: 3,
        revisions: 2,
        features: vec!["Source code".to_owned()],
    }
}

pub fn image(url: &str, cover: bool) -> GalleryItem {
    GalleryItem {
        kind: MediaKind::Image as i32,
        url: url.to_owned(),
        cover,
    }
}

/// A gig with everything publishing needs, and some of everything else.
pub fn complete_gig(title: &str) -> Gig {
    Gig {
        title: title.to_owned(),
        description: "I design, build and test **Rust** gRPC services.".to_owned(),
        category_id: "programming-tech".to_owned(),
        subcategory_id: "backend-apis".to_owned(),
        tags: vec!["Rust".to_owned(), "gRPC".to_owned()],
        packages: vec![
            package(PackageTier::Basic, "Starter", 5_000),
            package(PackageTier::Standard, "Standard", 12_000),
            package(PackageTier::Premium, "Complete", 30_000),
        ],
        extras: vec![Extra {
            id: String::new(),
            title: "Fast delivery".to_owned(),
            price: usd(2_000),
            extra_days: 0,
        }],
        gallery: vec![
            image("https://cdn.example.com/cover.png", true),
            GalleryItem {
                kind: MediaKind::Video as i32,
                url: "https://cdn.example.com/demo.mp4".to_owned(),
                cover: false,
            },
        ],
        requirements: vec![Requirement {
            question: "Which database do you use?".to_owned(),
            kind: RequirementKind::MultipleChoice as i32,
            options: vec!["PostgreSQL".to_owned(), "SQLite".to_owned()],
            required: true,
        }],
        faq: vec![Faq {
            question: "Do you write tests?".to_owned(),
            answer: "Always.".to_owned(),
        }],
        ..Gig::default()
    }
}

pub fn state(gig: &Gig) -> GigState {
    GigState::try_from(gig.state).expect("state")
}

pub fn moderation(gig: &Gig) -> ModerationState {
    ModerationState::try_from(gig.moderation_state).expect("moderation state")
}

pub fn changes(events: &[(String, GigChanged)]) -> Vec<GigChange> {
    events
        .iter()
        .map(|(_, event)| GigChange::try_from(event.change).expect("change"))
        .collect()
}

pub fn ids(gigs: &[Gig]) -> Vec<String> {
    gigs.iter().map(|gig| gig.id.clone()).collect()
}
