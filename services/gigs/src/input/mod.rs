//! Requests as domain values: every proto field a caller sends is parsed here, with the
//! path of the field in each violation (`gig.packages[1].price.amount_minor`), so a caller
//! learns about every bad field at once. Nothing deeper sees a proto type or a raw string id.
//!
//! This file holds the request-level parsers `api.rs` calls — CreateGig, UpdateGig (with its
//! update mask and the [`GigChanges`] it yields), ListSellerGigs, ModerateGig, the viewer —
//! and the rules that span fields. The parts of a gig are parsed by concern in `content.rs`
//! (title, description, category, tags), `packages.rs` (packages, extras, prices) and
//! `media.rs` (gallery, requirements, FAQ); ids and lookups in `ids.rs`; page sizes and
//! tokens in `paging.rs`. The parts never import this file.

mod content;
mod ids;
mod media;
mod packages;
mod paging;

pub use self::ids::{parse_gig_id, parse_gig_lookup};
pub use self::paging::{gig_page_token, parse_gig_page, parse_saved_page, saved_page_token};

use gigmesh_errors::{ApiError, Violations, echoed_list};
use gigmesh_grpc::Caller;
use gigmesh_proto::gigs as proto;
use gigmesh_types::{GigId, Lines, Money, UserId, parse_text};
use uuid::Uuid;

use self::content::{
    parse_category, parse_description, parse_subcategory, parse_tags, parse_title,
};
use self::ids::parse_user_id;
use self::media::{parse_faq, parse_gallery, parse_requirements};
use self::packages::{parse_extras, parse_packages};
use crate::domain::{
    self, Extra, Faq, GalleryItem, GigContent, ModerationAction, Package, Page, Requirement, Viewer,
};
use crate::error::GigsError;
use crate::taxonomy;

/// The fields of a gig an update mask may name, in the order of the message.
pub const UPDATABLE_FIELDS: [&str; 10] = [
    "title",
    "description",
    "category_id",
    "subcategory_id",
    "tags",
    "packages",
    "extras",
    "gallery",
    "requirements",
    "faq",
];

/// New values for the parts of a gig a request names; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GigChanges {
    title: Option<String>,
    description: Option<String>,
    category_id: Option<Option<String>>,
    subcategory_id: Option<Option<String>>,
    tags: Option<Vec<String>>,
    packages: Option<Vec<Package>>,
    extras: Option<Vec<Extra>>,
    gallery: Option<Vec<GalleryItem>>,
    requirements: Option<Vec<Requirement>>,
    faq: Option<Vec<Faq>>,
}

impl GigChanges {
    /// `content` with these changes applied. Extras keep the id of the extra with the same
    /// title (ignoring case) in `content`; the rules spanning fields (the subcategory is
    /// filed under the category, one currency per gig) are checked on the result.
    pub fn apply_to(self, content: &GigContent) -> Result<GigContent, GigsError> {
        let mut changed = content.clone();
        if let Some(title) = self.title {
            changed.title = title;
        }
        if let Some(description) = self.description {
            changed.description = description;
        }
        if let Some(category_id) = self.category_id {
            changed.category_id = category_id;
        }
        if let Some(subcategory_id) = self.subcategory_id {
            changed.subcategory_id = subcategory_id;
        }
        if let Some(tags) = self.tags {
            changed.lists.tags = tags;
        }
        if let Some(packages) = self.packages {
            changed.lists.packages = packages;
        }
        if let Some(mut extras) = self.extras {
            keep_extra_ids(&content.lists.extras, &mut extras);
            changed.lists.extras = extras;
        }
        if let Some(gallery) = self.gallery {
            changed.lists.gallery = gallery;
        }
        if let Some(requirements) = self.requirements {
            changed.lists.requirements = requirements;
        }
        if let Some(faq) = self.faq {
            changed.lists.faq = faq;
        }
        check_across_fields(&changed)?;
        Ok(changed)
    }
}

/// Gives each extra the id of the previous extra with the same title, or a new one.
fn keep_extra_ids(previous: &[Extra], extras: &mut [Extra]) {
    for extra in extras {
        let title_key = extra.title.to_lowercase();
        extra.id = previous
            .iter()
            .find(|old| old.title.to_lowercase() == title_key)
            .map(|old| old.id.clone())
            .unwrap_or_else(|| Uuid::now_v7().to_string());
    }
}

