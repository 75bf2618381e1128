//! The search benchmark: the tantivy adapter of the search service against PostgreSQL
//! full-text search on the same generated gigs and the same mix of searches.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gigmesh_search::{Filters, GigDocument, SearchIndex as _, SearchQuery, Sort, TantivyIndex};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{
    Connection as _, Executor as _, PgConnection, PgPool, Postgres, QueryBuilder, Row as _,
};
use tokio::task::JoinSet;

use crate::report::Machine;
use crate::search_corpus::{self, BenchQuery, CURRENCY, Kind};
use crate::stats::{Latencies, Summary};

/// Upper bounds of the price facet buckets, as the search service counts them.
const PRICE_BOUNDS: [i64; 4] = [2_500, 5_000, 10_000, 25_000];
/// Upper bounds of the delivery facet buckets, as the search service counts them.
const DELIVERY_BOUNDS: [i64; 3] = [2, 4, 8];

/// How the benchmark is run.
pub struct SearchSettings {
    pub documents: usize,
    pub queries: usize,
    pub warmup: usize,
    pub workers: usize,
    pub postgres_url: String,
    pub postgres_jit: bool,
}

/// What one engine did with the mix.
struct EngineRun {
    name: &'static str,
    load: Duration,
    index_build: Duration,
    size_bytes: u64,
    sequential: Latencies,
    per_kind: Vec<(Kind, Latencies, u64)>,
    concurrent: Latencies,
    concurrent_wall: Duration,
}

/// The answer of one search, reduced to what is compared.
struct Answer {
    total: u64,
}

/// Runs the benchmark and returns the Markdown report.
pub async fn run(settings: &SearchSettings) -> anyhow::Result<String> {
    let machine_before = Machine::read();
    eprintln!(
        "generating {} gigs and {} searches",
        settings.documents, settings.queries
    );
    let documents = search_corpus::documents(settings.documents);
    let queries = search_corpus::queries(settings.queries);

    let tantivy = run_tantivy(settings, &documents, &queries).await?;
    let postgres = run_postgres(settings, &documents, &queries).await?;
    let machine_after = Machine::read();
    Ok(render(
        settings,
        &machine_before,
        &machine_after,
        &[tantivy, postgres],
    ))
}

async fn run_tantivy(
    settings: &SearchSettings,
    documents: &[GigDocument],
    queries: &[BenchQuery],
) -> anyhow::Result<EngineRun> {
    let directory = tempfile::tempdir().context("create a temporary directory")?;
    let index_directory = directory.path().join("index");
    eprintln!("tantivy: indexing {} gigs", documents.len());
    let started = Instant::now();
    let index = TantivyIndex::open(&index_directory)?;
    index.replace_all(documents.to_vec()).await?;
    let index_build = started.elapsed();
    anyhow::ensure!(
        index.count().await? == documents.len() as u64,
        "the index does not hold every gig"
    );
    let size_bytes = directory_size(&index_directory);

    let search = |index: TantivyIndex, query: SearchQuery| async move {
        let results = index.search(&query).await?;
        Ok::<_, anyhow::Error>(Answer {
            total: results.total,
        })
    };
    eprintln!(
        "tantivy: {} warm-up + {} searches one at a time",
        settings.warmup,
        queries.len()
    );
    for bench_query in queries.iter().cycle().take(settings.warmup) {
        search(index.clone(), bench_query.query.clone()).await?;
    }
    let (sequential, per_kind) = {
        let mut sequential = Latencies::with_capacity(queries.len());
        let mut per_kind = kind_slots(queries.len());
        for bench_query in queries {
            let started = Instant::now();
            let answer = search(index.clone(), bench_query.query.clone()).await?;
            let elapsed = started.elapsed();
            sequential.record(elapsed);
            record_kind(&mut per_kind, bench_query.kind, elapsed, answer.total);
        }
        (sequential, per_kind)
    };
    eprintln!(
        "tantivy: {} searches, {} workers",
        queries.len(),
        settings.workers
    );
    let shared = Arc::new(queries.to_vec());
    let (concurrent, concurrent_wall) = concurrently(settings.workers, &shared, {
        let index = index.clone();
        move |query| search(index.clone(), query)
    })
    .await?;
    drop(index);
    Ok(EngineRun {
        name: "tantivy (search service adapter)",
        load: Duration::ZERO,
        index_build,
        size_bytes,
        sequential,
        per_kind,
        concurrent,
        concurrent_wall,
    })
}

