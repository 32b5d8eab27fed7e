#!/usr/bin/env bash
# shellcheck disable=SC2317 # the functions trap runs look unreachable to shellcheck
# make cluster: a three-server Rampart cluster on loopback, the way
# production runs one (deploy/README.md), with everything under ./data/cluster:
#   versitygw (S3)      127.0.0.1:7070   data/cluster/s3
#   FerretDB (MongoDB)  127.0.0.1:27018  data/cluster/mongo
#   rampart node1..3    127.0.0.1:8081..8083, cluster listeners :9081..9083,
#                       data/cluster/node1..3
#   haproxy             127.0.0.1:8080 (players), 127.0.0.1:8404/haproxy (stats)
# Logs are in data/cluster/logs. Ctrl-C stops everything (servers first, so
# they save to the stores before the stores go), as does any piece dying;
# a server drained with `kill -TERM <pid>` leaves the others running.
#
# Every address can be moved with the environment: FRONT, STATS, S3_ADDR,
# MONGO_ADDR, NODE_HOST, NODE_PORT_BASE (nodes at base+1..3), CLUSTER_PORT_BASE;
# CLUSTER_DATA moves the data, MAX_PLAYERS sets each server's --max-players.
set -euo pipefail

BIN=${BIN:-$PWD/bin}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
DATA=${CLUSTER_DATA:-$PWD/data/cluster}
FRONT=${FRONT:-127.0.0.1:8080}
STATS=${STATS:-127.0.0.1:8404}
S3_ADDR=${S3_ADDR:-127.0.0.1:7070}
MONGO_ADDR=${MONGO_ADDR:-127.0.0.1:27018}
NODE_HOST=${NODE_HOST:-127.0.0.1}
NODE_PORT_BASE=${NODE_PORT_BASE:-8080}
CLUSTER_PORT_BASE=${CLUSTER_PORT_BASE:-9080}
NODES=3
S3_ACCESS_KEY=rampart
CFG=$(cd "$(dirname "$0")" && pwd)/haproxy.cfg

for b in "$BIN/rampart" "$BIN/versitygw" "$BIN/ferretdb" "$HAPROXY"; do
	[[ -x $b ]] || { echo "cluster: $b missing (make cluster builds and installs it)" >&2; exit 1; }
done

mkdir -p "$DATA"/{s3,mongo,logs}
for i in $(seq $NODES); do mkdir -p "$DATA/node$i"; done

# The secrets every server shares, made once and kept (0600) so that a
# restart keeps sessions and the cluster's calls valid. Files rather than
# the environment: the servers read them with --…-file, nothing shows in ps.
secret() {
	local f=$DATA/$1
	if [[ ! -s $f ]]; then (umask 077 && head -c 32 /dev/urandom | base64 >"$f"); fi
	echo "$f"
}
S3_SECRET_FILE=$(secret s3.secret)
SESSION_SECRET_FILE=$(secret session.secret)
CLUSTER_SECRET_FILE=$(secret cluster.secret)
ADMIN_TOKEN_FILE=$(secret admin.token)

# Children get process groups of their own (job control), so a Ctrl-C
# reaches only this script, which stops them in order.
set -m
declare -A NAME # pid → piece
NODE_PIDS=() STORE_PIDS=() HAPROXY_PID=

start() { # start NAME CMD...: run CMD in the background, logging to logs/NAME.log
	local name=$1
	shift
	"$@" >>"$DATA/logs/$name.log" 2>&1 &
	NAME[$!]=$name
	LAST_PID=$!
}

stop() { # stop PID...: SIGTERM, then SIGKILL after 60s (a server's drain: requests, async work, then up to 30s of saves)
	local pid deadline=$((SECONDS + 60))
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		while kill -0 "$pid" 2>/dev/null; do
			if ((SECONDS > deadline)); then
				echo "cluster: ${NAME[$pid]} did not stop, killing it" >&2
				kill -KILL "$pid" 2>/dev/null || true
			fi
			sleep 0.2
		done
		wait "$pid" 2>/dev/null || true
	done
}

