#!/usr/bin/env bash
# End-to-end benchmarks of Rampart: the server pinned to one core (taskset
# -c 0), the load generator on the other (taskset -c 1), loopback only,
# every run bounded in time. `make bench-load` runs all sections; name some
# to run only those:
#
#   bench/e2e.sh [ratio] [ws] [profiler] [storm] [half] [players] [memory] [restart]
#
#   ratio     ping through the whole stack vs GET /healthz (issues 8, 18)
#   ws        single-action messages per server core, WebSocket vs HTTP (issue 6)
#   profiler  the profiler on vs off: two servers on core 0, alternating slices (issue 4)
#   storm     10,000 players signing in at once, new and then existing (issues 8, 18)
#   half      latency at 50% of saturation throughput (issues 8, 18)
#   players   online players one core sustains, stepped up (issues 8, 18)
#   memory    server memory per idle player, 10,000 WebSockets and 10,000 without (issues 6, 2, 18)
#   restart   N players online and playing, kill -9, restart on the same data
#             dir, time until all N are signed in again and playing (issue 18)
#
# Topology (BENCH_TOPOLOGY):
#   production  what a studio deploys, and how every issue-18 figure is taken
#               (`make bench-load` sets it): the server alone on core 0 with
#               its journal on a real disk; S3 = bin/versitygw and MongoDB =
#               bin/ferretdb on a throwaway PostgreSQL cluster, both out of
#               the server's process on core 1 beside the generator. Needs
#               bin/versitygw, bin/ferretdb (make test-deps) and Debian's
#               postgresql (/usr/lib/postgresql/*/bin).
#   embedded    `rampart serve` with its defaults: embedded S3 and FerretDB
#               in the server's own process; data on /dev/shm (the
#               2026-11 records). BENCH_S3 and BENCH_MONGO vary it.
#
# Environment (defaults in brackets):
#   BIN            where rampart, benchq, versitygw and ferretdb are [./bin]
#   BENCH_TOPOLOGY production or embedded [embedded; make bench-load: production]
#   BENCH_OUT      results directory [$TMPDIR/rampart-bench-<time>]
#   BENCH_DATA     parent of the servers' and stores' data dirs [production:
#                  /var/tmp, which must not be tmpfs; embedded: /dev/shm if
#                  writable, else $TMPDIR]
#   BENCH_PORT     server port [18180]; S3 +1, second server +2, PostgreSQL
#                  +3, FerretDB +4
#   BENCH_REPEAT   runs per A/B figure, medians reported [3]
#   BENCH_HALF     measured length of the half-load run [60s; 300s is the 5-minute figure]
#   BENCH_PLAYERS  player steps ["5000 10000 20000 30000 40000 60000"]
#   BENCH_ALL_STEPS=1   keep stepping after the first failing step
#   BENCH_TRANSPORT=ws  players steps on a WebSocket per player, as the
#                  browser client plays [http: 256 pooled keep-alive connections]
#   BENCH_LOGIN_RATE    sign-ins per second during ramp-up [production: 300; embedded: 500]
#   BENCH_SETTLE   seconds from the end of a players step's ramp to its window [production: 30; embedded: 15]
#   BENCH_WINDOW   measured steady state per player step, seconds [75]
#   BENCH_STORM    players of the sign-in storm [10000]
#   BENCH_STORM_DURATION  length of each storm run [production: 120s; embedded: 15s]
#   BENCH_RESTART_RUN  seconds the devices play after the restart [120]
#   BENCH_MEM_PLAYERS   players of the memory runs [10000]
#   BENCH_RESTART_PLAYERS  players online at the kill [20000]
#   BENCH_RESTART_PLAY     seconds they play, all online, before the kill [60]
#   BENCH_PROFILE  1: a 20-s CPU profile of the server in the measured part
#                  of every players step, the storm and the restart, with
#                  /metrics before and after it and a CPU split by cost
#                  (<name>.pprof, <name>.top.txt, <name>.split.txt)
#                  [production: 1; embedded: off]
#   BENCH_CLOSED_CONNS  exchanges in flight in the closed-loop runs (ratio,
#                  ws, profiler; twice as many for half's saturation)
#                  [production: 256; embedded: 32]; the A/B runs (ratio,
#                  ws, profiler) play 8,192 players over them (loadtest's
#                  --players-per-conn default), so none outruns its budget
#   BENCH_STORE_DATA    parent of the stores' data dirs [BENCH_DATA]
#   BENCH_S3_PROCS      GOMAXPROCS of versitygw (an A/B; empty: Go's default,
#                  one P on its one core)
#   BENCH_PG_FSYNC=off  PostgreSQL without fsync (production runs it with
#                  fsync on, as a studio does)
#   BENCH_SERVE_FLAGS   extra flags for every server (e.g. "--autosave 2m")
#   BENCH_S3=versitygw  (embedded topology) S3 out of process: bin/versitygw
#                       on core 1 beside the generator
#   BENCH_MONGO=off|URI (embedded topology, A/B only) no MongoDB, or another
#
# Each run leaves <name>.json (the loadtest report), <name>.err (progress)
# and <name>.server.log in BENCH_OUT; summary.md collects the figures,
# each table headed by the topology it was taken on.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/bin}
RAMPART=$BIN/rampart
Q=$BIN/benchq
PORT=${BENCH_PORT:-18180}
TARGET=http://127.0.0.1:$PORT
S3_PORT=$((PORT + 1))
PG_PORT=$((PORT + 3))
FDB_PORT=$((PORT + 4))
REPEAT=${BENCH_REPEAT:-3}
HALF=${BENCH_HALF:-60s}
STEPS=${BENCH_PLAYERS:-5000 10000 20000 30000 40000 60000}
LOGIN_RATE=${BENCH_LOGIN_RATE:-}
SETTLE=${BENCH_SETTLE:-}
WINDOW=${BENCH_WINDOW:-75}
STORM=${BENCH_STORM:-10000}
STORM_DURATION=${BENCH_STORM_DURATION:-}
MEM_PLAYERS=${BENCH_MEM_PLAYERS:-10000}
RESTART_PLAYERS=${BENCH_RESTART_PLAYERS:-20000}
RESTART_PLAY=${BENCH_RESTART_PLAY:-60}
RESTART_RUN=${BENCH_RESTART_RUN:-120}
TOPOLOGY=${BENCH_TOPOLOGY:-embedded}
# Closed-loop runs (ratio, ws, half's saturation) keep this many exchanges
# in flight. Every action's reply waits for its journal group commit; on a
# real disk that is an fdatasync, so 32 or 64 in flight measure the disk's
# latency rather than the server's core: the production topology keeps 256
# in flight, enough for the server to fill its core.
CLOSED_CONNS=${BENCH_CLOSED_CONNS:-}
TMP=${TMPDIR:-/tmp}
OUT=${BENCH_OUT:-$TMP/rampart-bench-$(date +%Y%m%d-%H%M%S)}
SUMMARY=$OUT/summary.md
SPID=
SDATA=
S3PID=
S3DATA=
FDBPID=
FDBDATA=
PGPID=
PGDIR=
PG_BIN=
STORES_N=0
SECOND_PID=
SECOND_DATA=
read -r -a SERVE_FLAGS <<<"${BENCH_SERVE_FLAGS:-}"
# The generator is one address playing thousands of players: the
# per-address and per-player budgets (README, Accounts) are opened.
OPEN_BUDGETS=(--signin-rate 0 --max-conns-per-ip 0 --rate-limit 1000 --rate-burst 2000)