fn kind_slots(capacity: usize) -> Vec<(Kind, Latencies, u64)> {
    Kind::ALL
        .iter()
        .map(|kind| (*kind, Latencies::with_capacity(capacity), 0))
        .collect()
}

fn record_kind(slots: &mut [(Kind, Latencies, u64)], kind: Kind, elapsed: Duration, total: u64) {
    if let Some(slot) = slots.iter_mut().find(|slot| slot.0 == kind) {
        slot.1.record(elapsed);
        slot.2 += total;
    }
}

/// Runs every query of `queries` once with `workers` searches in flight (each worker takes
/// the next query as soon as its previous one is answered); returns the latencies and the
/// wall-clock time of the whole run.
async fn concurrently<F, Fut>(
    workers: usize,
    queries: &Arc<Vec<BenchQuery>>,
    search: F,
) -> anyhow::Result<(Latencies, Duration)>
where
    F: Fn(SearchQuery) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Answer>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for _ in 0..workers {
        let next = next.clone();
        let queries = queries.clone();
        let search = search.clone();
        tasks.spawn(async move {
            let mut latencies = Latencies::with_capacity(queries.len());
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(bench_query) = queries.get(index) else {
                    break;
                };
                let begun = Instant::now();
                search(bench_query.query.clone()).await?;
                latencies.record(begun.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        });
    }
    let mut all = Latencies::with_capacity(queries.len());
    while let Some(outcome) = tasks.join_next().await {
        all.extend(outcome.context("a search worker panicked")??);
    }
    Ok((all, started.elapsed()))
}

fn directory_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or_default()
}

/// The column list of the table, in COPY order.
const COLUMNS: &str = "gig_id, slug, title, description, category_id, subcategory_id, tags, \
     tags_text, starting_price_minor, currency, delivery_days, rating, rating_count, cover_url, \
     seller_id, seller_name, seller_country, seller_languages, publish_time_millis";

/// The columns a hit is read from.
const HIT_COLUMNS: &str = "gig_id::text AS gig_id, slug, title, description, category_id, \
     subcategory_id, tags, starting_price_minor, currency, delivery_days, rating, rating_count, \
     cover_url, seller_id, seller_name, seller_country, seller_languages, publish_time_millis";

const CREATE_TABLE: &str = "CREATE TABLE gigs (
    gig_id uuid NOT NULL,
    slug text NOT NULL,
    title text NOT NULL,
    description text NOT NULL,
    category_id text NOT NULL,
    subcategory_id text NOT NULL,
    tags text[] NOT NULL,
    tags_text text NOT NULL,
    starting_price_minor bigint NOT NULL,
    currency text NOT NULL,
    delivery_days integer NOT NULL,
    rating double precision NOT NULL,
    rating_count integer NOT NULL,
    cover_url text NOT NULL,
    seller_id text NOT NULL,
    seller_name text NOT NULL,
    seller_country text NOT NULL,
    seller_languages text[] NOT NULL,
    publish_time_millis bigint NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A')
        || setweight(to_tsvector('english', tags_text), 'B')
        || setweight(to_tsvector('english', description || ' ' || seller_name), 'C')
    ) STORED
)";

/// Indexes built after the load, as for any bulk load.
const CREATE_INDEXES: &[&str] = &[
    "ALTER TABLE gigs ADD PRIMARY KEY (gig_id)",
    "CREATE INDEX gigs_tsv ON gigs USING gin (tsv)",
    "CREATE INDEX gigs_category_price ON gigs (category_id, starting_price_minor)",
    "CREATE INDEX gigs_price ON gigs (starting_price_minor)",
    "CREATE INDEX gigs_delivery ON gigs (delivery_days)",
    "CREATE INDEX gigs_rating ON gigs (rating)",
    "CREATE INDEX gigs_publish_time ON gigs (publish_time_millis)",
    "ANALYZE gigs",
];

