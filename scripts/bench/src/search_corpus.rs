//! The search benchmark's data: generated gigs and a fixed mix of searches, both from a seeded
//! random generator, so every run (and both engines) sees the same documents and queries.

use gigmesh_gigs::CATEGORIES;
use gigmesh_search::{Currency, Filters, GigDocument, PriceRange, SearchQuery, Sort};
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use uuid::Uuid;

/// Seed of the documents.
const CORPUS_SEED: u64 = 0x6967_6d65_7368;
/// Seed of the query mix.
const QUERY_SEED: u64 = 0x7365_6172_6368;
/// The currency of every generated gig, and of the price filter and facet.
pub const CURRENCY: Currency = Currency::USD;
/// Hits per search, as the search page asks for.
pub const PAGE_SIZE: usize = 20;

/// Words a seller puts in a title or tags, whatever the subcategory.
const SKILL_WORDS: &[&str] = &[
    "wordpress",
    "shopify",
    "react",
    "python",
    "javascript",
    "figma",
    "photoshop",
    "illustrator",
    "ecommerce",
    "landing",
    "website",
    "minimalist",
    "modern",
    "professional",
    "responsive",
    "custom",
    "startup",
    "brand",
    "youtube",
    "instagram",
    "tiktok",
    "podcast",
    "dashboard",
    "automation",
    "chatbot",
    "api",
    "database",
    "kubernetes",
    "aws",
    "excel",
    "tableau",
    "powerbi",
    "newsletter",
    "blog",
    "product",
    "animation",
    "vintage",
    "cartoon",
    "3d",
    "mascot",
];

/// Filler words of descriptions.
const DESCRIPTION_WORDS: &[&str] = &[
    "quality",
    "fast",
    "delivery",
    "unlimited",
    "revisions",
    "experience",
    "years",
    "clients",
    "satisfaction",
    "guaranteed",
    "original",
    "work",
    "source",
    "files",
    "commercial",
    "use",
    "communication",
    "support",
    "business",
    "project",
    "requirements",
    "please",
    "message",
    "before",
    "ordering",
    "detailed",
    "creative",
    "team",
    "expert",
    "affordable",
    "premium",
    "package",
    "includes",
    "high",
    "resolution",
    "optimized",
    "secure",
    "scalable",
    "clean",
    "code",
    "documentation",
    "strategy",
    "research",
    "audience",
    "growth",
    "results",
];

/// Verbs that start titles ("I will design …").
const VERBS: &[&str] = &[
    "design", "create", "build", "develop", "write", "edit", "make", "produce", "optimize", "fix",
    "set up", "manage",
];

/// Seller first names.
const FIRST_NAMES: &[&str] = &[
    "Ada", "Bruno", "Chen", "Dana", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemi",
    "Luca", "Maya", "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
    "Wen", "Yara", "Zoe",
];

/// Seller family names.
const LAST_NAMES: &[&str] = &[
    "Silva", "Nguyen", "Kowalski", "Okafor", "Schmidt", "Haddad", "Tanaka", "Rossi", "Kaur",
    "Martin", "Petrov", "Garcia", "Larsen", "Adeyemi", "Novak", "Dubois", "Sato", "Ali",
];

/// Seller countries (ISO 3166-1 alpha-2).
const COUNTRIES: &[&str] = &[
    "US", "GB", "DE", "FR", "IN", "PK", "BD", "NG", "UA", "PL", "BR", "PH", "ES", "IT", "CA", "EG",
    "KE", "VN", "ID", "TR",
];

/// Languages sellers speak (ISO 639-1).
const LANGUAGES: &[&str] = &[
    "de", "fr", "es", "hi", "ur", "bn", "uk", "pl", "pt", "it", "ar", "tr",
];

/// The subcategory a gig is in, with the words it is described with.
struct Area {
    category_id: &'static str,
    subcategory_id: &'static str,
    words: Vec<String>,
}

fn areas() -> Vec<Area> {
    CATEGORIES
        .iter()
        .flat_map(|category| {
            category.subcategories.iter().map(move |subcategory| Area {
                category_id: category.id,
                subcategory_id: subcategory.id,
                words: subcategory
                    .name
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|word| word.len() > 1)
                    .map(str::to_lowercase)
                    .collect(),
            })
        })
        .collect()
}