die() { echo "bench: $*" >&2; exit 1; }

# MONGO: the server's --mongo-uri flags; S3_MODE: embedded or versitygw.
MONGO=()
S3_MODE=embedded
case $TOPOLOGY in
production)
	# Everything a studio runs: stores out of process, the journal on a
	# disk. No A/B knobs here: an A/B is taken on the embedded topology.
	[[ -z ${BENCH_MONGO:-} ]] || die "BENCH_MONGO is for the embedded topology; production runs FerretDB on PostgreSQL"
	S3_MODE=versitygw
	MONGO_MODE=ferretdb-postgresql
	PROFILE=${BENCH_PROFILE:-1}
	CLOSED_CONNS=${CLOSED_CONNS:-256}
	# Device sign-ins through stores on the generator's core take longer
	# than the embedded path's 15 s: a run shorter than the storm never
	# sees everyone online.
	STORM_DURATION=${STORM_DURATION:-120s}
	# A device sign-in makes five to seven S3 round trips to a versitygw
	# that shares core 1 with the generator: ramps go slower, and the
	# window opens 30 s after the ramp rather than 15.
	LOGIN_RATE=${LOGIN_RATE:-300}
	SETTLE=${SETTLE:-30}
	BENCH_DATA=${BENCH_DATA:-/var/tmp}
	[[ $(stat -f -c %T "$BENCH_DATA" 2>/dev/null) != tmpfs ]] ||
		die "BENCH_DATA=$BENCH_DATA is tmpfs: the production topology keeps the journal on a real disk"
	;;
embedded)
	[[ ${BENCH_S3:-} == versitygw ]] && S3_MODE=versitygw
	PROFILE=${BENCH_PROFILE:-}
	CLOSED_CONNS=${CLOSED_CONNS:-32}
	STORM_DURATION=${STORM_DURATION:-15s}
	LOGIN_RATE=${LOGIN_RATE:-500}
	SETTLE=${SETTLE:-15}
	if [[ -z ${BENCH_DATA:-} ]]; then
		if [[ -d /dev/shm && -w /dev/shm ]]; then BENCH_DATA=/dev/shm; else BENCH_DATA=$TMP; fi
	fi
	# BENCH_MONGO=off (an A/B only) runs without MongoDB, and the summary
	# says so.
	MONGO_MODE=embedded
	if [[ ${BENCH_MONGO:-} == off ]]; then
		MONGO=(--mongo-uri off)
		MONGO_MODE=off
	elif [[ -n ${BENCH_MONGO:-} ]]; then
		MONGO=(--mongo-uri "$BENCH_MONGO")
		MONGO_MODE="at $BENCH_MONGO"
	fi
	;;
*) die "BENCH_TOPOLOGY=$TOPOLOGY: want production or embedded" ;;
esac
# The stores' data (versitygw's objects, PostgreSQL's cluster): beside the
# server's by default; BENCH_STORE_DATA=/dev/shm takes their disk out of an
# A/B.
STORE_DATA=${BENCH_STORE_DATA:-$BENCH_DATA}
DATA_FS=$(df -P "$BENCH_DATA" 2>/dev/null | awk 'NR==2{print $1}')
DATA_FS_TYPE=$(df -PT "$BENCH_DATA" 2>/dev/null | awk 'NR==2{print $2}')
case $TOPOLOGY in
production)
	TOPO_LABEL="production topology: server alone on core 0, journal on $DATA_FS_TYPE ($BENCH_DATA, $DATA_FS); versitygw S3 + FerretDB on PostgreSQL out of process on core 1 with the generator; device sign-in"
	;;
*)
	TOPO_LABEL="embedded topology: server on core 0 with data on $BENCH_DATA ($DATA_FS_TYPE)"
	if [[ $S3_MODE == versitygw ]]; then TOPO_LABEL+=", versitygw S3 on core 1"; else TOPO_LABEL+=", embedded S3 in the server's process"; fi
	case $MONGO_MODE in
	embedded) TOPO_LABEL+=", embedded FerretDB (SQLite) in the server's process" ;;
	off) TOPO_LABEL+=", MONGODB OFF (A/B only)" ;;
	*) TOPO_LABEL+=", MongoDB $MONGO_MODE" ;;
	esac
	TOPO_LABEL+="; device sign-in"
	;;
esac

[[ -x $RAMPART ]] || die "$RAMPART missing: make build"
[[ -x $Q ]] || die "$Q missing: make bench-load builds it"
command -v taskset >/dev/null || die "taskset missing (util-linux)"
(($(nproc) >= 2)) || die "needs 2 cores: server on core 0, generator on core 1"
if [[ $S3_MODE == versitygw ]]; then
	[[ -x $BIN/versitygw ]] || die "$BIN/versitygw missing: make test-deps"