async fn run_postgres(
    settings: &SearchSettings,
    documents: &[GigDocument],
    queries: &[BenchQuery],
) -> anyhow::Result<EngineRun> {
    let admin_options: PgConnectOptions = settings
        .postgres_url
        .parse()
        .context("the PostgreSQL URL is not valid")?;
    let mut admin = PgConnection::connect_with(&admin_options)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", settings.postgres_url))?;
    let database = format!("gm_bench_{:016x}", rand::random::<u64>());
    admin
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await
        .context("create the benchmark database")?;
    eprintln!("postgres: created database {database}");
    let outcome = async {
        if !settings.postgres_jit {
            // Searches are short; JIT compilation only pays off for long analytical queries.
            admin
                .execute(format!("ALTER DATABASE {database} SET jit = off").as_str())
                .await
                .context("turn JIT off in the benchmark database")?;
        }
        postgres_in(
            settings,
            &admin_options.clone().database(&database),
            documents,
            queries,
        )
        .await
    }
    .await;
    let dropped = admin
        .execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str())
        .await;
    admin.close().await.ok();
    let run = outcome?;
    dropped.context("drop the benchmark database")?;
    eprintln!("postgres: dropped database {database}");
    Ok(run)
}

async fn postgres_in(
    settings: &SearchSettings,
    options: &PgConnectOptions,
    documents: &[GigDocument],
    queries: &[BenchQuery],
) -> anyhow::Result<EngineRun> {
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(settings.workers).unwrap_or(2).max(1))
        .connect_with(options.clone())
        .await
        .context("connect to the benchmark database")?;
    eprintln!("postgres: loading {} gigs", documents.len());
    let started = Instant::now();
    let mut connection = pool.acquire().await?;
    connection
        .execute(CREATE_TABLE)
        .await
        .context("create the table")?;
    let mut copy = connection
        .copy_in_raw(&format!("COPY gigs ({COLUMNS}) FROM STDIN"))
        .await
        .context("start COPY")?;
    let mut batch = String::with_capacity(1 << 20);
    for document in documents {
        copy_line(&mut batch, document);
        if batch.len() > 1 << 20 {
            copy.send(std::mem::take(&mut batch).into_bytes()).await?;
        }
    }
    if !batch.is_empty() {
        copy.send(batch.into_bytes()).await?;
    }
    copy.finish().await.context("finish COPY")?;
    let load = started.elapsed();
    eprintln!("postgres: building indexes");
    let started = Instant::now();
    for statement in CREATE_INDEXES {
        connection
            .execute(*statement)
            .await
            .with_context(|| format!("run {statement}"))?;
    }
    let index_build = started.elapsed();
    let size: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('gigs')")
        .fetch_one(&mut *connection)
        .await?;
    drop(connection);

    let search = |pool: PgPool, query: SearchQuery| async move { pg_search(&pool, &query).await };
    eprintln!(
        "postgres: {} warm-up + {} searches one at a time",
        settings.warmup,
        queries.len()
    );
    for bench_query in queries.iter().cycle().take(settings.warmup) {
        search(pool.clone(), bench_query.query.clone()).await?;
    }
    let mut sequential = Latencies::with_capacity(queries.len());
    let mut per_kind = kind_slots(queries.len());
    for bench_query in queries {
        let started = Instant::now();
        let answer = search(pool.clone(), bench_query.query.clone()).await?;
        let elapsed = started.elapsed();
        sequential.record(elapsed);
        record_kind(&mut per_kind, bench_query.kind, elapsed, answer.total);
    }
    eprintln!(
        "postgres: {} searches, {} workers",
        queries.len(),
        settings.workers
    );
    let shared = Arc::new(queries.to_vec());
    let (concurrent, concurrent_wall) = concurrently(settings.workers, &shared, {
        let pool = pool.clone();
        move |query| search(pool.clone(), query)
    })
    .await?;
    pool.close().await;
    Ok(EngineRun {
        name: "PostgreSQL 15 full-text search",
        load,
        index_build,
        size_bytes: u64::try_from(size).unwrap_or_default(),
        sequential,
        per_kind,
        concurrent,
        concurrent_wall,
    })
}

