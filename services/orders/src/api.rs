//! `gigmesh.orders.v1.OrderService`: checks the caller, parses the request into domain
//! values (`input.rs`), runs the use case (`use_cases.rs`) and answers in proto types
//! (`output.rs`). No SQL and no domain rules here.

use gigmesh_grpc::Caller;
use gigmesh_proto::orders as proto;
use gigmesh_proto::orders::order_service_server::OrderService;
use gigmesh_types::OrderId;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::domain::Action;
use crate::error::OrdersError;
use crate::input;
use crate::output::order_to_proto;
use crate::store::StoredOrder;
use crate::use_cases::{Orders, Viewer};

/// The order service over its use cases.
#[derive(Clone)]
pub struct OrderApi {
    orders: Orders,
}

impl OrderApi {
    /// The service over `orders`.
    pub fn new(orders: Orders) -> Self {
        Self { orders }
    }

    /// Runs `action` parsed by `parse` from `request` on the order it names, as its caller.
    async fn act<T>(
        &self,
        request: Request<T>,
        parse: impl FnOnce(&T) -> Result<(OrderId, Action), gigmesh_errors::ApiError>,
    ) -> Result<Response<proto::Order>, Status> {
        let viewer = viewer_of(&request)?;
        let (order_id, action) = parse(request.get_ref())?;
        record_order_id(order_id);
        let stored = self.orders.act(viewer, order_id, action).await?;
        Ok(order_response(&stored))
    }
}

#[tonic::async_trait]
impl OrderService for OrderApi {
    #[instrument(skip_all, fields(user_id, gig_id))]
    async fn place_order(
        &self,
        request: Request<proto::PlaceOrderRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        let buyer_id = Caller::of(&request)?.user_id();
        let (gig_id, choice) = input::parse_place_order(request.get_ref())?;
        tracing::Span::current().record("gig_id", tracing::field::display(gig_id));
        let stored = self.orders.place_order(buyer_id, gig_id, choice).await?;
        Ok(order_response(&stored))
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn get_order(
        &self,
        request: Request<proto::GetOrderRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        let viewer = viewer_of(&request)?;
        let order_id = input::parse_order_id("order_id", &request.get_ref().order_id)?;
        record_order_id(order_id);
        let (stored, timeline) = self.orders.visible_order(viewer, order_id).await?;
        Ok(Response::new(order_to_proto(
            &stored.order,
            stored.version,
            Some(&timeline),
        )))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_my_orders(
        &self,
        request: Request<proto::ListMyOrdersRequest>,
    ) -> Result<Response<proto::ListMyOrdersResponse>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let (role, group, page) = input::parse_list_request(request.get_ref())?;
        let listed = self.orders.list(user_id, role, group, page).await?;
        Ok(Response::new(proto::ListMyOrdersResponse {
            orders: listed
                .orders
                .iter()
                .map(|stored| order_to_proto(&stored.order, stored.version, None))
                .collect(),
            next_page_token: listed
                .next
                .map(|(create_time, order_id)| {
                    input::order_page_token(role, group, create_time, order_id)
                })
                .unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn submit_requirements(
        &self,
        request: Request<proto::SubmitRequirementsRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, input::parse_submit_requirements).await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn deliver_order(
        &self,
        request: Request<proto::DeliverOrderRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, input::parse_deliver).await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn accept_delivery(
        &self,
        request: Request<proto::AcceptDeliveryRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, |request| {
            Ok((
                input::parse_order_id("order_id", &request.order_id)?,
                Action::Accept,
            ))
        })
        .await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn request_revision(
        &self,
        request: Request<proto::RequestRevisionRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, input::parse_revision).await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn request_extension(
        &self,
        request: Request<proto::RequestExtensionRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, input::parse_extension).await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn answer_extension(
        &self,
        request: Request<proto::AnswerExtensionRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, |request| {
            let order_id = input::parse_order_id("order_id", &request.order_id)?;
            Ok((
                order_id,
                Action::AnswerExtension {
                    accept: request.accept,
                },
            ))
        })
        .await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn cancel_order(
        &self,
        request: Request<proto::CancelOrderRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, input::parse_cancel).await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn request_cancellation(
        &self,
        request: Request<proto::RequestCancellationRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, input::parse_cancellation).await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn answer_cancellation(
        &self,
        request: Request<proto::AnswerCancellationRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, |request| {
            let order_id = input::parse_order_id("order_id", &request.order_id)?;
            Ok((
                order_id,
                Action::AnswerCancellation {
                    accept: request.accept,
                },
            ))
        })
        .await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn open_dispute(
        &self,
        request: Request<proto::OpenDisputeRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        self.act(request, input::parse_dispute).await
    }

    #[instrument(skip_all, fields(user_id, order_id))]
    async fn resolve_dispute(
        &self,
        request: Request<proto::ResolveDisputeRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        if !Caller::of(&request)?.is_admin() {
            return Err(OrdersError::AdminRequired.into());
        }
        self.act(request, input::parse_resolution).await
    }
}

/// The signed-in caller as the use cases see them.
#[allow(clippy::result_large_err)]
fn viewer_of<T>(request: &Request<T>) -> Result<Viewer, Status> {
    let caller = Caller::of(request)?;
    Ok(Viewer {
        user_id: caller.user_id(),
        is_admin: caller.is_admin(),
    })
}

fn order_response(stored: &StoredOrder) -> Response<proto::Order> {
    Response::new(order_to_proto(&stored.order, stored.version, None))
}

fn record_order_id(order_id: OrderId) {
    tracing::Span::current().record("order_id", tracing::field::display(order_id));
}