fi
if [[ $MONGO_MODE == ferretdb-postgresql ]]; then
	[[ -x $BIN/ferretdb ]] || die "$BIN/ferretdb missing: make test-deps (or make ferretdb)"
	PG_BIN=${BENCH_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
	[[ -x $PG_BIN/initdb && -x $PG_BIN/postgres ]] || die "PostgreSQL missing (make test-deps installs Debian's postgresql)"
fi
mkdir -p "$OUT"

say() { echo "$*" | tee -a "$SUMMARY"; }
# columns "| a | b |": a table's header row and the separator under it,
# one cell per column of the header.
columns() {
	local bars=${1//[^|]/}
	bars=${bars:1}
	say "$1"
	say "|${bars//|/---|}"
}
# heading TEXT: a section's title, then the topology it is measured on.
heading() {
	say ""
	say "## $*"
	say "_${TOPO_LABEL}_"
	say ""
}

# wait_port PORT PID WHAT LOG: until something listens on PORT (or PID exits).
wait_port() {
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	cat "$4" >&2
	die "$3 did not start (see $4)"
}

# AS_PG: PostgreSQL refuses to run as root; root runs it as the postgres
# user. setpriv execs, as taskset does, so $! of a backgrounded command is
# the server itself.
AS_PG=()
(($(id -u) == 0)) && AS_PG=(setpriv --reuid=postgres --regid=postgres --clear-groups --)

# start_pg: one throwaway PostgreSQL cluster on core 1 for the whole run;
# each server gets a database of its own in it (start_stores).
start_pg() {
	[[ -n $PGPID ]] && return 0
	PGDIR=$(mktemp -d "$STORE_DATA/rampart-bench-pg.XXXXXX")
	(($(id -u) == 0)) && chown postgres: "$PGDIR"
	"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGDIR/data" -A trust -U postgres -E UTF8 --locale=C >"$OUT/postgres.initdb.log" 2>&1 ||
		die "initdb failed (see $OUT/postgres.initdb.log)"
	local sync=()
	[[ ${BENCH_PG_FSYNC:-} == off ]] && sync=(-F -c synchronous_commit=off)
	"${AS_PG[@]}" taskset -c 1 "$PG_BIN/postgres" -D "$PGDIR/data" -k "$PGDIR" -h 127.0.0.1 -p "$PG_PORT" \
		-c max_connections=200 "${sync[@]}" >"$OUT/postgres.log" 2>&1 &
	PGPID=$!
	for _ in $(seq 300); do
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres && return 0
		kill -0 "$PGPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$OUT/postgres.log" >&2
	die "postgres did not start (see $OUT/postgres.log)"
}

# reap VAR [DIR]: if the variable VAR holds a process id, kill -9 that
# process, wait for it, empty VAR and remove DIR (its data).
reap() {
	local -n reap_pid=$1
	[[ -n $reap_pid ]] || return 0
	kill -KILL "$reap_pid" 2>/dev/null
	wait "$reap_pid" 2>/dev/null
	reap_pid=
	[[ -z ${2:-} ]] || rm -rf "$2"
}

stop_pg() {
	[[ -n $PGPID ]] || return 0
	kill -INT "$PGPID" 2>/dev/null # fast shutdown
	for _ in $(seq 100); do
		kill -0 "$PGPID" 2>/dev/null || break
		sleep 0.1
	done
	reap PGPID "$PGDIR"
}

# start_stores NAME: the stores of one server, fresh: versitygw (posix
# backend, port S3_PORT) and, on the production topology, FerretDB on a new
# PostgreSQL database (port FDB_PORT), all on core 1. Sets STORE_FLAGS.
STORE_FLAGS=()
start_stores() {
	local name=$1
	STORE_FLAGS=("${MONGO[@]}")
	if [[ $S3_MODE == versitygw ]]; then
		S3DATA=$(mktemp -d "$STORE_DATA/rampart-bench-s3.XXXXXX")
		ROOT_ACCESS_KEY_ID=rampartroot ROOT_SECRET_ACCESS_KEY=rampartrootsecret GOMAXPROCS=${BENCH_S3_PROCS:-} \
			taskset -c 1 "$BIN/versitygw" --port "127.0.0.1:$S3_PORT" --keep-alive posix "$S3DATA" >"$OUT/$name.s3.log" 2>&1 &
		S3PID=$!
		wait_port "$S3_PORT" "$S3PID" versitygw "$OUT/$name.s3.log"
		STORE_FLAGS+=(--s3-endpoint "http://127.0.0.1:$S3_PORT" --s3-access-key rampartroot)
	fi
	if [[ $MONGO_MODE == ferretdb-postgresql ]]; then
		start_pg
		STORES_N=$((STORES_N + 1))
		local db=ferretdb_$STORES_N
		"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$db" || die "createdb $db failed"
		FDBDATA=$(mktemp -d "$STORE_DATA/rampart-bench-ferretdb.XXXXXX")
		# --debug-addr=-: no metrics listener; --telemetry=disable: never
		# report to beacon.ferretdb.com.
		taskset -c 1 "$BIN/ferretdb" --handler=postgresql --postgresql-url="postgres://postgres@127.0.0.1:$PG_PORT/$db" \
			--listen-addr="127.0.0.1:$FDB_PORT" --state-dir="$FDBDATA" --debug-addr=- --telemetry=disable \
			--log-level=warn --log-format=text >"$OUT/$name.ferretdb.log" 2>&1 &
		FDBPID=$!
		wait_port "$FDB_PORT" "$FDBPID" ferretdb "$OUT/$name.ferretdb.log"
		STORE_FLAGS+=(--mongo-uri "mongodb://127.0.0.1:$FDB_PORT/")
	fi
}

stop_stores() {
	reap FDBPID "$FDBDATA"
	reap S3PID "$S3DATA"
}

# start_server NAME [serve flags...]: a fresh server on core 0 with its own
# data dir and fresh stores; SPID is its process id.
START_FLAGS=()
start_server() {
	local name=$1
	shift
	stop_server
	SDATA=$(mktemp -d "$BENCH_DATA/rampart-bench-data.XXXXXX")
	start_stores "$name"
	START_FLAGS=("$@")
	launch_server "$name"
}

# launch_server NAME: start the server on SDATA with the stores running
# and START_FLAGS (a restart after kill -9 calls it again on the same data
# dir); waits until /healthz answers (a restart recovers the journal first).
# LAUNCH_S is how long that took.
# With LAUNCH_PERF set (and perf installed), perf samples the server from
# its start until /healthz answers: a restart's journal recovery runs before
# the server listens, so /debug/pprof cannot see it. The report is
# NAME.recovery.perf.txt.
# With LAUNCH_SOFT set, a server that exits before it answers makes
# launch_server return 1 instead of ending the run.
LAUNCH_S=
LAUNCH_PERF=
LAUNCH_SOFT=
launch_server() {
	local name=$1 t0 perfpid=
	t0=$(date +%s.%N)
	# Secrets only by environment (the server refuses them as flags).
	RAMPART_S3_SECRET_KEY=rampartrootsecret taskset -c 0 "$RAMPART" serve "${STORE_FLAGS[@]}" --data-dir "$SDATA" --addr "127.0.0.1:$PORT" \
		--log-format json --log-level warn "${OPEN_BUDGETS[@]}" "${SERVE_FLAGS[@]}" "${START_FLAGS[@]}" >"$OUT/$name.server.log" 2>&1 &
	SPID=$!
	if [[ -n $LAUNCH_PERF && -n $PROFILE ]] && command -v perf >/dev/null; then
		perf record -q -e cpu-clock -F 499 -g -p "$SPID" -o "$OUT/$name.recovery.perf.data" >"$OUT/$name.recovery.perf.log" 2>&1 &
		perfpid=$!
		BG_PIDS+=("$perfpid")
	fi
	for _ in $(seq 6000); do
		if curl -fs "$TARGET/healthz" >/dev/null 2>&1; then
			LAUNCH_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
			if [[ -n $perfpid ]]; then
				kill -INT "$perfpid" 2>/dev/null
				wait "$perfpid" 2>/dev/null
				perf report -i "$OUT/$name.recovery.perf.data" --stdio --no-children --sort symbol 2>/dev/null |
					grep -E "^ +[0-9.]+%" | sed -E "s/[[:space:]]+-[[:space:]]+-[[:space:]]*$//" | head -40 >"$OUT/$name.recovery.perf.txt"
				perf report -i "$OUT/$name.recovery.perf.data" --stdio --children --sort symbol 2>/dev/null |
					grep -E "^ +[0-9.]+%" | sed -E "s/[[:space:]]+-[[:space:]]+-[[:space:]]*$//" | head -60 >"$OUT/$name.recovery.perf.cum.txt"
			fi
			return 0
		fi
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -n $LAUNCH_SOFT ]]; then
		reap SPID
		[[ -n $perfpid ]] && { kill -INT "$perfpid" 2>/dev/null; wait "$perfpid" 2>/dev/null; }
		return 1
	fi
	cat "$OUT/$name.server.log" >&2
	die "server did not start (see $OUT/$name.server.log)"
}

# stop_server: the data is thrown away, so no drain is needed.
stop_server() {
	reap SECOND_PID "$SECOND_DATA"
	reap SPID
	stop_stores
	if [[ -n $SDATA ]]; then
		rm -rf "$SDATA"
		SDATA=
	fi
}
BG_PIDS=()
cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	stop_server
	stop_pg
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# load NAME [loadtest flags...]: run the generator on core 1 against the
# server; the JSON report goes to NAME.json.
load() {
	local name=$1
	shift
	echo "  $name: rampart loadtest $*" >>"$OUT/commands.txt"
	taskset -c 1 "$RAMPART" loadtest --target "$TARGET" --json "$@" >"$OUT/$name.json" 2>"$OUT/$name.err"
	local rc=$?
	((rc == 0)) || echo "  ($name: loadtest exited $rc; see $OUT/$name.err)" | tee -a "$SUMMARY" >&2
	return 0
}

