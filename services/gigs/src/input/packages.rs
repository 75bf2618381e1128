//! What a gig sells: its packages (one per tier, in tier order, prices rising with the
//! tier), its extras (unique titles) and the prices and day counts both carry.

use std::collections::HashSet;

use gigmesh_errors::{ApiError, Violations};
use gigmesh_proto::gigs as proto;
use gigmesh_types::{Lines, Money, parse_text};

use crate::domain::{self, Extra, Package, Tier};

fn parse_money(
    field: &str,
    money: Option<&gigmesh_proto::types::Money>,
    violations: &mut Violations,
) -> Option<Money> {
    let Some(money) = money else {
        violations.add(field, "is required");
        return None;
    };
    Money::parse_positive(field, money.amount_minor, &money.currency, violations)
}

pub(super) fn parse_packages(
    packages: &[proto::Package],
    violations: &mut Violations,
) -> Option<Vec<Package>> {
    const FIELD: &str = "gig.packages";
    if packages.is_empty() {
        violations.add(FIELD, "must include the basic package");
        return None;
    }
    let parsed = violations.parse_list(FIELD, packages, 3, parse_package)?;
    let mut all_valid = true;
    for (index, pair) in parsed.windows(2).enumerate() {
        let (previous, package) = (&pair[0], &pair[1]);
        let field = format!("{FIELD}[{}]", index + 1);
        if package.tier <= previous.tier {
            violations.add(
                format!("{field}.tier"),
                "packages must be listed basic, standard, premium, each tier at most once",
            );
            all_valid = false;
        } else if package.price.amount_minor <= previous.price.amount_minor {
            violations.add(
                format!("{field}.price.amount_minor"),
                format!(
                    "must be more than the {} package's price: prices rise with the tier",
                    previous.tier.as_str()
                ),
            );
            all_valid = false;
        }
    }
    if all_valid
        && parsed
            .first()
            .is_some_and(|first| first.tier != Tier::Basic)
    {
        violations.add(FIELD, "must include the basic package");
        all_valid = false;
    }
    all_valid.then_some(parsed)
}

fn parse_package(
    field: &str,
    package: &proto::Package,
    violations: &mut Violations,
) -> Option<Package> {
    let tier = match proto::PackageTier::try_from(package.tier) {
        Ok(proto::PackageTier::Basic) => Some(Tier::Basic),
        Ok(proto::PackageTier::Standard) => Some(Tier::Standard),
        Ok(proto::PackageTier::Premium) => Some(Tier::Premium),
        Ok(proto::PackageTier::Unspecified) | Err(_) => {
            violations.add(
                format!("{field}.tier"),
                "must be one of PACKAGE_TIER_BASIC, PACKAGE_TIER_STANDARD, PACKAGE_TIER_PREMIUM",
            );
            None
        }
    };
    let name = violations.check(parse_text(
        &format!("{field}.name"),
        &package.name,
        1,
        domain::MAX_PACKAGE_NAME_CHARS,
        Lines::Single,
    ));
    let description = violations.check(parse_text(
        &format!("{field}.description"),
        &package.description,
        0,
        domain::MAX_PACKAGE_DESCRIPTION_CHARS,
        Lines::Multiple,
    ));
    let price = parse_money(
        &format!("{field}.price"),
        package.price.as_ref(),
        violations,
    );
    let delivery_days = violations.check(parse_range(
        &format!("{field}.delivery_days"),
        package.delivery_days,
        domain::MIN_DELIVERY_DAYS,
        domain::MAX_DELIVERY_DAYS,
    ));
    let revisions = if package.revisions == domain::UNLIMITED_REVISIONS {
        Some(package.revisions)
    } else {
        violations.check(
            parse_range(
                &format!("{field}.revisions"),
                package.revisions,
                0,
                domain::MAX_REVISIONS,
            )
            .map_err(|_| {
                ApiError::invalid(
                    format!("{field}.revisions"),
                    format!(
                        "must be 0 to {}, or -1 for unlimited",
                        domain::MAX_REVISIONS
                    ),
                )
            }),
        )
    };
    let features = violations.parse_list(
        &format!("{field}.features"),
        &package.features,
        domain::MAX_FEATURES,
        |field, feature, violations| {
            violations.check(parse_text(
                field,
                feature,
                1,
                domain::MAX_FEATURE_CHARS,
                Lines::Single,
            ))
        },
    );
    Some(Package {
        tier: tier?,
        name: name?,
        description: description?,
        price: price?,
        delivery_days: delivery_days?,
        revisions: revisions?,
        features: features?,
    })
}

pub(super) fn parse_extras(
    extras: &[proto::Extra],
    violations: &mut Violations,
) -> Option<Vec<Extra>> {
    let mut titles = HashSet::new();
    violations.parse_list(
        "gig.extras",
        extras,
        domain::MAX_EXTRAS,
        |field, extra, violations| {
            let title = violations.check(parse_text(
                &format!("{field}.title"),
                &extra.title,
                1,
                domain::MAX_EXTRA_TITLE_CHARS,
                Lines::Single,
            ));
            let title = title.and_then(|title| {
                if titles.insert(title.to_lowercase()) {
                    Some(title)
                } else {
                    violations.add(
                        format!("{field}.title"),
                        "repeats the title of another extra",
                    );
                    None
                }
            });
            let price = parse_money(&format!("{field}.price"), extra.price.as_ref(), violations);
            let extra_days = violations.check(parse_range(
                &format!("{field}.extra_days"),
                extra.extra_days,
                0,
                domain::MAX_EXTRA_DAYS,
            ));
            Some(Extra {
                id: String::new(),
                title: title?,
                price: price?,
                extra_days: extra_days?,
            })
        },
    )
}

fn parse_range(field: &str, value: i32, min: i32, max: i32) -> Result<i32, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(field, format!("must be {min} to {max}")))
    }
}
