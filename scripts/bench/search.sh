#!/usr/bin/env bash
# Indexes 100,000 generated gigs with the search service's tantivy adapter and loads them into
# PostgreSQL full-text search (a fresh gm_bench_* database on 127.0.0.1:5432, dropped at the
# end), then times the same mix of keyword, filter and facet searches against both, one at a
# time and two in flight. The report is Markdown on stdout.
# Options (see --help): --documents, --queries, --warmup, --workers, --postgres-url,
# --postgres-jit.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --quiet --release -p gigmesh-bench -- search "$@"
