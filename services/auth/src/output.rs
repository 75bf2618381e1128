//! Domain values as the proto messages the API answers with and the events carry: accounts,
//! roles, issued tokens, session pages and the public signing keys.

use gigmesh_auth::{Role, SigningKey};
use gigmesh_proto::auth as proto;
use gigmesh_types::{SessionId, timestamp_from_millis};

use crate::domain::{Account, AccountState, IssuedTokens, Session, SessionPage};
use crate::input::session_page_token;

/// How clients present the access token (`authorization: Bearer <token>`).
const TOKEN_TYPE: &str = "Bearer";

/// The account as its owner and admins see it.
pub fn account_to_proto(account: &Account) -> proto::Account {
    proto::Account {
        id: account.id.to_string(),
        email: account.email.clone(),
        username: account.username.clone(),
        email_verified: account.email_verified,
        roles: roles_to_proto(&account.roles),
        state: match account.state {
            AccountState::Active => proto::AccountState::Active,
            AccountState::Suspended => proto::AccountState::Suspended,
        } as i32,
        create_time: Some(timestamp_from_millis(account.create_time)),
    }
}

/// Roles as the proto enum values accounts and events carry.
pub fn roles_to_proto(roles: &[Role]) -> Vec<i32> {
    roles
        .iter()
        .map(|role| proto::Role::from(*role) as i32)
        .collect()
}

/// The token pair of a log-in or refresh.
pub fn tokens_to_proto(tokens: &IssuedTokens) -> proto::Tokens {
    proto::Tokens {
        access_token: tokens.access_token.clone(),
        access_token_expire_time: Some(timestamp_from_millis(tokens.access_token_expire_time)),
        refresh_token: tokens.refresh_token.clone(),
        refresh_token_expire_time: Some(timestamp_from_millis(tokens.refresh_token_expire_time)),
        token_type: TOKEN_TYPE.to_owned(),
    }
}

/// A page of the caller's sessions; `current` is the session the call came from.
pub fn session_page_to_proto(
    page: &SessionPage,
    current: SessionId,
) -> proto::ListSessionsResponse {
    proto::ListSessionsResponse {
        sessions: page
            .sessions
            .iter()
            .map(|session| session_to_proto(session, current))
            .collect(),
        next_page_token: page.next_after.map(session_page_token).unwrap_or_default(),
    }
}

fn session_to_proto(session: &Session, current: SessionId) -> proto::Session {
    proto::Session {
        id: session.id.to_string(),
        user_agent: session.user_agent.clone(),
        client_address: session.client_address.clone(),
        create_time: Some(timestamp_from_millis(session.create_time)),
        last_use_time: Some(timestamp_from_millis(session.last_use_time)),
        current: session.id == current,
    }
}

/// The public halves of `keys`, as GetJwks publishes them.
pub fn public_jwks(keys: &[SigningKey]) -> Vec<proto::Jwk> {
    keys.iter().map(SigningKey::public_jwk).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_expiry_keeps_the_whole_seconds_of_the_token() {
        let tokens = IssuedTokens {
            access_token: "access".to_owned(),
            access_token_expire_time: 1_700_000_900_000,
            refresh_token: "refresh".to_owned(),
            refresh_token_expire_time: 1_702_592_000_123,
        };
        let proto = tokens_to_proto(&tokens);
        let access = proto.access_token_expire_time.expect("access expiry");
        assert_eq!((access.seconds, access.nanos), (1_700_000_900, 0));
        let refresh = proto.refresh_token_expire_time.expect("refresh expiry");
        assert_eq!(
            (refresh.seconds, refresh.nanos),
            (1_702_592_000, 123_000_000)
        );
        assert_eq!(proto.token_type, "Bearer");
    }
}