fn check_across_fields(content: &GigContent) -> Result<(), GigsError> {
    let mut violations = Violations::new();
    match (&content.category_id, &content.subcategory_id) {
        (None, Some(_)) => {
            violations.add("gig.category_id", "is required when subcategory_id is set")
        }
        (Some(category_id), Some(subcategory_id)) => {
            let filed_under = taxonomy::category_of_subcategory(subcategory_id);
            if filed_under.is_some_and(|category| category.id != category_id) {
                violations.add(
                    "gig.subcategory_id",
                    format!(
                        "{subcategory_id:?} is not a subcategory of {category_id:?}; \
                         ListCategories shows where it is filed"
                    ),
                );
            }
        }
        _ => {}
    }
    if let Some(currency) = content.currency() {
        let wrong_currency = |field: String, money: &Money, violations: &mut Violations| {
            if money.currency != currency {
                violations.add(
                    field,
                    format!("must be {currency}: every price of a gig is in one currency"),
                );
            }
        };
        for (index, package) in content.lists.packages.iter().enumerate() {
            wrong_currency(
                format!("gig.packages[{index}].price.currency"),
                &package.price,
                &mut violations,
            );
        }
        for (index, extra) in content.lists.extras.iter().enumerate() {
            wrong_currency(
                format!("gig.extras[{index}].price.currency"),
                &extra.price,
                &mut violations,
            );
        }
    }
    violations.finish()?;
    Ok(())
}

/// The content of CreateGig: every field given is checked in full; a draft may leave out
/// all but the title, and publishing asks for the rest.
pub fn parse_new_gig(gig: Option<proto::Gig>) -> Result<GigContent, GigsError> {
    let Some(gig) = gig else {
        return Err(ApiError::invalid("gig", "is required").into());
    };
    let mut violations = Violations::new();
    let mut changes = GigChanges {
        title: violations.check(parse_title(&gig.title)),
        ..GigChanges::default()
    };
    if !gig.description.trim().is_empty() {
        changes.description = violations.check(parse_description(&gig.description));
    }
    if !gig.category_id.trim().is_empty() {
        changes.category_id = violations.check(parse_category(&gig.category_id)).map(Some);
    }
    if !gig.subcategory_id.trim().is_empty() {
        changes.subcategory_id = violations
            .check(parse_subcategory(&gig.subcategory_id))
            .map(Some);
    }
    changes.tags = parse_tags(&gig.tags, &mut violations);
    if !gig.packages.is_empty() {
        changes.packages = parse_packages(&gig.packages, &mut violations);
    }
    changes.extras = parse_extras(&gig.extras, &mut violations);
    changes.gallery = parse_gallery(&gig.gallery, &mut violations);
    changes.requirements = parse_requirements(&gig.requirements, &mut violations);
    changes.faq = parse_faq(&gig.faq, &mut violations);
    violations.finish()?;
    changes.apply_to(&GigContent::default())
}

/// The gig id and the changes of UpdateGig. No mask (or `*`) names every updatable field.
pub fn parse_gig_update(
    request: proto::UpdateGigRequest,
) -> Result<(GigId, GigChanges), GigsError> {
    let Some(gig) = request.gig else {
        return Err(ApiError::invalid("gig", "is required").into());
    };
    let mut violations = Violations::new();
    let gig_id = violations.check(parse_gig_id("gig.id", &gig.id));
    let paths = request
        .update_mask
        .map(|mask| mask.paths)
        .unwrap_or_default();
    let fields = violations
        .check(parse_update_mask(&paths))
        .unwrap_or_default();
    let mut changes = GigChanges::default();
    for field in fields {
        match field {
            "title" => changes.title = violations.check(parse_title(&gig.title)),
            "description" => {
                changes.description = violations.check(parse_description(&gig.description));
            }
            "category_id" => {
                changes.category_id = if gig.category_id.trim().is_empty() {
                    Some(None)
                } else {
                    violations.check(parse_category(&gig.category_id)).map(Some)
                };
            }
            "subcategory_id" => {
                changes.subcategory_id = if gig.subcategory_id.trim().is_empty() {
                    Some(None)
                } else {
                    violations
                        .check(parse_subcategory(&gig.subcategory_id))
                        .map(Some)
                };
            }
            "tags" => changes.tags = parse_tags(&gig.tags, &mut violations),
            "packages" => changes.packages = parse_packages(&gig.packages, &mut violations),
            "extras" => changes.extras = parse_extras(&gig.extras, &mut violations),
            "gallery" => changes.gallery = parse_gallery(&gig.gallery, &mut violations),
            "requirements" => {
                changes.requirements = parse_requirements(&gig.requirements, &mut violations);
            }
            _ => changes.faq = parse_faq(&gig.faq, &mut violations),
        }
    }
    violations.finish()?;
    let gig_id = gig_id.ok_or_else(|| ApiError::invalid("gig.id", "is required"))?;
    Ok((gig_id, changes))
}

fn parse_update_mask(paths: &[String]) -> Result<Vec<&'static str>, ApiError> {
    if paths.is_empty() || paths.iter().all(|path| path == "*") {
        return Ok(UPDATABLE_FIELDS.to_vec());
    }
    let mut fields = Vec::new();
    let mut unknown = Vec::new();
    for path in paths {
        match UPDATABLE_FIELDS
            .iter()
            .find(|field| **field == path.as_str())
        {
            Some(field) if !fields.contains(field) => fields.push(*field),
            Some(_) => {}
            None => unknown.push(path.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::invalid(
            "update_mask",
            format!(
                "unknown or read-only paths {}; updatable paths are {}",
                echoed_list(unknown),
                UPDATABLE_FIELDS.join(", ")
            ),
        ));
    }
    Ok(fields)
}

