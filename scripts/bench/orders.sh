#!/usr/bin/env bash
# PlaceOrder throughput and latency through the gateway on PostgreSQL, against pgbench on the
# same server in the same run. Starts tansu (in memory), `gigmesh serve auth`, `orders` and
# `payments` on fresh PostgreSQL databases (127.0.0.1:5432, named gm_bench_<run>_*, dropped at
# the end) and `gigmesh gateway`, all on 127.0.0.1; signs up 200 buyers; then for 8 and 32
# clients places orders for 30 s, waits for the mesh to catch up, and runs `pgbench -N` with the
# same clients and time on a scratch database. The report is Markdown on stdout; progress goes
# to stderr. Every process the run starts is in its own process group, killed on exit.
# Options (see --help): --clients, --seconds, --warmup-seconds, --buyers, --pgbench-scale,
# --postgres-url, --gigmesh-bin.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/run-in-group.sh
cargo build --quiet --release --bin gigmesh
cargo build --quiet --release -p gigmesh-bench
run_in_group "gm_bench_$(date +%s)_$$" orders "$@"