# cpu_s PID: the process's CPU seconds (user + system) from /proc.
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# profile_at NAME DELAY MODE: in the background, DELAY s from now, a 20-s
# CPU profile of the server (BENCH_PROFILE), with /debug/analytics (whose
# counters never reset) and the server's CPU time just before and after
# it; profile_report NAME waits for it and writes what it shows. Debug
# routes answer loopback. The counts of actions and S3 calls come from the
# latency table, which the generator resets when its window opens. MODE
# "fromzero": the profile starts with a run whose window opens at its first
# login, so /metrics after the profile counts from zero. MODE "rows": the
# profile lies inside a window; /metrics is not scraped (GET /metrics
# would be a request row of the window) and the counts are the window's
# rows in NAME.json scaled to 20 s.
PROF_PID=
profile_at() {
	PROF_PID=
	[[ -n $PROFILE ]] || return 0
	local name=$1 delay=$2 mode=$3 pid=$SPID
	echo "$mode" >"$OUT/$name.profmode"
	(
		sleep "$delay"
		[[ $mode == fromzero ]] && curl -fs "$TARGET/metrics" -o "$OUT/$name.metrics0.txt"
		curl -fs "$TARGET/debug/analytics" -o "$OUT/$name.analytics0.json"
		cpu_s "$pid" >"$OUT/$name.cpu0"
		curl -fs "$TARGET/debug/pprof/profile?seconds=20" -o "$OUT/$name.pprof"
		cpu_s "$pid" >"$OUT/$name.cpu1"
		[[ $mode == fromzero ]] && curl -fs "$TARGET/metrics" -o "$OUT/$name.metrics1.txt"
		curl -fs "$TARGET/debug/analytics" -o "$OUT/$name.analytics1.json"
	) &
	PROF_PID=$!
	BG_PIDS+=("$PROF_PID")
}

# profile_report NAME TITLE: waits for a profile still being taken, then
# writes the profile's top costs (NAME.top.txt), the CPU split by what it
# was spent on (NAME.split.txt) and the CPU per action, checkpoint, sign-in
# and analytics event into the summary.
profile_report() {
	local name=$1 title=$2
	wait_profile
	[[ -n $PROFILE ]] || return 0
	if [[ ! -s $OUT/$name.pprof ]]; then
		say "(no profile for $title: the server did not answer /debug/pprof/profile)"
		return 0
	fi
	command -v go >/dev/null || { say "(profile of $title in $OUT/$name.pprof; go missing, no report)"; return 0; }
	go tool pprof -top -nodecount=30 "$RAMPART" "$OUT/$name.pprof" >"$OUT/$name.top.txt" 2>/dev/null
	go tool pprof -top -cum -nodecount=60 "$RAMPART" "$OUT/$name.pprof" >"$OUT/$name.topcum.txt" 2>/dev/null
	go tool pprof -traces "$RAMPART" "$OUT/$name.pprof" >"$OUT/$name.traces.txt" 2>/dev/null
	$Q split "$OUT/$name.traces.txt" >"$OUT/$name.split.txt"
	local c0 c1
	c0=$(cat "$OUT/$name.cpu0" 2>/dev/null) c1=$(cat "$OUT/$name.cpu1" 2>/dev/null)
	say ""
	say "CPU profile of the server, $title (20 s; $OUT/$name.pprof): server CPU $(awk -v a="${c0:-0}" -v b="${c1:-0}" 'BEGIN{printf "%.2f", b-a}') s over the profile"
	say ""
	say '```'
	sed -n '/flat%/,$p' "$OUT/$name.top.txt" | head -16 | tee -a "$SUMMARY"
	say '```'
	say ""
	# The counters over the same 20 s: actions (every action: row),
	# checkpoints (saves), sign-ins, analytics events emitted, journal
	# records, S3 calls (every s3: row).
	local a0=$OUT/$name.analytics0.json a1=$OUT/$name.analytics1.json mode
	mode=$(cat "$OUT/$name.profmode" 2>/dev/null)
	adelta() { awk -v a="$($Q "$a0" "$1")" -v b="$($Q "$a1" "$1")" 'BEGIN{if (a=="-"||b=="-") print "-"; else print b-a}'; }
	local acts saves signs events appends s3calls s3sign
	saves=$(adelta store.saves) signs=$(adelta store.logins) events=$(adelta mongodb.analytics.emitted)
	[[ $events == - ]] && events=$(adelta analytics.emitted) # before the /debug routes moved into api
	local dropped
	dropped=$(adelta mongodb.analytics.dropped_queue_full)
	if [[ $mode == fromzero ]]; then
		local m1=$OUT/$name.metrics1.txt
		tc() { $Q promdelta /dev/null "$m1" "rampart_request_duration_seconds_count{kind=\"internal\",route=\"$1"; }
		acts=$(tc action:)
		s3calls=$(tc s3:)
		s3sign=$(awk -v a="$(tc s3:account_)" -v c="$(tc s3:cred_)" -v g="$(tc 's3:get"}')" -v p="$(tc 's3:put"}')" -v sv="$saves" \
			'BEGIN{x=p-sv; if (x<0) x=0; print a+c+g+x}')
		appends=$($Q promdelta /dev/null "$m1" rampart_journal_appends_total)
	else
		local j=$OUT/$name.json w
		w=$($Q "$j" server.window_s)
		rs() { awk -v c="$($Q rowsum "$j" "$1")" -v w="$w" 'BEGIN{if (w=="-"||w==0) print "-"; else printf "%.0f", c*20/w}'; }
		acts=$(rs action:)
		s3calls=$(rs s3:)
		s3sign=$(awk -v a="$(rs s3:account_)" -v c="$(rs s3:cred_)" -v g="$(rs s3:get)" 'BEGIN{print a+c+g}')
		appends=$acts # one record per action; the window's rows have no journal count
	fi
	[[ $dropped != - && $dropped != 0 ]] && say "analytics: $events events emitted in the 20 s, $dropped of them dropped (queue full: MongoDB did not keep up)" && say ""
	columns "| cost (profile samples, each stack given to the first row that claims it) | server CPU s | share | count in the 20 s | server CPU per unit |"
	local cat secs pct s3secs=0 signsecs=0 savesecs=0
	while IFS=$'\t' read -r cat secs pct; do
		local count=""
		case $cat in
		actions*) count=$acts ;;
		checkpoint*) count=$saves savesecs=$secs ;;
		sign-in*) count=$signs signsecs=$secs ;;
		analytics*) count=$events ;;
		journal\ \(*) count=$appends ;;
		S3*) count=$s3calls s3secs=$secs ;;
		esac
		local per=""
		# Per unit only where the count says something (>= 50 in 20 s).
		if [[ -n $count && $count != - ]] && ((${count%.*} >= 50)); then
			per=$(awk -v s="$secs" -v n="$count" 'BEGIN{printf "%.1f µs", s*1e6/n}')
		fi
		say "| $cat | $secs | $pct% | ${count:-} | $per |"
	done <"$OUT/$name.split.txt"
	# The S3 row cannot name its callers: give each its S3 calls at the
	# mean CPU per call. Sign-in calls are the account and credential
	# objects, the player's GET and the PUTs that are not saves (the new
	# player's create, the lease); a checkpoint is one PUT.
	if [[ $s3calls != - ]] && ((${s3calls%.*} > 0)); then
		local pc signs3=$s3sign line
		pc=$(awk -v s="$s3secs" -v n="$s3calls" 'BEGIN{printf "%.6f", s/n}')
		line="S3 at $(awk -v p="$pc" 'BEGIN{printf "%.0f", p*1e6}') µs of server CPU per call ($s3calls calls)"
		if ((${signs%.*} >= 50)); then
			line+="; per sign-in with its $(awk -v a="$signs3" -v n="$signs" 'BEGIN{printf "%.1f", a/n}') S3 calls: $(awk -v d="$signsecs" -v a="$signs3" -v p="$pc" -v n="$signs" 'BEGIN{printf "%.0f", (d+a*p)*1e6/n}') µs"
		fi
		if ((${saves%.*} >= 50)); then
			line+="; per checkpoint with its PUT: $(awk -v d="$savesecs" -v p="$pc" -v n="$saves" 'BEGIN{printf "%.0f", d*1e6/n+p*1e6}') µs"
		fi
		say ""
		say "$line"
	fi
	say ""
}

