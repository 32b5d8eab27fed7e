#!/usr/bin/env bash
# End-to-end benchmarks of Rampart: the server pinned to one core (taskset
# -c 0), the load generator on the other (taskset -c 1), loopback only,
# every run bounded in time. `make bench-load` runs all sections; name some
# to run only those:
#
#   bench/e2e.sh [ratio] [ws] [profiler] [storm] [half] [players] [memory]
#
#   ratio     ping through the whole stack vs GET /healthz (issue 8)
#   ws        single-action messages per server core, WebSocket vs HTTP (issue 6)
#   profiler  the profiler on vs off: two servers on core 0, alternating slices (issue 4)
#   storm     10,000 players logging in at once, new and then existing (issue 8)
#   half      latency at 50% of saturation throughput (issue 8)
#   players   online players one core sustains, stepped up (issue 8)
#   memory    server memory per idle player, 10,000 WebSockets and 10,000 without (issues 6, 2)
#
# Environment (defaults in brackets):
#   BIN            where rampart and benchq are [./bin]
#   BENCH_OUT      results directory [$TMPDIR/rampart-bench-<time>]
#   BENCH_DATA     parent of the servers' data dirs [/dev/shm if writable, else $TMPDIR]
#   BENCH_PORT     server port [18180]
#   BENCH_REPEAT   runs per A/B figure, medians reported [3]
#   BENCH_HALF     measured length of the half-load run [60s; 300s is the 5-minute figure]
#   BENCH_PLAYERS  player steps ["5000 10000 20000 30000 40000 60000"]
#   BENCH_ALL_STEPS=1   keep stepping after the first failing step
#   BENCH_LOGIN_RATE    logins per second during ramp-up [500]
#   BENCH_WINDOW   measured steady state per player step, seconds [75]
#   BENCH_SERVE_FLAGS   extra flags for every server (e.g. "--autosave 2m")
#   BENCH_S3=versitygw  S3 out of the server's process: bin/versitygw (make
#                       test-deps) on core 1 beside the generator, so the
#                       server's core carries only the game server's side of
#                       each S3 round trip, as with a real S3
#
# Each run leaves <name>.json (the loadtest report), <name>.err (progress)
# and <name>.server.log in BENCH_OUT; summary.md collects the figures.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/bin}
RAMPART=$BIN/rampart
Q=$BIN/benchq
PORT=${BENCH_PORT:-18180}
TARGET=http://127.0.0.1:$PORT
REPEAT=${BENCH_REPEAT:-3}
HALF=${BENCH_HALF:-60s}
STEPS=${BENCH_PLAYERS:-5000 10000 20000 30000 40000 60000}
LOGIN_RATE=${BENCH_LOGIN_RATE:-500}
WINDOW=${BENCH_WINDOW:-75}
TMP=${TMPDIR:-/tmp}
OUT=${BENCH_OUT:-$TMP/rampart-bench-$(date +%Y%m%d-%H%M%S)}
if [[ -z ${BENCH_DATA:-} ]]; then
	if [[ -d /dev/shm && -w /dev/shm ]]; then BENCH_DATA=/dev/shm; else BENCH_DATA=$TMP; fi
fi
SUMMARY=$OUT/summary.md
SPID=
SDATA=
S3PID=
S3DATA=
SECOND_PID=
SECOND_DATA=
read -r -a SERVE_FLAGS <<<"${BENCH_SERVE_FLAGS:-}"
# The generator is one address playing thousands of players: the
# per-address and per-player budgets (README, Accounts) are opened.
OPEN_BUDGETS=(--signin-rate 0 --max-conns-per-ip 0 --rate-limit 1000 --rate-burst 2000)
# The default configuration is what is measured: embedded MongoDB on, the
# journal on. BENCH_MONGO=off (an A/B only) runs without MongoDB, and the
# summary says so.
MONGO=()
MONGO_DESC="embedded FerretDB (MongoDB on)"
if [[ ${BENCH_MONGO:-} == off ]]; then
	MONGO=(--mongo-uri off)
	MONGO_DESC="MONGODB OFF (A/B only)"