/// Appends `document` as one line of COPY's text format.
fn copy_line(out: &mut String, document: &GigDocument) {
    let fields = [
        document.gig_id.to_string(),
        document.slug.clone(),
        document.title.clone(),
        document.description.clone(),
        document.category_id.clone(),
        document.subcategory_id.clone(),
        array_literal(&document.tags),
        document.tags.join(" "),
        document.starting_price_minor.to_string(),
        document.currency.clone(),
        document.delivery_days.to_string(),
        document.rating.to_string(),
        document.rating_count.to_string(),
        document.cover_url.clone(),
        document.seller_id.clone(),
        document.seller_name.clone(),
        document.seller_country.clone(),
        array_literal(&document.seller_languages),
        document.publish_time_millis.to_string(),
    ];
    for (position, field) in fields.iter().enumerate() {
        if position > 0 {
            out.push('\t');
        }
        for c in field.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                other => out.push(other),
            }
        }
    }
    out.push('\n');
}

/// A PostgreSQL array literal of `values`, every element quoted.
fn array_literal(values: &[String]) -> String {
    let elements: Vec<String> = values
        .iter()
        .map(|value| format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", elements.join(","))
}

/// Appends the conditions of `text` and `filters` (the category only `with_category`).
fn push_conditions(
    builder: &mut QueryBuilder<'_, Postgres>,
    text: &str,
    filters: &Filters,
    with_category: bool,
) {
    builder.push(" WHERE true");
    if !text.trim().is_empty() {
        builder
            .push(" AND tsv @@ websearch_to_tsquery('english', ")
            .push_bind(text.to_owned())
            .push(")");
    }
    if with_category && let Some(category) = &filters.category_id {
        builder
            .push(" AND category_id = ")
            .push_bind(category.clone());
    }
    if let Some(subcategory) = &filters.subcategory_id {
        builder
            .push(" AND subcategory_id = ")
            .push_bind(subcategory.clone());
    }
    if let Some(price) = &filters.price {
        builder
            .push(" AND currency = ")
            .push_bind(price.currency.code());
        if let Some(min) = price.min_minor {
            builder.push(" AND starting_price_minor >= ").push_bind(min);
        }
        if let Some(max) = price.max_minor {
            builder.push(" AND starting_price_minor <= ").push_bind(max);
        }
    }
    if let Some(days) = filters.max_delivery_days {
        builder
            .push(" AND delivery_days <= ")
            .push_bind(i32::try_from(days).unwrap_or(i32::MAX));
    }
    if let Some(rating) = filters.min_rating {
        builder.push(" AND rating >= ").push_bind(rating);
    }
    if !filters.seller_countries.is_empty() {
        builder
            .push(" AND seller_country = ANY(")
            .push_bind(filters.seller_countries.clone())
            .push(")");
    }
    if !filters.seller_languages.is_empty() {
        builder
            .push(" AND seller_languages && ")
            .push_bind(filters.seller_languages.clone());
    }
}

/// What the search service answers, from PostgreSQL: the page of hits in order (decoded into
/// documents), then in a second statement the total and the facets over every match
/// (categories ignoring the category filter, price buckets in the facet currency, delivery
/// buckets), in one scan grouped by category.
async fn pg_search(pool: &PgPool, query: &SearchQuery) -> anyhow::Result<Answer> {
    let has_text = !query.text.trim().is_empty();
    let mut hits = QueryBuilder::<Postgres>::new(format!("SELECT {HIT_COLUMNS} FROM gigs"));
    push_conditions(&mut hits, &query.text, &query.filters, true);
    hits.push(" ORDER BY ");
    match query.sort {
        Sort::Relevance if has_text => {
            hits.push("ts_rank_cd(tsv, websearch_to_tsquery('english', ")
                .push_bind(query.text.clone())
                .push(")) DESC");
        }
        Sort::Relevance | Sort::Newest => {
            hits.push("publish_time_millis DESC");
        }
        Sort::PriceAscending => {
            hits.push("starting_price_minor ASC");
        }
        Sort::PriceDescending => {
            hits.push("starting_price_minor DESC");
        }
        Sort::Rating => {
            hits.push("rating DESC");
        }
    }
    hits.push(", gig_id ASC LIMIT ")
        .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
    let rows = hits
        .build()
        .fetch_all(pool)
        .await
        .context("search PostgreSQL")?;
    let mut documents = Vec::with_capacity(rows.len());
    for row in rows {
        let gig_id: String = row.try_get("gig_id")?;
        documents.push(GigDocument {
            gig_id: gig_id.parse()?,
            slug: row.try_get("slug")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            category_id: row.try_get("category_id")?,
            subcategory_id: row.try_get("subcategory_id")?,
            tags: row.try_get("tags")?,
            starting_price_minor: row.try_get("starting_price_minor")?,
            currency: row.try_get("currency")?,
            delivery_days: u32::try_from(row.try_get::<i32, _>("delivery_days")?)?,
            rating: row.try_get("rating")?,
            rating_count: row.try_get("rating_count")?,
            cover_url: row.try_get("cover_url")?,
            seller_id: row.try_get("seller_id")?,
            seller_name: row.try_get("seller_name")?,
            seller_country: row.try_get("seller_country")?,
            seller_languages: row.try_get("seller_languages")?,
            publish_time_millis: row.try_get("publish_time_millis")?,
        });
    }

    let mut facets = QueryBuilder::<Postgres>::new("SELECT category_id, count(*) AS in_category");
    let push_in_category =
        |builder: &mut QueryBuilder<'_, Postgres>| match &query.filters.category_id {
            Some(category) => {
                builder.push("category_id = ").push_bind(category.clone());
            }
            None => {
                builder.push("true");
            }
        };
    facets.push(", count(*) FILTER (WHERE ");
    push_in_category(&mut facets);
    facets.push(") AS total");
    for (index, _) in PRICE_BOUNDS
        .iter()
        .enumerate()
        .chain([(PRICE_BOUNDS.len(), &0)])
    {
        facets.push(", count(*) FILTER (WHERE ");
        push_in_category(&mut facets);
        facets
            .push(" AND currency = ")
            .push_bind(query.facet_currency.code());
        if let Some(from) = index.checked_sub(1).map(|previous| PRICE_BOUNDS[previous]) {
            facets.push(" AND starting_price_minor >= ").push_bind(from);
        }
        if let Some(to) = PRICE_BOUNDS.get(index) {
            facets.push(" AND starting_price_minor < ").push_bind(*to);
        }
        facets.push(format!(") AS price_{index}"));
    }
    for (index, _) in DELIVERY_BOUNDS
        .iter()
        .enumerate()
        .chain([(DELIVERY_BOUNDS.len(), &0)])
    {
        facets.push(", count(*) FILTER (WHERE ");
        push_in_category(&mut facets);
        if let Some(from) = index
            .checked_sub(1)
            .map(|previous| DELIVERY_BOUNDS[previous])
        {
            facets
                .push(" AND delivery_days >= ")
                .push_bind(i32::try_from(from).unwrap_or_default());
        }
        if let Some(to) = DELIVERY_BOUNDS.get(index) {
            facets
                .push(" AND delivery_days < ")
                .push_bind(i32::try_from(*to).unwrap_or_default());
        }
        facets.push(format!(") AS delivery_{index}"));
    }
    facets.push(" FROM gigs");
    push_conditions(&mut facets, &query.text, &query.filters, false);
    facets.push(" GROUP BY category_id");
    let rows = facets
        .build()
        .fetch_all(pool)
        .await
        .context("count facets in PostgreSQL")?;
    let mut total = 0_u64;
    let mut categories: Vec<(String, i64)> = Vec::with_capacity(rows.len());
    let mut price_counts = [0_i64; PRICE_BOUNDS.len() + 1];
    let mut delivery_counts = [0_i64; DELIVERY_BOUNDS.len() + 1];
    for row in rows {
        categories.push((row.try_get("category_id")?, row.try_get("in_category")?));
        total += u64::try_from(row.try_get::<i64, _>("total")?).unwrap_or_default();
        for (index, count) in price_counts.iter_mut().enumerate() {
            *count += row.try_get::<i64, _>(format!("price_{index}").as_str())?;
        }
        for (index, count) in delivery_counts.iter_mut().enumerate() {
            *count += row.try_get::<i64, _>(format!("delivery_{index}").as_str())?;
        }
    }
    categories.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    std::hint::black_box((&documents, &categories, &price_counts, &delivery_counts));
    Ok(Answer { total })
}

