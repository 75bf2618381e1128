#!/usr/bin/env bash
# Starts `gigmesh dev` (release build, its own process, a fresh data directory in a temporary
# directory, a free port on 127.0.0.1, nobody scraping its metrics) and sends it 10 minutes of
# mixed traffic through the gateway from 4 clients: sign-ins and refreshes, profile reads and
# updates, gig searches and reads, saving and unsaving gigs. Reads the process's VmRSS from
# /proc every 5 s and reports it after the warm-up (3 minutes), at the end (10 minutes later), and its slope. The
# report is Markdown on stdout; progress goes to stderr.
# Options (see --help): --seconds, --warmup-seconds, --sample-seconds, --workers, --gigmesh-bin.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --release --bin gigmesh
exec cargo run --quiet --release -p gigmesh-bench -- soak "$@"
