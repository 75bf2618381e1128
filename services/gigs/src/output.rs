//! Domain values as the proto messages the API answers with and the events carry.

use gigmesh_proto::gigs as proto;
use gigmesh_proto::types::Money as ProtoMoney;
use gigmesh_types::timestamp_from_millis;

use crate::domain::{GigState, GigView, MediaKind, Moderation, RequirementKind, Tier};
use crate::taxonomy::CATEGORIES;

/// The whole gig as its owner, admins and (when public) buyers see it.
pub fn gig_to_proto(view: &GigView) -> proto::Gig {
    let gig = &view.gig;
    let content = &gig.content;
    let lists = &content.lists;
    let seller = view.seller.as_ref();
    proto::Gig {
        id: gig.id.to_string(),
        seller_id: gig.seller_id.to_string(),
        slug: gig.slug.clone(),
        title: content.title.clone(),
        description: content.description.clone(),
        category_id: content.category_id.clone().unwrap_or_default(),
        subcategory_id: content.subcategory_id.clone().unwrap_or_default(),
        tags: lists.tags.clone(),
        packages: lists
            .packages
            .iter()
            .map(|package| proto::Package {
                tier: tier_to_proto(package.tier) as i32,
                name: package.name.clone(),
                description: package.description.clone(),
                price: Some(ProtoMoney::from(package.price)),
                delivery_days: package.delivery_days,
                revisions: package.revisions,
                features: package.features.clone(),
            })
            .collect(),
        extras: lists
            .extras
            .iter()
            .map(|extra| proto::Extra {
                id: extra.id.clone(),
                title: extra.title.clone(),
                price: Some(ProtoMoney::from(extra.price)),
                extra_days: extra.extra_days,
            })
            .collect(),
        gallery: lists
            .gallery
            .iter()
            .map(|item| proto::GalleryItem {
                kind: match item.kind {
                    MediaKind::Image => proto::MediaKind::Image,
                    MediaKind::Video => proto::MediaKind::Video,
                } as i32,
                url: item.url.clone(),
                cover: item.cover,
            })
            .collect(),
        requirements: lists
            .requirements
            .iter()
            .map(|requirement| proto::Requirement {
                question: requirement.question.clone(),
                kind: match requirement.kind {
                    RequirementKind::Text => proto::RequirementKind::Text,
                    RequirementKind::MultipleChoice => proto::RequirementKind::MultipleChoice,
                    RequirementKind::Attachment => proto::RequirementKind::Attachment,
                } as i32,
                options: requirement.options.clone(),
                required: requirement.required,
            })
            .collect(),
        faq: lists
            .faq
            .iter()
            .map(|entry| proto::Faq {
                question: entry.question.clone(),
                answer: entry.answer.clone(),
            })
            .collect(),
        state: state_to_proto(gig.state) as i32,
        moderation_state: moderation_to_proto(gig.moderation) as i32,
        moderation_reason: gig.moderation_reason.clone().unwrap_or_default(),
        seller: Some(proto::SellerSummary {
            user_id: gig.seller_id.to_string(),
            username: seller.map(|s| s.username.clone()).unwrap_or_default(),
            display_name: seller.map(|s| s.display_name.clone()).unwrap_or_default(),
            avatar_url: seller.map(|s| s.avatar_url.clone()).unwrap_or_default(),
            country: seller.map(|s| s.country.clone()).unwrap_or_default(),
            languages: seller.map(|s| s.languages.clone()).unwrap_or_default(),
            rating: seller.map(|s| s.rating.average).unwrap_or_default(),
            rating_count: seller
                .map(|s| saturating_i32(s.rating.count))
                .unwrap_or_default(),
        }),
        rating: gig.rating.average,
        rating_count: saturating_i32(gig.rating.count),
        create_time: Some(timestamp_from_millis(gig.created_at)),
        update_time: Some(timestamp_from_millis(gig.updated_at)),
        publish_time: gig.published_at.map(timestamp_from_millis),
    }
}

/// The taxonomy as ListCategories answers it.
pub fn categories_to_proto() -> Vec<proto::Category> {
    CATEGORIES
        .iter()
        .map(|category| proto::Category {
            id: category.id.to_owned(),
            name: category.name.to_owned(),
            subcategories: category
                .subcategories
                .iter()
                .map(|subcategory| proto::Subcategory {
                    id: subcategory.id.to_owned(),
                    name: subcategory.name.to_owned(),
                })
                .collect(),
        })
        .collect()
}

fn tier_to_proto(tier: Tier) -> proto::PackageTier {
    match tier {
        Tier::Basic => proto::PackageTier::Basic,
        Tier::Standard => proto::PackageTier::Standard,
        Tier::Premium => proto::PackageTier::Premium,
    }
}

fn state_to_proto(state: GigState) -> proto::GigState {
    match state {
        GigState::Draft => proto::GigState::Draft,
        GigState::Active => proto::GigState::Active,
        GigState::Paused => proto::GigState::Paused,
        GigState::Deleted => proto::GigState::Deleted,
    }
}

fn moderation_to_proto(moderation: Moderation) -> proto::ModerationState {
    match moderation {
        Moderation::Pending => proto::ModerationState::Pending,
        Moderation::Approved => proto::ModerationState::Approved,
        Moderation::Rejected => proto::ModerationState::Rejected,
        Moderation::Suspended => proto::ModerationState::Suspended,
    }
}

fn saturating_i32(count: i64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}
