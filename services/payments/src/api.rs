//! `gigmesh.payments.v1.PaymentService`: checks the caller, parses the request
//! (`input.rs`), runs the use case (`use_cases.rs`) and answers in proto types
//! (`output.rs`). No SQL and no money rules here.

use gigmesh_auth::Role;
use gigmesh_grpc::Caller;
use gigmesh_proto::payments as proto;
use gigmesh_proto::payments::payment_service_server::PaymentService;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::PaymentsError;
use crate::input;
use crate::invoice_pdf;
use crate::output;
use crate::use_cases::Payments;

/// The payment service over its use cases.
#[derive(Clone)]
pub struct PaymentApi {
    payments: Payments,
}

impl PaymentApi {
    /// The API over `payments`.
    pub fn new(payments: Payments) -> Self {
        Self { payments }
    }
}

fn seller<T>(request: &Request<T>) -> Result<String, Status> {
    let caller = Caller::of(request)?;
    if !caller.has_role(Role::Seller) {
        return Err(PaymentsError::RoleRequired("seller").into());
    }
    Ok(caller.user_id().to_string())
}

fn admin<T>(request: &Request<T>) -> Result<String, Status> {
    let caller = Caller::of(request)?;
    if !caller.is_admin() {
        return Err(PaymentsError::RoleRequired("admin").into());
    }
    Ok(caller.user_id().to_string())
}

