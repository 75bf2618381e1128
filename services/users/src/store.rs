//! Profile persistence: portable SQL over `sqlx::Any`, run on SQLite and PostgreSQL alike.
//!
//! Changes use optimistic concurrency: every row carries a `version`, and an update only
//! applies to the version that was read, so two concurrent read-modify-writes of one profile
//! cannot silently overwrite each other on either backend.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{HttpsUrl, UserId};
use sqlx::any::{AnyArguments, AnyExecutor, AnyRow};
use sqlx::{Any, Error as SqlxError, Row};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{CountryCode, Language, Profile, ResponseTime, SellerDetails, SellerProfile};

/// A profile together with the version it was read at.
#[derive(Debug, Clone)]
pub struct StoredProfile {
    /// The profile.
    pub profile: Profile,
    /// Version of the row, to be passed back to [`update_profile`].
    pub version: i64,
}

const PROFILE_COLUMNS: &str = "user_id, username, display_name, bio, country, languages, \
     avatar_url, seller_details, seller_since, suspended, version, created_at, updated_at, \
     response_median_seconds, response_conversations";

/// Inserts a new profile unless one exists for the user already; returns whether it inserted.
#[instrument(skip_all, fields(user_id = %profile.user_id))]
pub async fn insert_profile(tx: &mut Tx, profile: &Profile) -> Result<bool, DbError> {
    let columns = ChangeableColumns::of(profile)?;
    let query = sqlx::query(
        "INSERT INTO profiles (user_id, username, username_key, display_name, bio, country, \
         languages, avatar_url, seller_details, seller_since, suspended, version, created_at, \
         updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(profile.user_id.to_string())
    .bind(profile.username.clone())
    .bind(username_key(&profile.username));
    let result = columns
        .bind_onto(query)
        .bind(profile.created_at)
        .bind(profile.updated_at)
        .execute(&mut **tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Writes `profile` if its row is still at `expected_version`; returns whether it did.
#[instrument(skip_all, fields(user_id = %profile.user_id))]
pub async fn update_profile(
    tx: &mut Tx,
    profile: &Profile,
    expected_version: i64,
) -> Result<bool, DbError> {
    let columns = ChangeableColumns::of(profile)?;
    let query = sqlx::query(
        "UPDATE profiles SET display_name = $1, bio = $2, country = $3, languages = $4, \
         avatar_url = $5, seller_details = $6, seller_since = $7, suspended = $8, \
         updated_at = $9, version = version + 1 \
         WHERE user_id = $10 AND version = $11",
    );
    let result = columns
        .bind_onto(query)
        .bind(profile.updated_at)
        .bind(profile.user_id.to_string())
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// The profile of `user_id`, suspended or not.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn find_by_user_id<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
) -> Result<Option<StoredProfile>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {PROFILE_COLUMNS} FROM profiles WHERE user_id = $1"
    ))
    .bind(user_id.to_string())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(stored_profile_from_row).transpose()
}

/// The profile with `username` (ignoring case), suspended or not.
#[instrument(skip_all)]
pub async fn find_by_username<'c>(
    executor: impl AnyExecutor<'c>,
    username: &str,
) -> Result<Option<StoredProfile>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {PROFILE_COLUMNS} FROM profiles WHERE username_key = $1"
    ))
    .bind(username_key(username))
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(stored_profile_from_row).transpose()
}

/// Keeps `time`, measured at `measure_time`, as `user_id`'s response time, unless a later
/// measure is kept already; returns whether it was written (a user without a profile: no).
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn set_response_time(
    tx: &mut Tx,
    user_id: UserId,
    time: ResponseTime,
    measure_time: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE profiles SET response_median_seconds = $1, response_conversations = $2, \
         response_measure_time = $3 WHERE user_id = $4 \
         AND (response_measure_time IS NULL OR response_measure_time < $3)",
    )
    .bind(time.median_seconds)
    .bind(i64::from(time.conversations))
    .bind(measure_time)
    .bind(user_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The case-insensitive form of a username that uniqueness and lookups use.
fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// A query over the `Any` driver, as `sqlx::query` builds it.
type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// The columns that change with a profile, encoded for binding, in the order both the insert
/// and the update name them: `display_name, bio, country, languages, avatar_url,
/// seller_details, seller_since, suspended`.
struct ChangeableColumns {
    display_name: String,
    bio: String,
    country: Option<String>,
    languages: String,
    avatar_url: Option<String>,
    seller_details: Option<String>,
    seller_since: Option<i64>,
    suspended: bool,
}

impl ChangeableColumns {
    fn of(profile: &Profile) -> Result<Self, DbError> {
        let seller_details = profile
            .seller
            .as_ref()
            .map(|seller| serde_json::to_string(&seller.details))
            .transpose()
            .map_err(encode_error)?;
        Ok(Self {
            display_name: profile.display_name.clone(),
            bio: profile.bio.clone(),
            country: profile.country.as_ref().map(|c| c.as_str().to_owned()),
            languages: serde_json::to_string(&profile.languages).map_err(encode_error)?,
            avatar_url: profile.avatar_url.as_ref().map(|u| u.as_str().to_owned()),
            seller_details,
            seller_since: profile.seller.as_ref().map(|seller| seller.since),
            suspended: profile.suspended,
        })
    }

    /// `query` with the columns bound as its next eight parameters, in the order above.
    fn bind_onto(self, query: AnyQuery<'_>) -> AnyQuery<'_> {
        query
            .bind(self.display_name)
            .bind(self.bio)
            .bind(self.country)
            .bind(self.languages)
            .bind(self.avatar_url)
            .bind(self.seller_details)
            .bind(self.seller_since)
            .bind(self.suspended)
    }
}

fn stored_profile_from_row(row: &AnyRow) -> Result<StoredProfile, DbError> {
    let user_id: String = row.try_get("user_id")?;
    let user_id = Uuid::parse_str(&user_id)
        .map(UserId::from)
        .map_err(decode_error)?;
    let languages: String = row.try_get("languages")?;
    let languages: Vec<Language> = serde_json::from_str(&languages).map_err(decode_error)?;
    let seller_details: Option<String> = row.try_get("seller_details")?;
    let seller_since: Option<i64> = row.try_get("seller_since")?;
    let median_seconds: Option<i64> = row.try_get("response_median_seconds")?;
    let conversations: Option<i64> = row.try_get("response_conversations")?;
    let response_time = match (median_seconds, conversations) {
        (Some(median_seconds), Some(conversations)) => Some(ResponseTime {
            median_seconds,
            conversations: i32::try_from(conversations).map_err(decode_error)?,
        }),
        _ => None,
    };
    let seller = match (seller_details, seller_since) {
        (Some(details), Some(since)) => Some(SellerProfile {
            details: serde_json::from_str::<SellerDetails>(&details).map_err(decode_error)?,
            since,
            response_time,
        }),
        _ => None,
    };
    let country: Option<String> = row.try_get("country")?;
    let avatar_url: Option<String> = row.try_get("avatar_url")?;
    let profile = Profile {
        user_id,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        bio: row.try_get("bio")?,
        country: country.map(CountryCode::from_stored),
        languages,
        avatar_url: avatar_url.map(HttpsUrl::from_stored),
        seller,
        suspended: gigmesh_db::get_bool(row, "suspended")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    };
    Ok(StoredProfile {
        profile,
        version: row.try_get("version")?,
    })
}

fn encode_error(error: serde_json::Error) -> DbError {
    DbError::from(SqlxError::Encode(Box::new(error)))
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::from(SqlxError::Decode(Box::new(error)))
}