fn render(
    settings: &SearchSettings,
    before: &Machine,
    after: &Machine,
    runs: &[EngineRun],
) -> String {
    let mut report = String::new();
    let _ = writeln!(report, "### Machine and settings\n");
    let _ = writeln!(
        report,
        "- CPU: {} ({} logical CPUs); load average {} before, {} after",
        before.cpu_model, before.logical_cpus, before.load_average, after.load_average
    );
    let _ = writeln!(
        report,
        "- {} generated gigs; {} searches in a fixed mix ({} untimed first); {} workers for throughput; {} hits per page, facets always counted; prices in {CURRENCY}; PostgreSQL JIT {}\n",
        settings.documents,
        settings.queries,
        settings.warmup,
        settings.workers,
        search_corpus::PAGE_SIZE,
        if settings.postgres_jit { "on" } else { "off" }
    );
    let _ = writeln!(report, "**Building the index**\n");
    let _ = writeln!(
        report,
        "| engine | load | index build | total | size on disk |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|");
    for run in runs {
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {:.0} MiB |",
            run.name,
            seconds(run.load),
            seconds(run.index_build),
            seconds(run.load + run.index_build),
            run.size_bytes as f64 / (1024.0 * 1024.0)
        );
    }
    let _ = writeln!(report, "\n**Searches one at a time (ms)**\n");
    let _ = writeln!(
        report,
        "| engine | searches | p50 | p90 | p99 | max | mean |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|---:|");
    for run in runs {
        let summary = run.sequential.summary();
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {} | {} | {} |",
            run.name,
            summary.count,
            ms(summary.p50),
            ms(summary.p90),
            ms(summary.p99),
            ms(summary.max),
            ms(summary.mean)
        );
    }
    let _ = writeln!(
        report,
        "\n**By kind of search, one at a time (ms; matches = mean number of matching gigs)**\n"
    );
    let mut header = String::from("| kind |");
    let mut rule = String::from("|---|");
    for run in runs {
        let _ = write!(header, " {} p50 | p99 | matches |", short_name(run.name));
        rule.push_str("---:|---:|---:|");
    }
    let _ = writeln!(report, "{header}\n{rule}");
    for kind in Kind::ALL {
        let mut row = format!("| {} |", kind.label());
        for run in runs {
            if let Some((_, latencies, total)) = run.per_kind.iter().find(|slot| slot.0 == kind) {
                let summary: Summary = latencies.summary();
                let matches = if summary.count == 0 {
                    0
                } else {
                    *total / summary.count as u64
                };
                let _ = write!(
                    row,
                    " {} | {} | {} |",
                    ms(summary.p50),
                    ms(summary.p99),
                    matches
                );
            }
        }
        let _ = writeln!(report, "{row}");
    }
    let _ = writeln!(
        report,
        "\n**Throughput, {} searches in flight (ms)**\n",
        settings.workers
    );
    let _ = writeln!(
        report,
        "| engine | searches | searches/s | p50 | p90 | p99 |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|");
    let mut rates = Vec::new();
    for run in runs {
        let summary = run.concurrent.summary();
        let rate = summary.count as f64 / run.concurrent_wall.as_secs_f64().max(f64::EPSILON);
        rates.push(rate);
        let _ = writeln!(
            report,
            "| {} | {} | {:.0} | {} | {} | {} |",
            run.name,
            summary.count,
            rate,
            ms(summary.p50),
            ms(summary.p90),
            ms(summary.p99)
        );
    }
    if let [tantivy, postgres] = rates.as_slice() {
        let sequential_p99 = runs[0].sequential.summary().p99;
        let _ = writeln!(
            report,
            "\nTargets: tantivy p99 one at a time {} ms (target < 20 ms: {}); throughput {:.1}× PostgreSQL's (target ≥ 5×: {}).",
            ms(sequential_p99),
            if sequential_p99 < Duration::from_millis(20) {
                "met"
            } else {
                "missed"
            },
            tantivy / postgres,
            if *tantivy >= 5.0 * postgres {
                "met"
            } else {
                "missed"
            }
        );
    }
    report
}

fn short_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1_000.0)
}

fn seconds(duration: Duration) -> String {
    if duration.is_zero() {
        "—".to_owned()
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}