elif [[ -n ${BENCH_MONGO:-} ]]; then
	MONGO=(--mongo-uri "$BENCH_MONGO")
	MONGO_DESC="MongoDB at $BENCH_MONGO"
fi

die() { echo "bench: $*" >&2; exit 1; }
[[ -x $RAMPART ]] || die "$RAMPART missing: make build"
[[ -x $Q ]] || die "$Q missing: make bench-load builds it"
command -v taskset >/dev/null || die "taskset missing (util-linux)"
(($(nproc) >= 2)) || die "needs 2 cores: server on core 0, generator on core 1"
mkdir -p "$OUT"

say() { echo "$*" | tee -a "$SUMMARY"; }

# start_server NAME [serve flags...]: a fresh server on core 0 with its own
# data dir; SPID is its process id.
start_server() {
	local name=$1
	shift
	stop_server
	SDATA=$(mktemp -d "$BENCH_DATA/rampart-bench-data.XXXXXX")
	local s3=()
	if [[ ${BENCH_S3:-} == versitygw ]]; then
		start_s3 "$name"
		s3=(--s3-endpoint "http://127.0.0.1:$((PORT + 1))" --s3-access-key rampartroot)
	fi
	# Secrets only by environment (the server refuses them as flags).
	RAMPART_S3_SECRET_KEY=rampartrootsecret taskset -c 0 "$RAMPART" serve "${MONGO[@]}" --data-dir "$SDATA" --addr "127.0.0.1:$PORT" \
		--log-format json --log-level warn "${s3[@]}" "${OPEN_BUDGETS[@]}" "${SERVE_FLAGS[@]}" "$@" >"$OUT/$name.server.log" 2>&1 &
	SPID=$!
	for _ in $(seq 100); do
		curl -fs "$TARGET/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$OUT/$name.server.log" >&2
	die "server did not start (see $OUT/$name.server.log)"
}

# start_s3 NAME: versitygw (posix backend) on core 1, port PORT+1.
start_s3() {
	[[ -x $BIN/versitygw ]] || die "$BIN/versitygw missing: make test-deps"
	S3DATA=$(mktemp -d "$BENCH_DATA/rampart-bench-s3.XXXXXX")
	ROOT_ACCESS_KEY_ID=rampartroot ROOT_SECRET_ACCESS_KEY=rampartrootsecret \
		taskset -c 1 "$BIN/versitygw" --port "127.0.0.1:$((PORT + 1))" --keep-alive posix "$S3DATA" >"$OUT/$1.s3.log" 2>&1 &
	S3PID=$!
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$((PORT + 1))") 2>/dev/null && return 0
		sleep 0.1
	done
	die "versitygw did not start (see $OUT/$1.s3.log)"
}