cleanup() {
	trap - EXIT INT TERM
	set +m # no "Terminated" notice per child
	echo "cluster: stopping"
	[[ -n $HAPROXY_PID ]] && stop "$HAPROXY_PID"
	((${#NODE_PIDS[@]})) && stop "${NODE_PIDS[@]}"
	((${#STORE_PIDS[@]})) && stop "${STORE_PIDS[@]}"
	echo "cluster: stopped; data and logs kept in $DATA"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for() { # wait_for NAME PID CHECK...: until CHECK succeeds, the process exits or 30s pass
	local name=$1 pid=$2 deadline=$((SECONDS + 30))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "cluster: $name exited while starting; last lines of $DATA/logs/$name.log:" >&2
			tail -n 20 "$DATA/logs/$name.log" >&2
			exit 1
		fi
		if ((SECONDS > deadline)); then
			echo "cluster: $name not up after 30s; see $DATA/logs/$name.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}
listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

start versitygw env ROOT_ACCESS_KEY_ID="$S3_ACCESS_KEY" ROOT_SECRET_ACCESS_KEY="$(cat "$S3_SECRET_FILE")" \
	"$BIN/versitygw" --port "$S3_ADDR" --keep-alive --quiet posix "$DATA/s3"
STORE_PIDS+=("$LAST_PID")
wait_for versitygw "$LAST_PID" listening "$S3_ADDR"

# --telemetry=disable: never report to beacon.ferretdb.com; --debug-addr=-:
# no metrics listener (its default port would clash with anything else).
start ferretdb "$BIN/ferretdb" --handler=sqlite --sqlite-url="file:$DATA/mongo/" \
	--listen-addr="$MONGO_ADDR" --state-dir="$DATA/mongo" --debug-addr=- --telemetry=disable --log-level=warn
STORE_PIDS+=("$LAST_PID")
wait_for ferretdb "$LAST_PID" listening "$MONGO_ADDR"

# Until the server has its cluster flags (issue #14), the nodes start as
# independent servers on the shared stores, and say so.
CLUSTER=1
usage=$("$BIN/rampart" serve --help 2>&1 || true) # not piped into grep -q: its early exit would SIGPIPE rampart
if [[ $usage != *-cluster-addr* ]]; then
	CLUSTER=
	echo "cluster: WARNING: this bin/rampart has no --cluster-addr; starting $NODES independent servers on the shared stores (no forwarding or handoff between them)" >&2
fi

for i in $(seq $NODES); do
	addr=$NODE_HOST:$((NODE_PORT_BASE + i))
	args=(serve --addr "$addr" --data-dir "$DATA/node$i"
		--s3-endpoint "http://$S3_ADDR" --s3-access-key "$S3_ACCESS_KEY" --s3-secret-key-file "$S3_SECRET_FILE"
		--mongo-uri "mongodb://$MONGO_ADDR/"
		--session-secret-file "$SESSION_SECRET_FILE" --admin-token-file "$ADMIN_TOKEN_FILE"
		--trusted-proxies 127.0.0.1/32
		--dev-login) # the development door (POST /api/v1/login with any player_id): loopback only
	if [[ -n $CLUSTER ]]; then
		args+=(--cluster-addr "$NODE_HOST:$((CLUSTER_PORT_BASE + i))" --cluster-secret-file "$CLUSTER_SECRET_FILE"
			--max-players "${MAX_PLAYERS:-0}") # 0: unbounded; MAX_PLAYERS=2 make cluster shows a full server
	fi
	start "node$i" "$BIN/rampart" "${args[@]}"
	NODE_PIDS+=("$LAST_PID")
	# One at a time: the first creates the bucket and the MongoDB indexes.
	wait_for "node$i" "$LAST_PID" curl -fsS "http://$addr/readyz"
done

start haproxy env RAMPART_HAPROXY_BIND="$FRONT" RAMPART_HAPROXY_STATS="$STATS" RAMPART_HAPROXY_LOG=stdout \
	RAMPART_NODE1="$NODE_HOST:$((NODE_PORT_BASE + 1))" RAMPART_NODE2="$NODE_HOST:$((NODE_PORT_BASE + 2))" \
	RAMPART_NODE3="$NODE_HOST:$((NODE_PORT_BASE + 3))" "$HAPROXY" -db -f "$CFG"
HAPROXY_PID=$LAST_PID
wait_for haproxy "$LAST_PID" curl -fsS "http://$FRONT/readyz"

cat <<EOF
cluster: up
  players      http://$FRONT (haproxy; the game at http://$FRONT/)
  stats        http://$STATS/haproxy, Prometheus metrics at http://$STATS/metrics
  servers      $(for i in $(seq $NODES); do printf 'http://%s:%d ' "$NODE_HOST" $((NODE_PORT_BASE + i)); done)
  S3           http://$S3_ADDR (versitygw, access key $S3_ACCESS_KEY, secret in $S3_SECRET_FILE)
  MongoDB      mongodb://$MONGO_ADDR/ (FerretDB on SQLite)
  admin token  $ADMIN_TOKEN_FILE (Authorization: Bearer, /admin/v1/ on any server)
  data, logs   $DATA, $DATA/logs
  drain one    kill -TERM ${NODE_PIDS[1]} (node2: /readyz 503, haproxy moves its players, it exits)
Ctrl-C stops everything.
EOF

# Any piece dying ends the cluster. A server that drained and exited
# cleanly (kill -TERM its pid) is the exception: the others carry on and
# haproxy sends its players to them.
while true; do
	status=0
	wait -n -p died || status=$?
	name=${NAME[$died]:-}
	if [[ $name == node* && $status == 0 ]]; then
		left=()
		for pid in "${NODE_PIDS[@]}"; do [[ $pid == "$died" ]] || left+=("$pid"); done
		NODE_PIDS=("${left[@]}")
		if ((${#NODE_PIDS[@]})); then
			echo "cluster: $name drained and exited; the other servers carry on"
			continue
		fi
	fi
	echo "cluster: ${name:-a piece} exited (status $status); see $DATA/logs/$name.log" >&2
	exit 1
done
