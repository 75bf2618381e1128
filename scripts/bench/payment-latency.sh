#!/usr/bin/env bash
# The time from a verified payment to its order starting (REQUIREMENTS_PENDING or IN_PROGRESS):
# first in `gigmesh dev` (one process, SQLite, embedded bus, a temporary data directory), then
# in distributed mode (tansu in memory, `gigmesh serve auth`, `orders` and `payments` on fresh
# PostgreSQL databases at 127.0.0.1:5432 named gm_bench_<run>_*, dropped at the end, and
# `gigmesh gateway`), all on 127.0.0.1. Pays 200 orders per mode with the sandbox's test card
# through ConfirmSandboxPayment and polls GetOrder every millisecond. The report is Markdown on
# stdout; progress goes to stderr. Every process the run starts is in its own process group,
# killed on exit.
# Options (see --help): --orders, --in-flight, --only-embedded, --only-kafka, --postgres-url,
# --gigmesh-bin.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/run-in-group.sh
cargo build --quiet --release --bin gigmesh
cargo build --quiet --release -p gigmesh-bench
run_in_group "gm_bench_$(date +%s)_$$" payment-latency "$@"
