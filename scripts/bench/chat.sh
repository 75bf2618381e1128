#!/usr/bin/env bash
# Chat's streams: 5,000 idle StreamEvents streams on one chat process (its resident set and
# CPU), then messages from SendMessage to the recipient's stream at a steady rate, first
# through Kafka between two chat replicas (tansu in memory, `gigmesh serve auth`, `chat` and
# a second `chat` on fresh PostgreSQL databases at 127.0.0.1:5432 named gm_bench_chat_*,
# dropped at the end, and `gigmesh gateway`), then in `gigmesh dev` (one process, SQLite,
# embedded bus, a temporary data directory); all on 127.0.0.1. The report is Markdown on
# stdout; progress goes to stderr. Every process the run starts is in its own process group,
# killed on exit.
# Options (see --help): --streams, --users, --idle-seconds, --rate, --messages, --senders,
# --only-embedded, --only-kafka, --postgres-url, --gigmesh-bin.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/run-in-group.sh
cargo build --quiet --release --bin gigmesh
cargo build --quiet --release -p gigmesh-bench
run_in_group "gm_bench_chat_$(date +%s)_$$" chat "$@"
