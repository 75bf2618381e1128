//! The full paths of the methods the flows call through the gateway.

pub const SIGN_UP: &str = "/gigmesh.auth.v1.AuthService/SignUp";
pub const VERIFY_EMAIL: &str = "/gigmesh.auth.v1.AuthService/VerifyEmail";
pub const LOG_IN: &str = "/gigmesh.auth.v1.AuthService/LogIn";
pub const REFRESH: &str = "/gigmesh.auth.v1.AuthService/RefreshToken";
pub const LOG_OUT: &str = "/gigmesh.auth.v1.AuthService/LogOut";
pub const GET_MY_ACCOUNT: &str = "/gigmesh.auth.v1.AuthService/GetMyAccount";
pub const SUSPEND: &str = "/gigmesh.auth.v1.AuthService/SuspendAccount";
pub const UNSUSPEND: &str = "/gigmesh.auth.v1.AuthService/UnsuspendAccount";
pub const GET_MY_PROFILE: &str = "/gigmesh.users.v1.UserService/GetMyProfile";
pub const BECOME_SELLER: &str = "/gigmesh.users.v1.UserService/BecomeSeller";
pub const UPDATE_SELLER: &str = "/gigmesh.users.v1.UserService/UpdateMySellerProfile";
pub const LIST_CATEGORIES: &str = "/gigmesh.gigs.v1.GigService/ListCategories";
pub const CREATE_GIG: &str = "/gigmesh.gigs.v1.GigService/CreateGig";
pub const UPDATE_GIG: &str = "/gigmesh.gigs.v1.GigService/UpdateGig";
pub const PUBLISH_GIG: &str = "/gigmesh.gigs.v1.GigService/PublishGig";
pub const PAUSE_GIG: &str = "/gigmesh.gigs.v1.GigService/PauseGig";
pub const RESUME_GIG: &str = "/gigmesh.gigs.v1.GigService/ResumeGig";
pub const MODERATE_GIG: &str = "/gigmesh.gigs.v1.GigService/ModerateGig";
pub const SEARCH_GIGS: &str = "/gigmesh.search.v1.SearchService/SearchGigs";
pub const SUGGEST_GIGS: &str = "/gigmesh.search.v1.SearchService/SuggestGigs";
pub const PLACE_ORDER: &str = "/gigmesh.orders.v1.OrderService/PlaceOrder";
pub const GET_ORDER: &str = "/gigmesh.orders.v1.OrderService/GetOrder";
pub const LIST_MY_ORDERS: &str = "/gigmesh.orders.v1.OrderService/ListMyOrders";
pub const SUBMIT_REQUIREMENTS: &str = "/gigmesh.orders.v1.OrderService/SubmitRequirements";
pub const DELIVER_ORDER: &str = "/gigmesh.orders.v1.OrderService/DeliverOrder";
pub const CANCEL_ORDER: &str = "/gigmesh.orders.v1.OrderService/CancelOrder";
pub const ACCEPT_DELIVERY: &str = "/gigmesh.orders.v1.OrderService/AcceptDelivery";
pub const REQUEST_REVISION: &str = "/gigmesh.orders.v1.OrderService/RequestRevision";
pub const REQUEST_CANCELLATION: &str = "/gigmesh.orders.v1.OrderService/RequestCancellation";
pub const ANSWER_CANCELLATION: &str = "/gigmesh.orders.v1.OrderService/AnswerCancellation";
pub const OPEN_DISPUTE: &str = "/gigmesh.orders.v1.OrderService/OpenDispute";
pub const RESOLVE_DISPUTE: &str = "/gigmesh.orders.v1.OrderService/ResolveDispute";
pub const GET_ORDER_PAYMENT: &str = "/gigmesh.payments.v1.PaymentService/GetOrderPayment";
pub const CONFIRM_SANDBOX_PAYMENT: &str =
    "/gigmesh.payments.v1.PaymentService/ConfirmSandboxPayment";
pub const GET_MY_BALANCE: &str = "/gigmesh.payments.v1.PaymentService/GetMyBalance";
pub const START_PAYOUT_ONBOARDING: &str =
    "/gigmesh.payments.v1.PaymentService/StartPayoutOnboarding";
pub const WITHDRAW: &str = "/gigmesh.payments.v1.PaymentService/Withdraw";
pub const GET_INVOICE: &str = "/gigmesh.payments.v1.PaymentService/GetInvoice";
pub const LIST_PAYMENTS: &str = "/gigmesh.payments.v1.PaymentService/ListPayments";
pub const GET_LEDGER_SUMMARY: &str = "/gigmesh.payments.v1.PaymentService/GetLedgerSummary";