# core_snap: busy and total jiffies of cpu0 and cpu1 (/proc/stat).
core_snap() {
	awk '/^cpu[01] /{b=$2+$3+$4+$7+$8+$9; t=b+$5+$6; printf "%s %s ", b, t}' /proc/stat
}

# core_busy "SNAP0" "SNAP1": "core 0 X%, core 1 Y%" busy in between, all
# processes (the generator and the stores on core 1, anyone else too).
core_busy() {
	awk -v a="$1" -v b="$2" 'BEGIN{split(a,x," "); split(b,y," ");
		printf "core 0 %.0f%%, core 1 %.0f%%", 100*(y[1]-x[1])/(y[2]-x[2]+1e-9), 100*(y[3]-x[3])/(y[4]-x[4]+1e-9)}'
}

# stores_cpu: CPU seconds so far of versitygw, FerretDB and PostgreSQL
# (the postmaster, its live backends and those it reaped), space-separated.
stores_cpu() {
	local s3=0 fdb=0 pg=0 hz
	hz=$(getconf CLK_TCK)
	[[ -n $S3PID ]] && s3=$(cpu_s "$S3PID")
	[[ -n $FDBPID ]] && fdb=$(cpu_s "$FDBPID")
	if [[ -n $PGPID ]]; then
		pg=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v hz="$hz" -v pp="$PGPID" '{pid=$1; sub(/^.*\) /, "");
			if (pid==pp) s+=$12+$13+$14+$15; else if ($2==pp) s+=$12+$13} END{printf "%.3f", s/hz}')
	fi
	echo "$s3 $fdb $pg"
}

# stores_used "CPU0" "CPU1" SECONDS: the stores' CPU in between, as shares
# of one core over SECONDS.
stores_used() {
	awk -v a="$1" -v b="$2" -v w="$3" 'BEGIN{split(a,x," "); split(b,y," ");
		printf "versitygw %.0f%%, FerretDB %.0f%%, PostgreSQL %.0f%% of a core", 100*(y[1]-x[1])/w, 100*(y[2]-x[2])/w, 100*(y[3]-x[3])/w}'
}

# mark: remember the cores' and the stores' CPU now; machine_since: what
# they did since, for a table's footnote (core 1 holds the generator and
# the stores: when it is full, the stores answer late, whatever core 0 does).
MARK_CORES= MARK_STORES= MARK_T=
mark() {
	MARK_CORES=$(core_snap) MARK_STORES=$(stores_cpu) MARK_T=$(date +%s.%N)
}
machine_since() {
	local w
	w=$(awk -v a="$MARK_T" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b-a}')
	local line
	line="$(core_busy "$MARK_CORES" "$(core_snap)") busy over ${w%.*} s"
	[[ $S3_MODE == versitygw || $MONGO_MODE == ferretdb-postgresql ]] && line+="; stores: $(stores_used "$MARK_STORES" "$(stores_cpu)" "$w")"
	echo "$line"
}

# rate_limited NAME: a loud line when the A/B run NAME had 429
# rate_limited replies in its measured slices (its rates are then the
# per-player budget's, not the server's), nothing otherwise.
rate_limited() {
	local n a b players ppc
	IFS=$'\t' read -r n a b players ppc < <($Q "$OUT/$1.json" rate_limited a.rate_limited b.rate_limited players players_per_conn)
	[[ -z $n || $n == - || $n == 0 ]] && return 0
	say "**$1: RATE-LIMITED — $n replies 429 rate_limited in the measured slices (A $a, B $b; $players players, $ppc per connection): its rates are the per-player budget's, NOT the server's.** Raise --players-per-conn."
}

# refused NAME: a loud line when the client of the run NAME (standard
# mix) was answered 429 or 503 and resent after Retry-After: its figures
# hold those waits.
refused() {
	local n
	n=$($Q "$OUT/$1.json" client_refused)
	[[ -z $n || $n == - || $n == 0 ]] && return 0
	say "**$1: REFUSED — $n attempts answered 429 rate_limited or 503 and resent after Retry-After: its figures hold those waits, NOT the server's alone.**"
}

ratio() {
	heading "Efficiency ratio: 1-action ping batch vs GET /healthz (keep-alive, saturating)"
	start_server ratio
	local rs=() cs=()
	columns "| run | players | healthz/s | ping/s (per player) | server CPU healthz / ping | ratio | per-core ratio | 429s |"
	for i in $(seq "$REPEAT"); do
		load "ratio-$i" --mix healthz-vs-ping --conns "$CLOSED_CONNS" --duration 20s --slice 1s --server-pid "$SPID" --id-prefix "r$i"
		IFS=$'\t' read -r a b ca cb r c n pl bp < <($Q "$OUT/ratio-$i.json" a.rate_per_s b.rate_per_s a.server_cpu_pct b.server_cpu_pct ratio per_core_ratio \
			rate_limited players b.per_player_rate_per_s)
		say "| $i | $pl | $a | $b ($bp) | $ca% / $cb% | $r | $c | $n |"
		rs+=("$r") cs+=("$c")
	done
	for i in $(seq "$REPEAT"); do rate_limited "ratio-$i"; done
	say "median ratio $($Q median "${rs[@]}") (per server core $($Q median "${cs[@]}")); goal >= 0.5"
	stop_server
}

ws() {
	heading "Single-action messages per server core: HTTP keep-alive vs WebSocket (same run)"
	start_server ws
	local hs=() ws=() rs=()
	columns "| run | players | HTTP/s | WS/s | server CPU HTTP / WS | HTTP per core/s | WS per core/s | WS/HTTP | 429s |"
	for i in $(seq "$REPEAT"); do
		load "ws-$i" --mix http-vs-ws --conns "$CLOSED_CONNS" --duration 20s --slice 1s --server-pid "$SPID" --id-prefix "w$i"
		IFS=$'\t' read -r a b ca cb pa pb r n pl < <($Q "$OUT/ws-$i.json" a.rate_per_s b.rate_per_s a.server_cpu_pct b.server_cpu_pct a.per_core_per_s b.per_core_per_s per_core_ratio \
			rate_limited players)
		say "| $i | $pl | $a | $b | $ca% / $cb% | $pa | $pb | $r | $n |"
		hs+=("$pa") ws+=("$pb") rs+=("$r")
	done
	for i in $(seq "$REPEAT"); do rate_limited "ws-$i"; done
	say "median per server core: WebSocket $($Q median "${ws[@]}")/s, HTTP $($Q median "${hs[@]}")/s; goal WebSocket >= 50,000/s"
	stop_server
}