fn pick<'a>(rng: &mut StdRng, words: &[&'a str]) -> &'a str {
    words[rng.gen_range(0..words.len())]
}

/// `count` gigs spread over every subcategory: titles "I will <verb> <subcategory words>
/// <skills>", 3 to 5 tags, a description of 40 to 80 words, prices from 5 to 1,000 USD
/// (cheap gigs most common), delivery in 1 to 30 days (short most common), ratings from 0 to
/// 5 (a tenth unrated), published over the last three years.
pub fn documents(count: usize) -> Vec<GigDocument> {
    let mut rng = StdRng::seed_from_u64(CORPUS_SEED);
    let areas = areas();
    let now_millis: i64 = 1_790_000_000_000;
    let three_years_millis: i64 = 3 * 365 * 24 * 3_600 * 1_000;
    (0..count)
        .map(|index| {
            let area = &areas[rng.gen_range(0..areas.len())];
            let area_words: Vec<&str> = area.words.iter().map(String::as_str).collect();
            let mut title_words = vec!["I will", pick(&mut rng, VERBS)];
            let skill_count = rng.gen_range(0..=2);
            for _ in 0..skill_count {
                title_words.push(pick(&mut rng, SKILL_WORDS));
            }
            title_words.extend(area_words.iter().copied());
            if rng.gen_bool(0.5) {
                title_words.push("for your");
                title_words.push(pick(&mut rng, &["business", "startup", "brand", "store"]));
            }
            let title = title_words.join(" ");
            let mut tags: Vec<String> = vec![area.words.join(" ")];
            for _ in 0..rng.gen_range(2..=4) {
                tags.push(pick(&mut rng, SKILL_WORDS).to_owned());
            }
            tags.dedup();
            let mut description = Vec::new();
            for _ in 0..rng.gen_range(40..=80) {
                let word = match rng.gen_range(0..10) {
                    0 | 1 => pick(&mut rng, &area_words),
                    2 => pick(&mut rng, SKILL_WORDS),
                    _ => pick(&mut rng, DESCRIPTION_WORDS),
                };
                description.push(word);
            }
            // Log-uniform between 5 and 1,000 USD, in whole dollars.
            let dollars = (5.0_f64 * 200.0_f64.powf(rng.gen_range(0.0..1.0))).round() as i64;
            let delivery_days = if rng.gen_bool(0.7) {
                rng.gen_range(1..=7)
            } else {
                rng.gen_range(8..=30)
            };
            let rated = rng.gen_bool(0.9);
            let rating = if rated {
                (rng.gen_range(30..=50) as f64 / 10.0).min(5.0) - f64::from(rng.gen_range(0..3))
            } else {
                0.0
            };
            let mut languages = vec!["en".to_owned()];
            if rng.gen_bool(0.4) {
                languages.push(pick(&mut rng, LANGUAGES).to_owned());
            }
            let seller_number = rng.gen_range(0..30_000_u32);
            let seller_name = format!(
                "{} {}",
                pick(&mut rng, FIRST_NAMES),
                pick(&mut rng, LAST_NAMES)
            );
            let gig_id = Uuid::from_u128(rng.r#gen::<u128>());
            GigDocument {
                gig_id,
                slug: format!("gig-{index}"),
                title,
                description: description.join(" "),
                category_id: area.category_id.to_owned(),
                subcategory_id: area.subcategory_id.to_owned(),
                tags,
                starting_price_minor: dollars * 100,
                currency: CURRENCY.code().to_owned(),
                delivery_days,
                rating: rating.clamp(0.0, 5.0),
                rating_count: if rated { rng.gen_range(1..=2_000) } else { 0 },
                cover_url: format!("https://cdn.example.com/gigs/{index}/cover.jpg"),
                seller_id: format!("seller-{seller_number}"),
                seller_name,
                seller_country: pick(&mut rng, COUNTRIES).to_owned(),
                seller_languages: languages,
                publish_time_millis: now_millis - rng.gen_range(0..three_years_millis),
            }
        })
        .collect()
}

/// The kinds of search in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One or two keywords, no filter.
    Keywords,
    /// Keywords, a category and a price range.
    KeywordsCategoryPrice,
    /// Keywords, a maximum delivery time and a minimum rating.
    KeywordsDeliveryRating,
    /// No keywords: a category and a price range.
    FiltersOnly,
    /// Keywords with one letter of one word replaced.
    Typo,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::Keywords,
        Kind::KeywordsCategoryPrice,
        Kind::KeywordsDeliveryRating,
        Kind::FiltersOnly,
        Kind::Typo,
    ];

    /// How the report names the kind.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Keywords => "keywords only",
            Kind::KeywordsCategoryPrice => "keywords + category + price range",
            Kind::KeywordsDeliveryRating => "keywords + max delivery + min rating",
            Kind::FiltersOnly => "no keywords: category + price range",
            Kind::Typo => "keywords with a one-letter typo",
        }
    }
}