fn record<T: std::fmt::Display>(field: &'static str, value: T) {
    tracing::Span::current().record(field, tracing::field::display(value));
}

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    #[instrument(skip_all, fields(order_id))]
    async fn get_order_payment(
        &self,
        request: Request<proto::GetOrderPaymentRequest>,
    ) -> Result<Response<proto::OrderPayment>, Status> {
        let buyer_id = Caller::of(&request)?.user_id().to_string();
        let order_id = input::order_id("order_id", &request.get_ref().order_id)?;
        record("order_id", &order_id);
        let view = self.payments.order_payment(&buyer_id, &order_id).await?;
        Ok(Response::new(output::order_payment_to_proto(&view)))
    }

    #[instrument(skip_all)]
    async fn confirm_sandbox_payment(
        &self,
        request: Request<proto::ConfirmSandboxPaymentRequest>,
    ) -> Result<Response<proto::ConfirmSandboxPaymentResponse>, Status> {
        let request = request.into_inner();
        let confirmation = self
            .payments
            .confirm_sandbox(
                &request.payment_id,
                &request.client_secret,
                &request.card_number,
                request.authenticate,
            )
            .await?;
        Ok(Response::new(proto::ConfirmSandboxPaymentResponse {
            status: output::provider_status_to_proto(confirmation.status) as i32,
            decline_message: confirmation.decline_message.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all)]
    async fn receive_provider_webhook(
        &self,
        request: Request<proto::ReceiveProviderWebhookRequest>,
    ) -> Result<Response<proto::ReceiveProviderWebhookResponse>, Status> {
        let request = request.into_inner();
        let duplicate = self
            .payments
            .receive_webhook(&request.payload, &request.signature)
            .await?;
        Ok(Response::new(proto::ReceiveProviderWebhookResponse {
            duplicate,
        }))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn get_my_balance(
        &self,
        request: Request<proto::GetMyBalanceRequest>,
    ) -> Result<Response<proto::GetMyBalanceResponse>, Status> {
        let seller_id = seller(&request)?;
        record("user_id", &seller_id);
        let (balances, connected) = self.payments.balance(&seller_id).await?;
        Ok(Response::new(proto::GetMyBalanceResponse {
            balances: balances.iter().map(output::balance_to_proto).collect(),
            payout_account_connected: connected,
        }))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_my_earnings(
        &self,
        request: Request<proto::ListMyEarningsRequest>,
    ) -> Result<Response<proto::ListMyEarningsResponse>, Status> {
        let seller_id = seller(&request)?;
        record("user_id", &seller_id);
        let (size, cursor) =
            input::page(request.get_ref().page_size, &request.get_ref().page_token)?;
        let earnings = self.payments.earnings(&seller_id, cursor, size).await?;
        Ok(Response::new(proto::ListMyEarningsResponse {
            next_page_token: input::next_token(&earnings, size, |item| {
                (item.time, item.id.clone())
            }),
            earnings: earnings.iter().map(output::earning_to_proto).collect(),
        }))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn start_payout_onboarding(
        &self,
        request: Request<proto::StartPayoutOnboardingRequest>,
    ) -> Result<Response<proto::StartPayoutOnboardingResponse>, Status> {
        let seller_id = seller(&request)?;
        record("user_id", &seller_id);
        let return_url = input::return_url(&request.get_ref().return_url)?;
        let (link, connected) = self
            .payments
            .start_onboarding(&seller_id, &return_url)
            .await?;
        Ok(Response::new(proto::StartPayoutOnboardingResponse {
            onboarding_url: link.unwrap_or_default(),
            connected,
        }))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn withdraw(
        &self,
        request: Request<proto::WithdrawRequest>,
    ) -> Result<Response<proto::Withdrawal>, Status> {
        let seller_id = seller(&request)?;
        record("user_id", &seller_id);
        let request = request.into_inner();
        let mut violations = gigmesh_errors::Violations::new();
        let amount = violations.check(input::positive_money("amount", request.amount.as_ref()));
        let request_id = violations.check(input::request_id(&request.request_id));
        violations.finish()?;
        let (Some(amount), Some(request_id)) = (amount, request_id) else {
            return Err(Status::invalid_argument("invalid request"));
        };
        let withdrawal = self
            .payments
            .withdraw(&seller_id, amount, &request_id)
            .await?;
        Ok(Response::new(output::withdrawal_to_proto(&withdrawal)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_my_withdrawals(
        &self,
        request: Request<proto::ListMyWithdrawalsRequest>,
    ) -> Result<Response<proto::ListMyWithdrawalsResponse>, Status> {
        let seller_id = seller(&request)?;
        record("user_id", &seller_id);
        let (size, cursor) =
            input::page(request.get_ref().page_size, &request.get_ref().page_token)?;
        let withdrawals = self.payments.withdrawals(&seller_id, cursor, size).await?;
        Ok(Response::new(proto::ListMyWithdrawalsResponse {
            next_page_token: input::next_token(&withdrawals, size, |withdrawal| {
                (withdrawal.create_time, withdrawal.id.clone())
            }),
            withdrawals: withdrawals
                .iter()
                .map(output::withdrawal_to_proto)
                .collect(),
        }))
    }

    #[instrument(skip_all, fields(order_id))]
    async fn get_invoice(
        &self,
        request: Request<proto::GetInvoiceRequest>,
    ) -> Result<Response<proto::Invoice>, Status> {
        let caller = Caller::of(&request)?;
        let order_id = input::order_id("order_id", &request.get_ref().order_id)?;
        record("order_id", &order_id);
        let invoice = self
            .payments
            .invoice(&caller.user_id().to_string(), caller.is_admin(), &order_id)
            .await?;
        Ok(Response::new(output::invoice_to_proto(&invoice)))
    }

    #[instrument(skip_all, fields(order_id))]
    async fn download_invoice_pdf(
        &self,
        request: Request<proto::DownloadInvoicePdfRequest>,
    ) -> Result<Response<proto::DownloadInvoicePdfResponse>, Status> {
        let caller = Caller::of(&request)?;
        let order_id = input::order_id("order_id", &request.get_ref().order_id)?;
        record("order_id", &order_id);
        let invoice = self
            .payments
            .invoice(&caller.user_id().to_string(), caller.is_admin(), &order_id)
            .await?;
        let pdf = invoice_pdf::render(&invoice).map_err(PaymentsError::Internal)?;
        Ok(Response::new(proto::DownloadInvoicePdfResponse {
            file_name: format!("{}.pdf", invoice.number),
            pdf,
        }))
    }

    #[instrument(skip_all)]
    async fn list_payments(
        &self,
        request: Request<proto::ListPaymentsRequest>,
    ) -> Result<Response<proto::ListPaymentsResponse>, Status> {
        admin(&request)?;
        let request = request.into_inner();
        let filter =
            input::payment_filter(&request.order_id, &request.buyer_id, &request.seller_id)?;
        let (size, cursor) = input::page(request.page_size, &request.page_token)?;
        let records = self.payments.money_records(&filter, cursor, size).await?;
        Ok(Response::new(proto::ListPaymentsResponse {
            next_page_token: input::next_token(&records, size, |item| (item.time, item.id.clone())),
            records: records.iter().map(output::money_record_to_proto).collect(),
        }))
    }

    #[instrument(skip_all, fields(order_id))]
    async fn refund_payment(
        &self,
        request: Request<proto::RefundPaymentRequest>,
    ) -> Result<Response<proto::Refund>, Status> {
        let admin_id = admin(&request)?;
        let request = request.into_inner();
        let mut violations = gigmesh_errors::Violations::new();
        let order_id = violations.check(input::order_id("order_id", &request.order_id));
        let amount = violations.check(input::positive_money("amount", request.amount.as_ref()));
        let reason = violations.check(input::reason(&request.reason));
        let request_id = violations.check(input::request_id(&request.request_id));
        violations.finish()?;
        let (Some(order_id), Some(amount), Some(reason), Some(request_id)) =
            (order_id, amount, reason, request_id)
        else {
            return Err(Status::invalid_argument("invalid request"));
        };
        record("order_id", &order_id);
        let refund = self
            .payments
            .admin_refund(&admin_id, &order_id, amount, &reason, &request_id)
            .await?;
        Ok(Response::new(output::refund_to_proto(&refund)))
    }

    #[instrument(skip_all)]
    async fn list_audit_log(
        &self,
        request: Request<proto::ListAuditLogRequest>,
    ) -> Result<Response<proto::ListAuditLogResponse>, Status> {
        admin(&request)?;
        let (size, cursor) =
            input::page(request.get_ref().page_size, &request.get_ref().page_token)?;
        let entries = self.payments.audit_log(cursor, size).await?;
        Ok(Response::new(proto::ListAuditLogResponse {
            next_page_token: input::next_token(&entries, size, |item| (item.time, item.id.clone())),
            entries: entries.iter().map(output::audit_to_proto).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn get_ledger_summary(
        &self,
        request: Request<proto::GetLedgerSummaryRequest>,
    ) -> Result<Response<proto::LedgerSummary>, Status> {
        admin(&request)?;
        let summary = self.payments.ledger_summary().await?;
        Ok(Response::new(output::summary_to_proto(&summary)))
    }
}
