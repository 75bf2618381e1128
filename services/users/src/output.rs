//! Domain values as the proto messages the API answers with and the events carry.

use gigmesh_proto::users as proto;
use gigmesh_types::{HttpsUrl, timestamp_from_millis};

use crate::domain::{Language, Proficiency, Profile, SellerProfile};

/// The owner's view.
pub fn profile_to_proto(profile: &Profile) -> proto::Profile {
    proto::Profile {
        user_id: profile.user_id.to_string(),
        username: profile.username.clone(),
        display_name: profile.display_name.clone(),
        bio: profile.bio.clone(),
        country: country_to_proto(profile),
        languages: languages_to_proto(&profile.languages),
        avatar_url: url_or_empty(profile.avatar_url.as_ref()),
        is_seller: profile.is_seller(),
        seller: profile.seller.as_ref().map(seller_to_proto),
        suspended: profile.suspended,
        create_time: Some(timestamp_from_millis(profile.created_at)),
        update_time: Some(timestamp_from_millis(profile.updated_at)),
    }
}

/// What anyone may see.
pub fn public_profile_to_proto(profile: &Profile) -> proto::PublicProfile {
    proto::PublicProfile {
        user_id: profile.user_id.to_string(),
        username: profile.username.clone(),
        display_name: profile.display_name.clone(),
        bio: profile.bio.clone(),
        country: country_to_proto(profile),
        languages: languages_to_proto(&profile.languages),
        avatar_url: url_or_empty(profile.avatar_url.as_ref()),
        is_seller: profile.is_seller(),
        seller: profile.seller.as_ref().map(seller_to_proto),
        create_time: Some(timestamp_from_millis(profile.created_at)),
    }
}

fn country_to_proto(profile: &Profile) -> String {
    profile
        .country
        .as_ref()
        .map(|country| country.as_str().to_owned())
        .unwrap_or_default()
}

/// A link, or the empty string proto3 uses for "none".
fn url_or_empty(url: Option<&HttpsUrl>) -> String {
    url.map(|url| url.as_str().to_owned()).unwrap_or_default()
}

fn languages_to_proto(languages: &[Language]) -> Vec<proto::Language> {
    languages
        .iter()
        .map(|language| proto::Language {
            code: language.code.as_str().to_owned(),
            proficiency: proficiency_to_proto(language.proficiency) as i32,
        })
        .collect()
}

fn proficiency_to_proto(proficiency: Proficiency) -> proto::Proficiency {
    match proficiency {
        Proficiency::Basic => proto::Proficiency::Basic,
        Proficiency::Conversational => proto::Proficiency::Conversational,
        Proficiency::Fluent => proto::Proficiency::Fluent,
        Proficiency::Native => proto::Proficiency::Native,
    }
}

fn seller_to_proto(seller: &SellerProfile) -> proto::SellerProfile {
    let details = &seller.details;
    proto::SellerProfile {
        description: details.description.clone(),
        skills: details.skills.clone(),
        portfolio: details
            .portfolio
            .iter()
            .map(|item| proto::PortfolioItem {
                title: item.title.clone(),
                description: item.description.clone(),
                url: item.url.as_str().to_owned(),
                image_url: url_or_empty(item.image_url.as_ref()),
            })
            .collect(),
        education: details
            .education
            .iter()
            .map(|entry| proto::Education {
                institution: entry.institution.clone(),
                degree: entry.degree.clone(),
                field: entry.field.clone(),
                year: entry.year,
            })
            .collect(),
        certifications: details
            .certifications
            .iter()
            .map(|entry| proto::Certification {
                name: entry.name.clone(),
                issuer: entry.issuer.clone(),
                year: entry.year,
            })
            .collect(),
        seller_since_time: Some(timestamp_from_millis(seller.since)),
        response_time: seller.response_time.and_then(|time| {
            time.summary().map(|summary| proto::ResponseTime {
                median_seconds: time.median_seconds,
                conversations: time.conversations,
                summary: summary.to_owned(),
            })
        }),
    }
}