/// One search of the mix.
#[derive(Debug, Clone)]
pub struct BenchQuery {
    pub kind: Kind,
    pub query: SearchQuery,
}

/// `count` searches: the kinds in turn (keywords only twice as often), keywords drawn from
/// the words gigs are written with, sorts drawn from relevance (half), price, rating and
/// newest; facets are always computed.
pub fn queries(count: usize) -> Vec<BenchQuery> {
    let mut rng = StdRng::seed_from_u64(QUERY_SEED);
    let areas = areas();
    let kinds = [
        Kind::Keywords,
        Kind::Keywords,
        Kind::KeywordsCategoryPrice,
        Kind::KeywordsDeliveryRating,
        Kind::FiltersOnly,
        Kind::Typo,
    ];
    (0..count)
        .map(|index| {
            let kind = kinds[index % kinds.len()];
            let area = &areas[rng.gen_range(0..areas.len())];
            let mut words: Vec<String> =
                vec![area.words.choose(&mut rng).cloned().unwrap_or_default()];
            if rng.gen_bool(0.5) {
                words.push(pick(&mut rng, SKILL_WORDS).to_owned());
            }
            if kind == Kind::Typo {
                if let Some(word) = words.iter_mut().find(|word| word.len() >= 5) {
                    *word = with_typo(&mut rng, word);
                } else {
                    let word = pick(
                        &mut rng,
                        &["wordpress", "shopify", "website", "animation", "podcast"],
                    );
                    words = vec![with_typo(&mut rng, word)];
                }
            }
            let sort = match rng.gen_range(0..8) {
                0..=3 => Sort::Relevance,
                4 => Sort::PriceAscending,
                5 => Sort::Rating,
                6 => Sort::Newest,
                _ => Sort::PriceDescending,
            };
            let mut price = || {
                let low = [0_i64, 1_000, 2_500, 5_000][rng.gen_range(0..4)];
                let high = low + [2_500_i64, 5_000, 10_000, 50_000][rng.gen_range(0..4)];
                PriceRange {
                    currency: CURRENCY,
                    min_minor: (low > 0).then_some(low),
                    max_minor: Some(high),
                }
            };
            let mut filters = Filters::default();
            let mut text = words.join(" ");
            match kind {
                Kind::Keywords | Kind::Typo => {}
                Kind::KeywordsCategoryPrice => {
                    filters.category_id = Some(area.category_id.to_owned());
                    filters.price = Some(price());
                }
                Kind::KeywordsDeliveryRating => {
                    filters.max_delivery_days = Some([1_u32, 3, 5, 7, 14][rng.gen_range(0..5)]);
                    filters.min_rating = Some([3.0, 4.0, 4.5][rng.gen_range(0..3)]);
                }
                Kind::FiltersOnly => {
                    text.clear();
                    filters.category_id = Some(area.category_id.to_owned());
                    filters.price = Some(price());
                }
            }
            let sort = if kind == Kind::FiltersOnly && sort == Sort::Relevance {
                Sort::Newest
            } else {
                sort
            };
            BenchQuery {
                kind,
                query: SearchQuery {
                    text,
                    filters,
                    facet_currency: CURRENCY,
                    sort,
                    limit: PAGE_SIZE,
                    after: None,
                },
            }
        })
        .collect()
}

/// `word` with one letter (not the first) replaced by another.
fn with_typo(rng: &mut StdRng, word: &str) -> String {
    let mut letters: Vec<char> = word.chars().collect();
    let position = rng.gen_range(1..letters.len());
    let original = letters[position];
    let mut replacement = original;
    while replacement == original {
        replacement = char::from(b'a' + rng.gen_range(0..26_u8));
    }
    letters[position] = replacement;
    letters.into_iter().collect()
}
