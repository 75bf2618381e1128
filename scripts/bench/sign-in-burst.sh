#!/usr/bin/env bash
# Starts `gigmesh serve auth` as its own process (fresh SQLite database and embedded event log
# in a temporary directory, a free port on 127.0.0.1), seeds accounts through its RPCs, then
# fires 500 log-ins and sign-ups at once while timing GetJwks and RefreshToken and sampling
# auth's resident set from /proc/<pid>/status: once with the production hashing bound, once
# with it effectively off. The report is Markdown on stdout; progress goes to stderr.
# Options (see --help): --sign-ins, --accounts, --connections, --idle-seconds,
# --skip-unbounded, --gigmesh-bin.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --release --bin gigmesh
exec cargo run --quiet --release -p gigmesh-bench -- sign-in-burst "$@"
