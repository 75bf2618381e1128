# Sourced by the benchmark scripts that start processes and databases of their own.
#
# run_in_group PREFIX SUBCOMMAND [ARGS...] runs `gigmesh-bench SUBCOMMAND` in a process group
# of its own (setsid), so that everything it starts (gigmesh processes, tansu, pgbench) is in
# that group, and its databases named PREFIX_*. On any exit, Ctrl-C or TERM the trap kills that
# one group (by its id) and drops the PREFIX_* databases the run may have left behind (a run
# that ends normally has dropped them itself).
# Uses psql for the clean-up; the server is 127.0.0.1:5432 as user postgres unless
# GIGMESH_BENCH_PSQL_ARGS says otherwise (e.g. "-h 127.0.0.1 -p 5433 -U postgres").

run_in_group() {
  local prefix="$1" subcommand="$2"
  shift 2
  BENCH_GROUP=""
  BENCH_PREFIX="$prefix"
  trap bench_clean_up EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  setsid target/release/gigmesh-bench "$subcommand" --database-prefix "$prefix" "$@" &
  BENCH_GROUP=$!
  local status=0
  wait "$BENCH_GROUP" || status=$?
  return "$status"
}

bench_clean_up() {
  local status=$?
  if [[ -n "${BENCH_GROUP:-}" ]] && kill -0 -- "-$BENCH_GROUP" 2>/dev/null; then
    kill -TERM -- "-$BENCH_GROUP" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$BENCH_GROUP" 2>/dev/null || true
  fi
  if [[ -n "${BENCH_PREFIX:-}" ]] && command -v psql >/dev/null; then
    local psql_args=(${GIGMESH_BENCH_PSQL_ARGS:--h 127.0.0.1 -p 5432 -U postgres})
    local leftover
    leftover=$(psql "${psql_args[@]}" -d postgres -Atc \
      "SELECT datname FROM pg_database WHERE datname LIKE '${BENCH_PREFIX}\_%'" 2>/dev/null || true)
    for database in $leftover; do
      psql "${psql_args[@]}" -d postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" \
        >/dev/null 2>&1 || true
    done
  fi
  exit "$status"
}
