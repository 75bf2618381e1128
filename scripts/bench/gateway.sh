#!/usr/bin/env bash
# Measures what the gateway adds to a signed-in call (GetMyAccount through the gateway versus
# straight to the auth service) and how long a sign-in takes with the production argon2id
# parameters. Everything runs in one process on 127.0.0.1; the report is Markdown on stdout.
# Options (see --help): --calls, --warmup, --concurrency, --concurrent-calls, --logins.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --quiet --release -p gigmesh-bench -- gateway "$@"