# saturate NAME PREFIX: the standard mix, closed loop, 2,000 players.
# They share the 2 × CLOSED_CONNS workers (the scheduler hands out the
# player due longest), so each sends the saturation rate / 2,000 (about
# 1/s at 1,851 actions/s), far inside the per-player budget: not the A/B
# mixes' one player per worker. client_refused (refused) says if not.
saturate() {
	load "$1" --players 2000 --ramp-up 3s --duration 25s --measure-after 8s --apm 60000 --conns "$((CLOSED_CONNS * 2))" \
		--verify=false --logout=false --server-pid "$SPID" --id-prefix "$2"
}

# profiler: two servers on core 0 at once, one with --profiler=false; the
# generator alternates 1-s slices of one-action pings between them, so both
# see the same machine at nearly the same moments. The roles swap every run.
profiler() {
	heading "Profiler on vs off: two servers on core 0, alternating 1-s slices of one-action pings (30 s)"
	columns "| run | on: pings/s | off: pings/s | on: CPU µs/ping | off: CPU µs/ping | on/off rate | on/off CPU per ping |"
	local rr=() cr=()
	for i in $(seq "$REPEAT"); do
		local a=true b=false
		((i % 2 == 0)) && a=false b=true
		start_server "prof-$i-a" --profiler="$a"
		start_second "prof-$i-b" --profiler="$b"
		load "prof-$i" --mix target-vs-b --target-b "http://127.0.0.1:$((PORT + 2))" --conns "$CLOSED_CONNS" --duration 30s --slice 1s \
			--server-pid "$SPID" --server-pid-b "$SECOND_PID" --id-prefix "p$i"
		stop_server
		local ra rb ca cb
		IFS=$'\t' read -r ra rb ca cb < <($Q "$OUT/prof-$i.json" a.rate_per_s b.rate_per_s a.server_cpu_per_request_us b.server_cpu_per_request_us)
		if [[ $a == false ]]; then
			local t=$ra
			ra=$rb rb=$t t=$ca ca=$cb cb=$t
		fi
		local r c
		r=$(awk -v a="$ra" -v b="$rb" 'BEGIN{printf "%.3f", a/b}')
		c=$(awk -v a="$ca" -v b="$cb" 'BEGIN{printf "%.3f", a/b}')
		say "| $i | ${ra%.*} | ${rb%.*} | $ca | $cb | $r | $c |"
		rr+=("$r") cr+=("$c")
	done
	for i in $(seq "$REPEAT"); do rate_limited "prof-$i"; done
	local mr mc
	mr=$($Q median "${rr[@]}") mc=$($Q median "${cr[@]}")
	say "median on/off: rate $mr ($(awk -v r="$mr" 'BEGIN{printf "%+.1f%%", 100*(r-1)}')), CPU per ping $mc ($(awk -v r="$mc" 'BEGIN{printf "%+.1f%%", 100*(r-1)}')); goal within 3%"
}

# start_second NAME [serve flags...]: a second server on core 0, port
# PORT+2, on the first one's stores but a bucket of its own (the A/B mix
# signs the same players in on both, and a lease in a shared bucket would
# refuse them); SECOND_PID and SECOND_DATA say which (stop_server stops it
# too).
start_second() {
	local name=$1
	shift
	SECOND_DATA=$(mktemp -d "$BENCH_DATA/rampart-bench-data.XXXXXX")
	local bucket=()
	[[ $S3_MODE == versitygw ]] && bucket=(--s3-bucket rampart-b)
	RAMPART_S3_SECRET_KEY=rampartrootsecret taskset -c 0 "$RAMPART" serve "${STORE_FLAGS[@]}" "${bucket[@]}" --data-dir "$SECOND_DATA" --addr "127.0.0.1:$((PORT + 2))" \
		--log-format json --log-level warn "${OPEN_BUDGETS[@]}" "${SERVE_FLAGS[@]}" "$@" >"$OUT/$name.server.log" 2>&1 &
	SECOND_PID=$!
	for _ in $(seq 300); do
		curl -fs "http://127.0.0.1:$((PORT + 2))/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "second server did not start (see $OUT/$name.server.log)"
}

storm() {
	heading "Sign-in storm: $STORM players at once, device credentials (256 keep-alive connections)"
	columns "| run | players | all online after (s) | sign-in p50 ms | p99 ms | max ms | server CPU | server CPU per sign-in | machine over the run |"
	local news=() olds=()
	for i in $(seq "$REPEAT"); do
		start_server "storm-$i"
		for kind in new existing; do
			# New players: device sign-up (account in S3 and MongoDB), S3
			# GET (404) + PUT If-None-Match. Existing (the same devices,
			# saved by the first storm): device sign-in, S3 GET, decode,
			# PUT If-Match. The same salt names the same devices.
			((i == 1)) && [[ $kind == new ]] && profile_at "storm-$kind-$i" 0 fromzero
			local c0
			c0=$(cpu_s "$SPID")
			mark
			load "storm-$kind-$i" --players "$STORM" --ramp-up 0s --duration "$STORM_DURATION" --apm 0.01 --conns 256 \
				--verify=false --drain 120s --server-pid "$SPID" --id-prefix "storm$i" --device-salt "storm$i"
			local per
			per=$(awk -v a="$c0" -v b="$(cpu_s "$SPID")" -v n="$STORM" 'BEGIN{printf "%.0f µs", (b-a)*1e6/n}')
			IFS=$'\t' read -r t p50 p99 mx c < <($Q "$OUT/storm-$kind-$i.json" all_online_s latency_ms.login.p50 latency_ms.login.p99 latency_ms.login.max server.cpu_load_pct)
			say "| $i | $kind | $t | $p50 | $p99 | $mx | $c% over $STORM_DURATION | $per (with logout) | $(machine_since) |"
			if [[ $kind == new ]]; then news+=("$t"); else olds+=("$t"); fi
			((i == 1)) && [[ $kind == new ]] && profile_report "storm-$kind-$i" "storm of new players (run 1)"
		done
		stop_server
	done
	say "median time until all $STORM are online: new players $($Q median "${news[@]}") s, existing players $($Q median "${olds[@]}") s; goal <= 5 s"
}

half() {
	heading "Latency at half load (standard mix, 2,000 players)"
	start_server half-sat
	saturate half-sat h0
	stop_server
	local sat apm dur
	IFS=$'\t' read -r sat c < <($Q "$OUT/half-sat.json" server.actions_per_s server.cpu_load_pct)
	# Saturation of one whole core: what the server did over the share of
	# the core it got (on a shared machine other processes take some).
	local core
	core=$(awk -v s="$sat" -v c="$c" 'BEGIN{printf "%.0f", s*100/c}')
	apm=$(awk -v s="$core" 'BEGIN{printf "%.0f", s*0.5*60/2000}')
	dur=$(awk -v h="${HALF%s}" 'BEGIN{print h+20 "s"}')
	say "saturation: ${sat%.*} actions/s at $c% server CPU, so $core actions/s for a whole core; half load: 2,000 players at $apm actions/min each, measured $HALF after 20 s"
	start_server half
	mark
	load half --players 2000 --ramp-up 5s --duration "$dur" --measure-after 20s --apm "$apm" --conns "$((CLOSED_CONNS * 2))" \
		--verify=false --logout=false --server-pid "$SPID" --id-prefix h1
	local machine
	machine=$(machine_since)
	stop_server
	IFS=$'\t' read -r t c p99 pr mx mr ap am cp < <($Q "$OUT/half.json" server.actions_per_s server.cpu_load_pct server.request_p99_ms server.request_p99_row \
		server.request_max_ms server.request_max_row server.all.p99_ms server.all.max_ms latency_ms.actions.p99)
	IFS=$'\t' read -r _ _ ap99 amax < <($Q row "$OUT/half.json" "POST /api/v1/actions")
	IFS=$'\t' read -r sp lm < <($Q "$OUT/half.json" server.sched_latency_p99_max_ms server.unhalted_load_max_pct)
	columns "| measured | actions/s | server CPU mean / 10-s max | POST /api/v1/actions p99 / max ms | worst request row p99 / max ms | ALL row p99 / max ms | sched p99 max ms | client p99 ms |"
	say "| $HALF | ${t%.*} | $c% / $lm% | $ap99 / $amax | $p99 ($pr) / $mx ($mr) | $ap / $am | $sp | $cp |"
	say "machine over the run: $machine"
	say "goal: p99 <= 1 ms, max <= 20 ms (server-side, request rows)"
	refused half-sat
	refused half
}

