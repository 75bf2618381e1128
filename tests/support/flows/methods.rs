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