/// The seller and the page of ListSellerGigs.
pub fn parse_seller_gigs_request(
    request: &proto::ListSellerGigsRequest,
) -> Result<(UserId, Page<GigId>), ApiError> {
    let mut violations = Violations::new();
    let seller_id = violations.check(parse_user_id("seller_id", &request.seller_id));
    let page = violations.check(parse_gig_page(request.page_size, &request.page_token));
    violations.finish()?;
    seller_id
        .zip(page)
        .ok_or_else(ApiError::parsed_field_missing)
}

/// The gig and the decision of ModerateGig.
pub fn parse_moderate_request(
    request: &proto::ModerateGigRequest,
) -> Result<(GigId, ModerationAction), ApiError> {
    let mut violations = Violations::new();
    let gig_id = violations.check(parse_gig_id("gig_id", &request.gig_id));
    let action = violations.check(parse_moderation(request.action, &request.reason));
    violations.finish()?;
    gig_id
        .zip(action)
        .ok_or_else(ApiError::parsed_field_missing)
}

/// The decision of ModerateGig; a reason is required to reject or suspend.
pub fn parse_moderation(action: i32, reason: &str) -> Result<ModerationAction, ApiError> {
    let reason = reason.trim();
    let mut violations = Violations::new();
    let action = match proto::ModerationAction::try_from(action) {
        Ok(proto::ModerationAction::Approve) => Some(None),
        Ok(proto::ModerationAction::Reject) => Some(Some(true)),
        Ok(proto::ModerationAction::Suspend) => Some(Some(false)),
        Ok(proto::ModerationAction::Unspecified) | Err(_) => {
            violations.add(
                "action",
                "must be one of MODERATION_ACTION_APPROVE, MODERATION_ACTION_REJECT, \
                 MODERATION_ACTION_SUSPEND",
            );
            None
        }
    };
    let reason_text = violations.check(parse_text(
        "reason",
        reason,
        0,
        domain::MAX_MODERATION_REASON_CHARS,
        Lines::Multiple,
    ));
    if matches!(action, Some(Some(_))) && reason.is_empty() {
        violations.add("reason", "is required to reject or suspend a gig");
    }
    violations.finish()?;
    Ok(match (action, reason_text) {
        (Some(Some(true)), Some(reason)) => ModerationAction::Reject(reason),
        (Some(Some(false)), Some(reason)) => ModerationAction::Suspend(reason),
        _ => ModerationAction::Approve,
    })
}

/// Who is looking: a public method works without a token, and a refused token counts as
/// none (as the gateway treats it on public methods).
pub fn viewer(caller: Option<&Caller>) -> Viewer {
    match caller {
        Some(caller) => Viewer::User {
            user_id: caller.user_id(),
            admin: caller.is_admin(),
        },
        None => Viewer::Anonymous,
    }
}

#[cfg(test)]
mod tests {
    use gigmesh_types::Currency;

    use super::*;

    #[test]
    fn extras_keep_their_id_by_title() {
        let extra = |id: &str, title: &str| Extra {
            id: id.to_owned(),
            title: title.to_owned(),
            price: Money::new(100, Currency::USD),
            extra_days: 1,
        };
        let previous = [extra("a", "Fast delivery"), extra("b", "Source files")];
        let mut extras = [extra("", "fast DELIVERY"), extra("", "Commercial use")];
        keep_extra_ids(&previous, &mut extras);
        assert_eq!(extras[0].id, "a");
        assert!(Uuid::parse_str(&extras[1].id).is_ok());
    }

    #[test]
    fn update_masks_name_unknown_paths() {
        assert_eq!(
            parse_update_mask(&[]).unwrap().len(),
            UPDATABLE_FIELDS.len()
        );
        assert_eq!(parse_update_mask(&["tags".to_owned()]).unwrap(), ["tags"]);
        let error = parse_update_mask(&["tags".to_owned(), "state".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("\"state\""));
    }

    #[test]
    fn rejecting_and_suspending_need_a_reason() {
        assert_eq!(
            parse_moderation(proto::ModerationAction::Approve as i32, "").unwrap(),
            ModerationAction::Approve
        );
        assert_eq!(
            parse_moderation(proto::ModerationAction::Reject as i32, " spam ").unwrap(),
            ModerationAction::Reject("spam".to_owned())
        );
        assert!(parse_moderation(proto::ModerationAction::Suspend as i32, "  ").is_err());
        assert!(parse_moderation(proto::ModerationAction::Unspecified as i32, "x").is_err());
        assert!(parse_moderation(42, "x").is_err());
    }
}