# stop_server: the data is thrown away, so no drain is needed.
stop_server() {
	if [[ -n $SECOND_PID ]]; then
		kill -KILL "$SECOND_PID" 2>/dev/null
		wait "$SECOND_PID" 2>/dev/null
		SECOND_PID=
		rm -rf "$SECOND_DATA"
	fi
	if [[ -n $S3PID ]]; then
		kill -KILL "$S3PID" 2>/dev/null
		wait "$S3PID" 2>/dev/null
		S3PID=
		rm -rf "$S3DATA"
	fi
	if [[ -n $SPID ]]; then
		kill -KILL "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
		SPID=
	fi
	if [[ -n $SDATA ]]; then
		rm -rf "$SDATA"
		SDATA=
	fi
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

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

ratio() {
	say ""
	say "## Efficiency ratio: 1-action ping batch vs GET /healthz (keep-alive, saturating)"
	start_server ratio
	local rs=() cs=()
	say "| run | healthz/s | ping/s | server CPU healthz / ping | ratio | per-core ratio |"
	say "|---|---|---|---|---|---|"
	for i in $(seq "$REPEAT"); do
		load "ratio-$i" --mix healthz-vs-ping --conns 32 --duration 20s --slice 1s --server-pid "$SPID" --id-prefix "r$i"
		IFS=$'\t' read -r a b ca cb r c < <($Q "$OUT/ratio-$i.json" a.rate_per_s b.rate_per_s a.server_cpu_pct b.server_cpu_pct ratio per_core_ratio)
		say "| $i | $a | $b | $ca% / $cb% | $r | $c |"
		rs+=("$r") cs+=("$c")
	done
	say "median ratio $($Q median "${rs[@]}") (per server core $($Q median "${cs[@]}")); goal >= 0.5"
	stop_server
}

ws() {
	say ""
	say "## Single-action messages per server core: HTTP keep-alive vs WebSocket (same run)"
	start_server ws
	local hs=() ws=() rs=()
	say "| run | HTTP/s | WS/s | server CPU HTTP / WS | HTTP per core/s | WS per core/s | WS/HTTP |"
	say "|---|---|---|---|---|---|---|"
	for i in $(seq "$REPEAT"); do
		load "ws-$i" --mix http-vs-ws --conns 32 --duration 20s --slice 1s --server-pid "$SPID" --id-prefix "w$i"
		IFS=$'\t' read -r a b ca cb pa pb r < <($Q "$OUT/ws-$i.json" a.rate_per_s b.rate_per_s a.server_cpu_pct b.server_cpu_pct a.per_core_per_s b.per_core_per_s per_core_ratio)
		say "| $i | $a | $b | $ca% / $cb% | $pa | $pb | $r |"
		hs+=("$pa") ws+=("$pb") rs+=("$r")
	done
	say "median per server core: WebSocket $($Q median "${ws[@]}")/s, HTTP $($Q median "${hs[@]}")/s; goal WebSocket >= 50,000/s"
	stop_server
}

# saturate NAME PREFIX: the standard mix, closed loop, 2,000 players.
saturate() {
	load "$1" --players 2000 --ramp-up 3s --duration 25s --measure-after 8s --apm 60000 --conns 64 \
		--verify=false --logout=false --server-pid "$SPID" --id-prefix "$2"
}

# profiler: two servers on core 0 at once, one with --profiler=false; the
# generator alternates 1-s slices of one-action pings between them, so both
# see the same machine at nearly the same moments. The roles swap every run.
profiler() {
	say ""
	say "## Profiler on vs off: two servers on core 0, alternating 1-s slices of one-action pings (30 s)"
	say "| run | on: pings/s | off: pings/s | on: CPU µs/ping | off: CPU µs/ping | on/off rate | on/off CPU per ping |"
	say "|---|---|---|---|---|---|---|"
	local rr=() cr=()
	for i in $(seq "$REPEAT"); do
		local a=true b=false
		((i % 2 == 0)) && a=false b=true
		start_server "prof-$i-a" --profiler="$a"
		start_second "prof-$i-b" --profiler="$b"
		load "prof-$i" --mix target-vs-b --target-b "http://127.0.0.1:$((PORT + 2))" --conns 32 --duration 30s --slice 1s \
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
	local mr mc
	mr=$($Q median "${rr[@]}") mc=$($Q median "${cr[@]}")
	say "median on/off: rate $mr ($(awk -v r="$mr" 'BEGIN{printf "%+.1f%%", 100*(r-1)}')), CPU per ping $mc ($(awk -v r="$mc" 'BEGIN{printf "%+.1f%%", 100*(r-1)}')); goal within 3%"
}

# start_second NAME [serve flags...]: a second server on core 0, port
# PORT+2; SECOND_PID and SECOND_DATA say which (stop_server stops it too).
start_second() {
	local name=$1
	shift
	SECOND_DATA=$(mktemp -d "$BENCH_DATA/rampart-bench-data.XXXXXX")
	taskset -c 0 "$RAMPART" serve "${MONGO[@]}" --data-dir "$SECOND_DATA" --addr "127.0.0.1:$((PORT + 2))" \
		--log-format json --log-level warn "${OPEN_BUDGETS[@]}" "${SERVE_FLAGS[@]}" "$@" >"$OUT/$name.server.log" 2>&1 &
	SECOND_PID=$!
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$((PORT + 2))/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "second server did not start (see $OUT/$name.server.log)"
}

storm() {
	say ""
	say "## Login storm: 10,000 players at once (256 keep-alive connections, embedded S3 in the server process)"
	say "| run | players | all online after (s) | login p50 ms | p99 ms | max ms | server CPU |"
	say "|---|---|---|---|---|---|---|"
	local news=() olds=()
	for i in $(seq "$REPEAT"); do
		start_server "storm-$i"
		for kind in new existing; do
			# New players: S3 GET (404) + PUT If-None-Match. Existing (the
			# same ids, logged out and saved by the first storm): S3 GET,
			# decode, PUT If-Match.
			load "storm-$kind-$i" --players 10000 --ramp-up 0s --duration 15s --apm 0.01 --conns 256 \
				--verify=false --drain 120s --server-pid "$SPID" --id-prefix "storm$i"
			IFS=$'\t' read -r t p50 p99 mx c < <($Q "$OUT/storm-$kind-$i.json" all_online_s latency_ms.login.p50 latency_ms.login.p99 latency_ms.login.max server.cpu_load_pct)
			say "| $i | $kind | $t | $p50 | $p99 | $mx | $c% over 15 s |"
			if [[ $kind == new ]]; then news+=("$t"); else olds+=("$t"); fi
		done
		stop_server
	done
	say "median time until all 10,000 are online: new players $($Q median "${news[@]}") s, existing players $($Q median "${olds[@]}") s; goal <= 5 s"
}

half() {
	say ""
	say "## Latency at half load (standard mix, 2,000 players)"
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
	load half --players 2000 --ramp-up 5s --duration "$dur" --measure-after 20s --apm "$apm" --conns 64 \
		--verify=false --logout=false --server-pid "$SPID" --id-prefix h1
	stop_server
	IFS=$'\t' read -r t c p99 pr mx mr ap am cp < <($Q "$OUT/half.json" server.actions_per_s server.cpu_load_pct server.request_p99_ms server.request_p99_row \
		server.request_max_ms server.request_max_row server.all.p99_ms server.all.max_ms latency_ms.actions.p99)
	IFS=$'\t' read -r _ _ ap99 amax < <($Q row "$OUT/half.json" "POST /api/v1/actions")
	IFS=$'\t' read -r sp lm < <($Q "$OUT/half.json" server.sched_latency_p99_max_ms server.unhalted_load_max_pct)
	say "| measured | actions/s | server CPU mean / 10-s max | POST /api/v1/actions p99 / max ms | worst request row p99 / max ms | ALL row p99 / max ms | sched p99 max ms | client p99 ms |"
	say "|---|---|---|---|---|---|---|---|"
	say "| $HALF | ${t%.*} | $c% / $lm% | $ap99 / $amax | $p99 ($pr) / $mx ($mr) | $ap / $am | $sp | $cp |"
	say "goal: p99 <= 1 ms, max <= 20 ms (server-side, request rows)"
}

players() {
	say ""
	say "## Online players per core (standard mix, --apm 6, 256 pooled keep-alive connections)"
	say "pass: server-side request p99 <= 10 ms and max <= 100 ms, mean CPU load over the window < 50%"
	say "| players | ramp-up s | window s | actions/s | CPU load mean | 10-s load max | request p99 ms | request max ms | sched p99 max ms | client p99 ms | verdict |"
	say "|---|---|---|---|---|---|---|---|---|---|---|"
	local best=0 failed=
	for n in $STEPS; do
		local ramp=$(((n + LOGIN_RATE - 1) / LOGIN_RATE))
		((ramp < 10)) && ramp=10
		local after=$((ramp + 15))
		start_server "players-$n"
		load "players-$n" --players "$n" --ramp-up "${ramp}s" --duration "$((after + WINDOW))s" --measure-after "${after}s" \
			--apm 6 --conns 256 --verify=false --logout=false --drain 30s --server-pid "$SPID" --id-prefix "n$n"
		stop_server
		IFS=$'\t' read -r t c lm p99 mx sp cp online < <($Q "$OUT/players-$n.json" server.actions_per_s server.cpu_load_pct server.unhalted_load_max_pct \
			server.request_p99_ms server.request_max_ms server.sched_latency_p99_max_ms latency_ms.actions.p99 server.start.online)
		local verdict=pass
		if [[ $online != "$n" ]] || awk -v p="$p99" -v m="$mx" -v c="$c" 'BEGIN{exit !(p=="-" || p>10 || m>100 || c>=50)}'; then
			verdict=FAIL
		fi
		say "| $n | $ramp | $WINDOW | ${t%.*} | $c% | $lm% | $p99 | $mx | $sp | $cp | $verdict (online at window start: $online) |"
		if [[ $verdict == pass ]]; then
			((n > best)) && best=$n
		else
			failed=$n
			[[ -n ${BENCH_ALL_STEPS:-} ]] || break
		fi
	done
	say "largest passing step: $best players${failed:+; failed at $failed}; goal >= 50,000"
}

memory() {
	say ""
	say "## Server memory per idle online player (10,000 players, logged in, idle)"
	say "| players hold | heap B/player | stack B/player | heap+stack B | RSS B/player | goroutines/player |"
	say "|---|---|---|---|---|---|"
	for tr in ws http; do
		start_server "mem-$tr"
		load "mem-$tr" --transport "$tr" --players 10000 --ramp-up 20s --duration 60s --measure-after 40s --apm 0.001 \
			--conns 64 --verify=false --logout=false --server-mem --server-pid "$SPID" --id-prefix "m$tr"
		stop_server
		IFS=$'\t' read -r h s r g on < <($Q "$OUT/mem-$tr.json" server.heap_per_player_bytes server.stack_per_player_bytes server.rss_per_player_bytes \
			server.goroutines_per_player server.start.online)
		local what="a WebSocket each"
		[[ $tr == http ]] && what="no connection (HTTP players between requests)"
		say "| $what ($on online) | ${h%.*} | ${s%.*} | $(awk -v a="$h" -v b="$s" 'BEGIN{printf "%.0f", a+b}') | ${r%.*} | $g |"
	done
	say "goal: <= 20 KiB (20,480 B) per idle connected player, player state included"
}

{
	echo "# Rampart end-to-end benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version 2>/dev/null | cut -d' ' -f3-), $(uname -sr)"
	echo "server: taskset -c 0 rampart serve ${MONGO[*]} --data-dir <$BENCH_DATA/...> ${BENCH_SERVE_FLAGS:-}; generator: taskset -c 1 rampart loadtest"
	echo "MongoDB: $MONGO_DESC; journal on (<data-dir>/journal)"
	[[ ${BENCH_S3:-} == versitygw ]] && echo "S3: versitygw (posix backend on $BENCH_DATA) out of process, on core 1 beside the generator"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$SUMMARY"
echo "bench: results in $OUT"

sections=("$@")
((${#sections[@]})) || sections=(ratio ws profiler storm half players memory)
for s in "${sections[@]}"; do
	case $s in
	ratio | ws | profiler | storm | half | players | memory) "$s" ;;
	*) die "unknown section $s" ;;
	esac
done
say ""
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: summary in $SUMMARY"