players() {
	# BENCH_TRANSPORT=ws plays every player on a WebSocket of its own, as
	# the browser client does (it signs in over HTTP, then plays on a socket).
	local tr=${BENCH_TRANSPORT:-http} row="POST /api/v1/actions" how="256 pooled keep-alive connections"
	if [[ $tr == ws ]]; then
		row="ws:actions" how="a WebSocket per player"
	fi
	heading "Online players per core (standard mix, --apm 6, $how)"
	say "pass: server-side request p99 <= 10 ms and max <= 100 ms, mean CPU load over the window < 50%"
	columns "| players | ramp-up s | window s | actions/s | CPU load mean | 10-s load max | request p99 ms (row) | request max ms (row) | $row p99 / max ms | sched p99 max ms | client p99 ms | verdict | machine over the run |"
	local best=0 failed=
	for n in $STEPS; do
		local ramp=$(((n + LOGIN_RATE - 1) / LOGIN_RATE))
		((ramp < 10)) && ramp=10
		local after=$((ramp + SETTLE))
		start_server "players-$n"
		# The profile covers 20 s in the middle of the window.
		profile_at "players-$n" $((after + (WINDOW > 20 ? (WINDOW - 20) / 2 : 0))) rows
		mark
		load "players-$n" --players "$n" --ramp-up "${ramp}s" --duration "$((after + WINDOW))s" --measure-after "${after}s" \
			--apm 6 --conns 256 --transport "$tr" --verify=false --logout=false --drain 30s --server-pid "$SPID" --id-prefix "n$n"
		wait_profile
		local machine
		machine=$(machine_since)
		stop_server
		IFS=$'\t' read -r t c lm p99 pr mx mr sp cp online < <($Q "$OUT/players-$n.json" server.actions_per_s server.cpu_load_pct server.unhalted_load_max_pct \
			server.request_p99_ms server.request_p99_row server.request_max_ms server.request_max_row server.sched_latency_p99_max_ms latency_ms.actions.p99 server.start.online)
		local verdict=pass
		if [[ $online != "$n" ]] || awk -v p="$p99" -v m="$mx" -v c="$c" 'BEGIN{exit !(p=="-" || p>10 || m>100 || c>=50)}'; then
			verdict=FAIL
		fi
		local ap99 amax
		IFS=$'\t' read -r _ _ ap99 amax < <($Q row "$OUT/players-$n.json" "$row")
		say "| $n | $ramp | $WINDOW | ${t%.*} | $c% | $lm% | $p99 ($pr) | $mx ($mr) | $ap99 / $amax | $sp | $cp | $verdict (online at window start: $online) | $machine |"
		PLAYERS_PROFILES+=("$n")
		if [[ $verdict == pass ]]; then
			((n > best)) && best=$n
		else
			failed=$n
			[[ -n ${BENCH_ALL_STEPS:-} ]] || break
		fi
	done
	say "largest passing step: $best players${failed:+; failed at $failed}; goal >= 50,000"
	# The profile of the failing step (else of the largest one run).
	local shown=${failed:-${PLAYERS_PROFILES[-1]:-}}
	[[ -n $shown ]] && profile_report "players-$shown" "players step $shown (20 s in the middle of the window)"
}

# wait_profile: let a running profile finish (the files stay for a report).
wait_profile() {
	[[ -n $PROF_PID ]] && wait "$PROF_PID" 2>/dev/null
	PROF_PID=
}
PLAYERS_PROFILES=()

memory() {
	heading "Server memory per idle player ($MEM_PLAYERS players, signed in, idle)"
	columns "| players hold | heap B/player | stack B/player | heap+stack B | RSS B/player | goroutines/player |"
	for tr in ws http; do
		start_server "mem-$tr"
		# Measured before the first sockets reach the server's 70-s pong
		# deadline (idle players answer no pings).
		local mramp=$(((MEM_PLAYERS + LOGIN_RATE - 1) / LOGIN_RATE))
		((mramp < 20)) && mramp=20
		local mafter=$((mramp + SETTLE > 40 ? mramp + SETTLE : 40))
		((mafter > 65)) && mafter=65
		load "mem-$tr" --transport "$tr" --players "$MEM_PLAYERS" --ramp-up "${mramp}s" --duration "$((mafter + 20))s" --measure-after "${mafter}s" --apm 0.001 \
			--conns 64 --verify=false --logout=false --server-mem --server-pid "$SPID" --id-prefix "m$tr"
		stop_server
		IFS=$'\t' read -r h s r g on < <($Q "$OUT/mem-$tr.json" server.heap_per_player_bytes server.stack_per_player_bytes server.rss_per_player_bytes \
			server.goroutines_per_player server.start.online)
		local what="connected: a WebSocket each"
		[[ $tr == http ]] && what="online: no connection (HTTP players between requests)"
		say "| $what ($on online) | ${h%.*} | ${s%.*} | $(awk -v a="$h" -v b="$s" 'BEGIN{printf "%.0f", a+b}') | ${r%.*} | $g |"
	done
	say "goal: <= 4 KiB (4,096 B) per online player, <= 20 KiB (20,480 B) per connected player, player state included (heap+stack)"
}

# restart: N players sign in and play the standard mix; after
# RESTART_PLAY s the server is killed (SIGKILL) and so is the generator
# (its players walk away with the server); the server is started again on
# the same data dir and stores (it replays the journal before it listens),
# and the same N devices come back at once. The figure is from the kill
# to all N online again; they play on until RESTART_RUN s after the restart.
restart() {
	local n=$RESTART_PLAYERS
	heading "Restart after kill -9: $n players online and playing, killed, restarted on the same data dir"
	local ramp=$(((n + LOGIN_RATE - 1) / LOGIN_RATE))
	((ramp < 10)) && ramp=10
	local salt=restart-$$
	start_server restart-a
	local args=(--players "$n" --ramp-up "${ramp}s" --duration "$((ramp + RESTART_PLAY + 600))s" --apm 6 --conns 256
		--verify=false --logout=false --id-prefix rs --device-salt "$salt")
	echo "  restart-a: rampart loadtest ${args[*]} (killed with the server, ${RESTART_PLAY}s after all are online)" >>"$OUT/commands.txt"
	taskset -c 1 "$RAMPART" loadtest --target "$TARGET" --json "${args[@]}" >"$OUT/restart-a.json" 2>"$OUT/restart-a.err" &
	local lpid=$!
	BG_PIDS+=("$lpid")
	# Until all n are online (the server's own count), at most ramp + 120 s.
	local online=0
	for _ in $(seq $(((ramp + 120) * 2))); do
		online=$($Q promdelta /dev/null <(curl -fs "$TARGET/metrics") rampart_players_online)
		[[ $online == "$n" ]] && break
		kill -0 "$lpid" 2>/dev/null || break
		sleep 0.5
	done
	if [[ $online != "$n" ]]; then
		say "only $online of $n players online before the kill; see $OUT/restart-a.err"
	fi
	sleep "$RESTART_PLAY"
	curl -fs "$TARGET/metrics" -o "$OUT/restart-a.metrics.txt"
	local appends
	appends=$($Q promdelta /dev/null "$OUT/restart-a.metrics.txt" rampart_journal_appends_total)
	online=$($Q promdelta /dev/null "$OUT/restart-a.metrics.txt" rampart_players_online)
	local tkill
	mark
	tkill=$(date +%s.%N)
	kill -KILL "$SPID"
	kill -KILL "$lpid" 2>/dev/null
	wait "$SPID" 2>/dev/null
	wait "$lpid" 2>/dev/null
	SPID=
	START_FLAGS+=(--log-level info) # the "journal recovered" line
	# As a supervisor would (systemd Restart=always, RestartSec=1): a
	# server that exits at start is started again, up to 5 times; the time
	# still runs from the kill.
	LAUNCH_PERF=1 LAUNCH_SOFT=1
	local tries=0 started=
	while ((tries < 5)); do
		tries=$((tries + 1))
		if launch_server restart-b; then
			started=1
			break
		fi
		cp "$OUT/restart-b.server.log" "$OUT/restart-b.try$tries.server.log"
		say "restart try $tries: the server exited before answering: $(head -c 400 "$OUT/restart-b.try$tries.server.log")"
		sleep 1
	done
	LAUNCH_PERF= LAUNCH_SOFT=
	if [[ -z $started ]]; then
		say "the server did not come back after $tries tries; no restart figure"
		stop_server
		return 0
	fi
	local up
	up=$(awk -v k="$tkill" -v n="$(date +%s.%N)" 'BEGIN{printf "%.2f", n-k}')
	local mrec
	mrec=$(machine_since)
	mark
	local rec
	rec=$(grep -m1 '"journal recovered"' "$OUT/restart-b.server.log")
	local tload
	tload=$(date +%s.%N)
	profile_at restart-b 0 fromzero
	load restart-b --players "$n" --ramp-up 0s --duration "${RESTART_RUN}s" --apm 6 --conns 256 \
		--verify=false --logout=false --drain 30s --server-pid "$SPID" --id-prefix rs --device-salt "$salt"
	local machine
	machine=$(machine_since)
	local all p50 p99 mx he te news loads last
	IFS=$'\t' read -r all p50 p99 mx he te < <($Q "$OUT/restart-b.json" all_online_s latency_ms.login.p50 latency_ms.login.p99 latency_ms.login.max \
		http_errors transport_errors)
	# Playing again: the generator's last progress line (online, actions/s,
	# errors in that second).
	last=$(grep 'online=' "$OUT/restart-b.err" | tail -1 | sed 's/ p50=[^ ]* p99=[^ ]*//; s/^ *//')
	curl -fs "$TARGET/metrics" -o "$OUT/restart-b.metrics.txt"
	news=$($Q promdelta /dev/null "$OUT/restart-b.metrics.txt" rampart_players_new_total)
	loads=$($Q promdelta /dev/null "$OUT/restart-b.metrics.txt" rampart_player_loads_total)
	local total
	total=$(awk -v k="$tkill" -v l="$tload" -v a="$all" 'BEGIN{if (a=="-") print "-"; else printf "%.2f", l-k+a}')
	say "at the kill: $online online, $appends journal records since start; server started $tries time(s); recovery: ${rec:-(no journal recovered line in the log)}"
	columns "| players | kill → /healthz s | restart → all online again s | kill → all online s | sign-in p50 / p99 / max ms | playing again (last second of the run) | HTTP / transport errors | accounts created again | players loaded |"
	say "| $n | $up | $all | **$total** | $p50 / $p99 / $mx | $last | $he / $te | $news | $loads |"
	say "machine during the recovery (kill to /healthz): $mrec; during the second run (sign-ins, then play, ${RESTART_RUN} s): $machine"
	say "goal: <= 10 s from the kill to all $n signed in again (and nothing re-created: accounts created again must be 0)"
	if [[ -s $OUT/restart-b.recovery.perf.txt ]]; then
		say ""
		say "perf profile of the recovery (kill to /healthz; $OUT/restart-b.recovery.perf.data), self time:"
		say ""
		say '```'
		head -15 "$OUT/restart-b.recovery.perf.txt" | tee -a "$SUMMARY"
		say '```'
		say "with callees ($OUT/restart-b.recovery.perf.cum.txt):"
		say '```'
		grep -E 'rampart/|aws|mongo' "$OUT/restart-b.recovery.perf.cum.txt" | head -15 | tee -a "$SUMMARY"
		say '```'
	fi
	profile_report restart-b "after the restart (sign-in storm of $n existing players, then play)"
	stop_server
}

{
	echo "# Rampart end-to-end benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version 2>/dev/null | cut -d' ' -f3-), $(uname -sr)"
	echo "build: $(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
	echo ""
	echo "**Topology: $TOPO_LABEL.**"
	echo ""
	echo "- server: taskset -c 0 rampart serve --data-dir <$BENCH_DATA/rampart-bench-data.*> (journal in <data-dir>/journal, the default) ${BENCH_SERVE_FLAGS:-}"
	if [[ $S3_MODE == versitygw ]]; then
		echo "- S3: taskset -c 1 versitygw posix <$STORE_DATA/rampart-bench-s3.*> (--s3-endpoint http://127.0.0.1:$S3_PORT --s3-access-key rampartroot, RAMPART_S3_SECRET_KEY in the environment)"
	else
		echo "- S3: embedded, in the server's process"
	fi
	case $MONGO_MODE in
	ferretdb-postgresql)
		echo "- MongoDB: taskset -c 1 ferretdb --handler=postgresql (--mongo-uri mongodb://127.0.0.1:$FDB_PORT/), one new database per server on a throwaway PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') cluster (<$STORE_DATA/rampart-bench-pg.*>, taskset -c 1, fsync $([[ ${BENCH_PG_FSYNC:-} == off ]] && echo off || echo on))"
		;;
	embedded) echo "- MongoDB: embedded FerretDB (SQLite), in the server's process" ;;
	off) echo "- MongoDB: OFF (A/B only)" ;;
	*) echo "- MongoDB: $MONGO_MODE" ;;
	esac
	echo "- generator: taskset -c 1 rampart loadtest (device sign-in, budgets opened: ${OPEN_BUDGETS[*]})"
	echo ""
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$SUMMARY"
echo "bench: results in $OUT"

sections=("$@")
((${#sections[@]})) || sections=(ratio ws profiler storm half players memory restart)
for s in "${sections[@]}"; do
	case $s in
	ratio | ws | profiler | storm | half | players | memory | restart) "$s" ;;
	*) die "unknown section $s" ;;
	esac
done
say ""
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: summary in $SUMMARY"
