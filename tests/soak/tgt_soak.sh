#!/usr/bin/env bash
# The spio_tgt soak (issue 17): one spio_tgt, for SOAK_S seconds at once
#  - host loops: short spio_nvme_perf --verify runs (a few seconds each, so
#    every run connects and disconnects) against a stable subsystem, one
#    loop per namespace (verify writes must not overlap), sizes, qpair counts
#    and digests varied run by run; spio_identify now and then;
#  - an RPC churn loop with spio_rpc: malloc bdevs, an lvstore, thick and
#    thin lvols, a snapshot and a clone, a subsystem with them as namespaces
#    and a listener (its own port or the stable one's, in turn), identify and
#    a short verified perf run on it every third time, then all of it
#    deleted again (those times with a host doing I/O on it, every other of
#    them with the thin lvol deleted under its namespace first); every reply
#    checked;
#  - a sampler of the target's VmRSS every second.
# At the end: the target holds only the stable objects, SIGTERM makes it exit
# 0 within STOP_S, no sanitizer report (ASan/LSan, UBSan, TSan: log_path
# files and outputs of the target and of every tool run), every loop's error
# count 0, and the RSS at the end within 10 % of the RSS after warm-up (the
# first third), both taken at the same point of the churn (see step 5).
# Prints one JSON object with the figures; exits 1 saying what failed.
#
# Usage: tgt_soak.sh [BUILD_DIR]   (default build/lead; ASan+UBSan for leaks)
# Environment: SOAK_S (seconds, default 300), SOAK_HOSTS (host loops, 1..4,
# default 2), SOAK_RPC (the spio_rpc to churn with, default BUILD_DIR's),
# SOAK_KEEP=1 keeps the scratch directory, SOAK_LOCK=FILE: flock FILE while
# copying the programs out of BUILD_DIR (the shared build lock).
set -uo pipefail

BUILD=${1:-build/lead}
SOAK_S=${SOAK_S:-300}
HOSTS=${SOAK_HOSTS:-2}
STOP_S=30
TGT=$BUILD/spio_tgt
RPC=$BUILD/spio_rpc
PERF=$BUILD/spio_nvme_perf
IDENTIFY=$BUILD/spio_identify
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
TMP=$(mktemp -d /tmp/spio-tgt-soak.XXXXXX)
SOCK=$TMP/rpc.sock
PID=
LOOPS=()

die() {
	echo "tgt_soak: FAIL: $*" >&2
	exit 1
}

cleanup() {
	local p
	touch "$TMP/stop" 2>/dev/null
	for p in "${LOOPS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
	fi
	wait 2>/dev/null
	if [ "${SOAK_KEEP:-0}" = 1 ]; then
		echo "tgt_soak: scratch directory kept: $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

{ [[ $SOAK_S =~ ^[0-9]+$ ]] && [ "$SOAK_S" -ge 10 ]; } || die "SOAK_S=$SOAK_S: expected whole seconds >= 10"
[[ $HOSTS =~ ^[1-4]$ ]] || die "SOAK_HOSTS=$HOSTS: expected 1..4"
for b in "$TGT" "$RPC" "$PERF" "$IDENTIFY"; do
	[ -x "$b" ] || die "$b not built"
done
# Run copies: a rebuild of BUILD_DIR during a long run must not swap the
# programs or libspio.so under it (LD_LIBRARY_PATH goes before their
# RUNPATH). SOAK_LOCK: a lock file the builds hold, taken for the copy.
# SOAK_RPC: another spio_rpc for the churn, with its own libspio.so from its
# directory (a release one starts in a tenth of the time of an ASan one).
RPC=${SOAK_RPC:-$RPC}
[ -x "$RPC" ] || die "SOAK_RPC=$RPC: not a program"
mkdir "$TMP/bin" "$TMP/rpcbin" || die "cannot make $TMP/bin"
copy_bins() {
	local rdir
	rdir=$(dirname "$RPC")
	cp "$TGT" "$PERF" "$IDENTIFY" "$TMP/bin/" && cp "$RPC" "$TMP/rpcbin/spio_rpc" &&
		{ ! ls "$BUILD"/libspio.so* >/dev/null 2>&1 || cp -P "$BUILD"/libspio.so* "$TMP/bin/"; } &&
		{ ! ls "$rdir"/libspio.so* >/dev/null 2>&1 || cp -P "$rdir"/libspio.so* "$TMP/rpcbin/"; }
}
if [ -n "${SOAK_LOCK:-}" ]; then
	(flock -w 600 9 || exit 1; copy_bins) 9>"$SOAK_LOCK" || die "cannot copy the programs (lock $SOAK_LOCK)"
else
	copy_bins || die "cannot copy the programs"
fi
TGT=$TMP/bin/spio_tgt
RPC=$TMP/rpcbin/spio_rpc
PERF=$TMP/bin/spio_nvme_perf
IDENTIFY=$TMP/bin/spio_identify
export LD_LIBRARY_PATH=$TMP/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
command -v "$PY" >/dev/null || die "python3 not found (free port, JSON)"

# Sanitizer reports go to files under $TMP (checked at the end) as well as
# being looked for in every output. ASan keeps freed memory in a quarantine
# (256 MiB by default) that reads as RSS growth: 4 MiB keeps the use-after-
# free checks and makes the RSS figure mean something. halt_on_error: an UBSan report ends
# the process, so it cannot go unseen.
SANITIZER=none
if grep -Eq '^SPIO_SANITIZE:STRING=.*address' "$BUILD/CMakeCache.txt" 2>/dev/null; then
	SANITIZER=address
elif grep -Eq '^SPIO_SANITIZE:STRING=.*thread' "$BUILD/CMakeCache.txt" 2>/dev/null; then
	SANITIZER=thread
fi
# san LOG_PREFIX CMD...: exec CMD (in the caller's subshell or process) with
# the sanitizers' reports going to LOG_PREFIX.PID.
san() {
	local log=$1
	shift
	export ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=4:log_path=$log
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$log
	export TSAN_OPTIONS=log_path=$log
	exec "$@"
}
SAN_RE='ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|WARNING: ThreadSanitizer|runtime error:|Sanitizer has encountered a fatal error'

PORT=$("$PY" -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))') || die "no free port"
read -r PORT PORT2 <<<"$PORT"
NQN=nqn.2016-06.io.spdk-io:soak-stable
CNQN=nqn.2016-06.io.spdk-io:soak-churn
TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN"
# The target on core 0, the hosts on core 1 where there is one.
HOST_CORE=0x1
HOST_CPU=0
if [ "$(nproc)" -ge 2 ]; then
	HOST_CORE=0x2
	HOST_CPU=1
fi

# rpc METHOD JSON: call, reply in file $R; on failure echo why. One byte per
# call in $TMP/rpcs counts them across the subshells.
rpc() {
	printf . >>"$TMP/rpcs"
	LD_LIBRARY_PATH=$TMP/rpcbin timeout 120 "$RPC" -s "$SOCK" -t 60 call "$1" "$2" >"$R" 2>"$R.err" || {
		echo "rpc $1 $2: exit $?: $(head -c 400 "$R.err")"
		return 1
	}
}
# check EXPR: a Python expression over the last reply `d` must hold.
check() {
	"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$R" "$1" 2>/dev/null || {
		echo "reply check '$1' failed on: $(head -c 400 "$R")"
		return 1
	}
}
stopping() { [ -e "$TMP/stop" ] || [ "$(date +%s)" -ge "$END" ]; }
# error LOOP MSG: count it and stop the soak early (the first error is the story).
error() {
	echo "$1: $2" >>"$TMP/errors"
	touch "$TMP/stop"
}

# perf_run LOOP DIR ARGS...: one spio_nvme_perf --verify run; exit status,
# miscompares, I/O errors and sanitizer output checked; totals added to
# DIR/totals ("runs ios bytes_verified").
perf_run() {
	local loop=$1 dir=$2 rc out
	shift 2
	(san "$TMP/san-host" timeout 120 "$PERF" -c "$HOST_CORE" --no-huge --json \
		--verify -w randwrite "$@") >"$dir/perf.json" 2>"$dir/perf.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		error "$loop" "spio_nvme_perf $*: exit $rc: $(tail -n 5 "$dir/perf.err" | tr '\n' ' ')"
		return 1
	fi
	if grep -Eq "$SAN_RE" "$dir/perf.err"; then
		error "$loop" "spio_nvme_perf $*: sanitizer: $(grep -m2 -E "$SAN_RE" "$dir/perf.err")"
		return 1
	fi
	out=$("$PY" - "$dir/perf.json" "$dir/totals" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["total"]
if t["miscompares"] or t["io_errors"] or t["reads"] == 0 or t["reads"] != t["writes"]:
    print("miscompares %d, I/O errors %d, reads %d, writes %d"
          % (t["miscompares"], t["io_errors"], t["reads"], t["writes"]))
    sys.exit(0)
try:
    runs, ios, vb = map(int, open(sys.argv[2]).read().split())
except OSError:
    runs, ios, vb = 0, 0, 0
open(sys.argv[2], "w").write("%d %d %d\n" % (runs + 1, ios + t["ios"], vb + t["reads"] * d["io_size"]))
PY
)
	if [ -n "$out" ] || [ ! -s "$dir/totals" ]; then
		error "$loop" "spio_nvme_perf $*: ${out:-no JSON result}"
		return 1
	fi
}

# identify_run LOOP DIR TRID NS: spio_identify must read the controller, and
# list NS namespaces (the discovery log: list $NQN when NS is "disc").
identify_run() {
	local loop=$1 dir=$2 trid=$3 ns=$4 rc n
	(san "$TMP/san-host" timeout 120 "$IDENTIFY" --no-huge -p "$HOST_CPU" -r "$trid") \
		>"$dir/id.txt" 2>"$dir/id.err"
	rc=$?
	if [ "$rc" -ne 0 ] || grep -Eq "$SAN_RE" "$dir/id.err"; then
		error "$loop" "spio_identify $trid: exit $rc: $(tail -n 3 "$dir/id.err" | tr '\n' ' ')"
		return 1
	fi
	if [ "$ns" = disc ]; then
		grep -Eq "^NVM Subsystem Qualified Name: *$NQN\$" "$dir/id.txt" || {
			error "$loop" "spio_identify: the discovery log does not list $NQN"
			return 1
		}
	else
		n=$(grep -c '^Namespace ID:' "$dir/id.txt")
		[ "$n" -eq "$ns" ] || {
			error "$loop" "spio_identify $trid: $n namespaces, expected $ns"
			return 1
		}
	fi
	echo $(($(cat "$dir/idruns" 2>/dev/null || echo 0) + 1)) >"$dir/idruns"
}

# Host loop $1: perf runs on namespace $1 + 1 of the stable subsystem.
host_loop() {
	local k=$1 dir=$TMP/host$1 i=0 sizes=(4096 65536 16384 131072) size qp dig
	mkdir -p "$dir"
	while ! stopping; do
		size=${sizes[i % 4]}
		qp=$((1 + i % 2))
		dig=()
		[ $((i % 3)) -eq 2 ] && dig=(-H -I)
		perf_run "host$k" "$dir" -r "$TRID ns:$((k + 1))" -q 16 -o "$size" -P "$qp" -t 2 "${dig[@]}" ||
			return
		if [ "$k" -eq 0 ] && [ $((i % 4)) -eq 3 ]; then
			identify_run host0 "$dir" "$TRID" "$HOSTS" || return
			identify_run host0 "$dir" "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT" disc ||
				return
		fi
		i=$((i + 1))
	done
}

# hot_start TRID: an unverified spio_nvme_perf in the background, returns
# once its workers run; hot_end: after its subsystem went, it must end with
# exit 1 (I/O failed), not hang, crash or report a sanitizer error.
hot_start() {
	local d=$TMP/churn
	(san "$TMP/san-host" timeout 60 "$PERF" -c "$HOST_CORE" --no-huge -r "$1" -q 16 -o 4096 \
		-w randrw -M 50 -t 30) >"$d/hot.out" 2>"$d/hot.err" &
	HOT=$!
	for _ in $(seq 1 200); do
		grep -q 'Launching workers' "$d/hot.out" && return 0
		kill -0 "$HOT" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$HOT" 2>/dev/null
	echo "hot-remove host did not start: $(tail -n 3 "$d/hot.err" | tr '\n' ' ')"
	return 1
}
hot_end() {
	local rc d=$TMP/churn
	wait "$HOT"
	rc=$?
	if [ "$rc" -ne 1 ] || grep -Eq "$SAN_RE" "$d/hot.err"; then
		echo "spio_nvme_perf losing its subsystem: exit $rc, expected 1: $(tail -n 3 "$d/hot.err" | tr '\n' ' ')"
		return 1
	fi
	echo $(($(cat "$d/hotruns" 2>/dev/null || echo 0) + 1)) >"$d/hotruns"
}

# One churn iteration $1: build, use, check and delete; echo the failure.
churn_once() {
	local i=$1 port=$PORT lvs thick snap clone ctrid
	[ $((i % 2)) -eq 0 ] && port=$PORT2
	rpc bdev_malloc_create '{"name": "SoakM", "num_blocks": 8192, "block_size": 4096}' || return
	rpc bdev_malloc_create '{"name": "SoakN", "num_blocks": 1024, "block_size": 512}' || return
	rpc bdev_lvol_create_lvstore '{"bdev_name": "SoakM", "lvs_name": "soaklvs", "cluster_sz": 1048576}' || return
	lvs=$(tr -d '"\n' <"$R")
	[[ $lvs =~ ^[0-9a-f-]{36}$ ]] || { echo "bdev_lvol_create_lvstore: no uuid: $(cat "$R")"; return 1; }
	rpc bdev_lvol_create '{"lvs_name": "soaklvs", "lvol_name": "thick", "size_in_mib": 4}' || return
	thick=$(tr -d '"\n' <"$R")
	rpc bdev_lvol_create '{"lvs_name": "soaklvs", "lvol_name": "thin", "size_in_mib": 8, "thin_provision": true}' || return
	rpc bdev_lvol_snapshot '{"lvol_name": "soaklvs/thick", "snapshot_name": "snap"}' || return
	snap=$(tr -d '"\n' <"$R")
	rpc bdev_lvol_clone '{"snapshot_name": "soaklvs/snap", "clone_name": "clone"}' || return
	clone=$(tr -d '"\n' <"$R")
	rpc bdev_lvol_get_lvols '{"lvs_name": "soaklvs"}' || return
	check "sorted(l['name'] for l in d) == ['clone', 'snap', 'thick', 'thin'] and [l['is_clone'] for l in d if l['name'] == 'clone'] == [True] and [l['is_thin_provisioned'] for l in d if l['name'] == 'thin'] == [True]" || return
	rpc nvmf_create_subsystem "{\"nqn\": \"$CNQN\", \"allow_any_host\": true, \"serial_number\": \"SOAKCHURN$i\"}" || return
	rpc nvmf_subsystem_add_ns "{\"nqn\": \"$CNQN\", \"namespace\": {\"bdev_name\": \"$thick\"}}" || return
	rpc nvmf_subsystem_add_ns "{\"nqn\": \"$CNQN\", \"namespace\": {\"bdev_name\": \"soaklvs/thin\"}}" || return
	rpc nvmf_subsystem_add_ns "{\"nqn\": \"$CNQN\", \"namespace\": {\"bdev_name\": \"$clone\"}}" || return
	rpc nvmf_subsystem_add_ns "{\"nqn\": \"$CNQN\", \"namespace\": {\"bdev_name\": \"SoakN\"}}" || return
	rpc nvmf_subsystem_add_listener "{\"nqn\": \"$CNQN\", \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": \"IPv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$port\"}}" || return
	rpc nvmf_get_subsystems "{\"nqn\": \"$CNQN\"}" || return
	check "len(d) == 1 and len(d[0]['namespaces']) == 4 and d[0]['listen_addresses'][0]['trsvcid'] == '$port'" || return
	ctrid="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$port subnqn:$CNQN"
	# every third iteration (the first too, for the short run): hosts on the
	# churned subsystem (lvol I/O, clone copy-on-write)
	if [ $((i % 3)) -eq 0 ]; then
		identify_run churn "$TMP/churn" "$ctrid" 4 || return
		perf_run churn "$TMP/churn" -r "$ctrid" -q 8 -o 4096 -t 5 -d 256 || return
	fi
	# then a host with I/O in flight while the subsystem goes, every other
	# time with the thin lvol deleted under its namespace first
	if [ $((i % 3)) -eq 0 ]; then
		hot_start "$ctrid" || return
		[ $((i % 6)) -eq 3 ] && { rpc bdev_lvol_delete '{"name": "soaklvs/thin"}' || return; }
	fi
	rpc nvmf_delete_subsystem "{\"nqn\": \"$CNQN\"}" || return
	if [ $((i % 3)) -eq 0 ]; then
		hot_end || return
	fi
	rpc bdev_lvol_delete "{\"name\": \"$clone\"}" || return
	if [ $((i % 6)) -ne 3 ]; then
		rpc bdev_lvol_delete '{"name": "soaklvs/thin"}' || return
	fi
	rpc bdev_lvol_delete "{\"name\": \"$thick\"}" || return
	rpc bdev_lvol_delete "{\"name\": \"$snap\"}" || return
	rpc bdev_lvol_get_lvols '{"lvs_name": "soaklvs"}' || return
	check "d == []" || return
	if [ $((i % 2)) -eq 0 ]; then
		rpc bdev_lvol_delete_lvstore '{"lvs_name": "soaklvs"}' || return
	else
		rpc bdev_lvol_delete_lvstore "{\"uuid\": \"$lvs\"}" || return
	fi
	rpc bdev_malloc_delete '{"name": "SoakM"}' || return
	rpc bdev_malloc_delete '{"name": "SoakN"}' || return
	rpc bdev_get_bdevs '{}' || return
	check "sorted(b['name'] for b in d) == $STABLE_BDEVS" || return
	rpc nvmf_get_subsystems '{}' || return
	check "sorted(s['nqn'] for s in d) == ['nqn.2014-08.org.nvmexpress.discovery', '$NQN']" || return
}

# RSS: the sampler writes "seconds-since-start KiB" every second to
# $TMP/rss; the churn loop writes one to $TMP/rss_phase at the top of each
# iteration, when none of its objects exist (its 32 MiB malloc bdev alone
# swings the RSS by a quarter; the warm and end figures use these samples).
rss_sample() {
	local kib
	kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status" 2>/dev/null)
	[ -n "$kib" ] && echo "$(($(date +%s) - START)) $kib" >>"$1"
}
rss_at_phase() { rss_sample "$TMP/rss_phase"; }
sampler() {
	while kill -0 "$PID" 2>/dev/null && [ ! -e "$TMP/stop_sampler" ]; do
		rss_sample "$TMP/rss"
		sleep 1
	done
}

# 1. The target: a private socket, the TCP transport and the stable
# subsystem (one 32 MiB malloc namespace per host loop) made by RPC.
# (a subshell that execs: $! is the target's pid)
(san "$TMP/san-tgt" "$TGT" -m 0x1 -r "$SOCK" --no-huge) >"$TMP/tgt.out" 2>&1 &
PID=$!
for _ in $(seq 1 400); do
	[ -S "$SOCK" ] && grep -q ready "$TMP/tgt.out" && break
	kill -0 "$PID" 2>/dev/null || die "spio_tgt exited during start-up: $(tail -n 5 "$TMP/tgt.out")"
	sleep 0.05
done
[ -S "$SOCK" ] || die "spio_tgt not ready in 20 s"
R=$TMP/reply
setup() {
	local k
	rpc nvmf_create_transport '{"trtype": "TCP"}' || return
	rpc nvmf_create_subsystem "{\"nqn\": \"$NQN\", \"allow_any_host\": true, \"serial_number\": \"SOAKSTABLE0001\"}" || return
	for k in $(seq 1 "$HOSTS"); do
		rpc bdev_malloc_create "{\"name\": \"Stable$k\", \"num_blocks\": 65536, \"block_size\": 512}" || return
		rpc nvmf_subsystem_add_ns "{\"nqn\": \"$NQN\", \"namespace\": {\"nsid\": $k, \"bdev_name\": \"Stable$k\"}}" || return
	done
	rpc nvmf_subsystem_add_listener "{\"nqn\": \"$NQN\", \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": \"IPv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$PORT\"}}" || return
	rpc nvmf_subsystem_add_listener "{\"nqn\": \"nqn.2014-08.org.nvmexpress.discovery\", \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": \"IPv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$PORT\"}}" || return
}
msg=$(setup) || die "set-up: $msg"
STABLE_BDEVS=$("$PY" -c "print(sorted('Stable%d' % k for k in range(1, $HOSTS + 1)))")

# 2. The loops, all at once, until END or the first error (which stops them all).
START=$(date +%s)
END=$((START + SOAK_S))
sampler &
SAMPLER=$!
for k in $(seq 0 $((HOSTS - 1))); do
	host_loop "$k" &
	LOOPS+=($!)
done
(
	R=$TMP/churn/reply
	i=0
	mkdir -p "$TMP/churn"
	while ! stopping; do
		rss_at_phase
		if ! msg=$(churn_once "$i"); then
			error churn "iteration $i: ${msg:-failed}"
			break
		fi
		i=$((i + 1))
		echo "$i" >"$TMP/churn/iterations"
	done
) &
LOOPS+=($!)
for p in "${LOOPS[@]}"; do
	wait "$p"
done
LOOPS=()
DURATION=$(($(date +%s) - START))
# From here a failure is noted in $TMP/failures, the checks go on, and the
# figures are printed with errors = the number of failures.
failed() { echo "$*" >>"$TMP/failures"; }
[ -s "$TMP/errors" ] && cat "$TMP/errors" >>"$TMP/failures"

# 3. Left behind: only the stable objects; the counters.
R=$TMP/reply
final() {
	rpc bdev_get_bdevs '{}' || return
	check "sorted(b['name'] for b in d) == $STABLE_BDEVS" || return
	rpc bdev_lvol_get_lvstores '{}' || return
	check "d == []" || return
	rpc nvmf_get_subsystems '{}' || return
	check "len(d) == 2" || return
	rpc nvmf_get_stats '{}' || return
	cp "$R" "$TMP/stats.json"
}
if ! kill -0 "$PID" 2>/dev/null; then
	failed "spio_tgt died during the soak: $(tail -n 20 "$TMP/tgt.out")"
	PID=
else
	msg=$(final) || failed "after the soak: $msg"
	sleep 1
	rss_at_phase
fi
touch "$TMP/stop_sampler"
wait "$SAMPLER"

# 4. SIGTERM: exit 0 within STOP_S; then no sanitizer report anywhere.
if [ -n "$PID" ]; then
	kill -TERM "$PID"
	for _ in $(seq 1 $((STOP_S * 10))); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		failed "spio_tgt still running $STOP_S s after SIGTERM"
		kill -ABRT "$PID"
	fi
	wait "$PID"
	rc=$?
	PID=
	[ "$rc" -eq 0 ] || failed "spio_tgt exited with $rc after SIGTERM, expected 0"
	[ ! -e "$SOCK" ] || failed "spio_tgt left its socket behind"
fi
for f in "$TMP"/san-*; do
	[ -e "$f" ] && failed "sanitizer report in $(basename "$f"): $(head -n 40 "$f")"
done
grep -Eq "$SAN_RE" "$TMP/tgt.out" && failed "spio_tgt: $(grep -m3 -E "$SAN_RE" "$TMP/tgt.out")"
if [ -s "$TMP/failures" ]; then
	grep -Eq '^ *(error|ERROR)|Sanitizer' "$TMP/tgt.out" &&
		echo "tgt_soak: spio_tgt's errors: $(grep -m 10 -E 'error|Sanitizer' "$TMP/tgt.out")" >&2
fi

# 5. Figures. RSS at start: the first sample (set-up done, no host yet);
# warm: the median of the churn-phase samples in the window of a tenth of
# the run (at least 3 samples) ending at the first third; end: the median of
# those in the last window (its last sample taken after the loops ended).
"$PY" - "$TMP" "$DURATION" "$SANITIZER" "$HOSTS" <<'PY' || exit 1
import glob, json, os, statistics, sys

tmp, duration, sanitizer, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def samples(name):
    try:
        return [tuple(map(int, l.split())) for l in open(os.path.join(tmp, name)) if l.strip()]
    except OSError:
        return []

rss, phase = samples("rss") or [(0, 0)], samples("rss_phase") or [(0, 0)]
win = max(duration / 10, 1)
warm_s = [k for t, k in phase if duration / 3 - win <= t <= duration / 3]
end_s = [k for t, k in phase if t >= duration - win]
# few iterations in a short run: at least the 3 nearest samples
if len(warm_s) < 3:
    warm_s = [k for t, k in sorted(phase, key=lambda p: abs(p[0] - duration / 3))[:3]]
if len(end_s) < 3:
    end_s = [k for _, k in phase[-3:]]
# a short run (the CTest one) on a loaded machine may see too few churn
# iterations for the RSS figures to mean anything: reported, not judged
rss_checked = len(phase) >= 6
warm, end = int(statistics.median(warm_s)), int(statistics.median(end_s))
runs = ios = vb = ids = 0
for f in glob.glob(os.path.join(tmp, "*", "totals")):
    r, i, v = map(int, open(f).read().split())
    runs, ios, vb = runs + r, ios + i, vb + v
for f in glob.glob(os.path.join(tmp, "*", "idruns")):
    ids += int(open(f).read())
hot_f = os.path.join(tmp, "churn", "hotruns")
hot = int(open(hot_f).read()) if os.path.exists(hot_f) else 0
try:
    stats = json.load(open(os.path.join(tmp, "stats.json")))
    conns = sum(g["admin_qpairs"] + g["io_qpairs"] for g in stats["poll_groups"])
except OSError:
    conns = None
try:
    fails = open(os.path.join(tmp, "failures")).read().splitlines()
except OSError:
    fails = []
rpcs = os.path.getsize(os.path.join(tmp, "rpcs"))
iters = int(open(os.path.join(tmp, "churn", "iterations")).read()) if os.path.exists(
    os.path.join(tmp, "churn", "iterations")) else 0
growth = (end - warm) / warm if warm else 0.0
out = {
    "duration_s": duration, "connections": conns, "ios": ios, "bytes_verified": vb,
    "rpcs": rpcs, "rss_start_kib": rss[0][1], "rss_warm_kib": warm, "rss_end_kib": end,
    "errors": 0, "perf_runs": runs, "identify_runs": ids, "hot_removes": hot, "churn_iterations": iters,
    "host_loops": hosts, "rss_max_kib": max(k for _, k in rss), "rss_samples": len(rss), "rss_phase_samples": len(phase),
    "rss_growth_pct": round(100 * growth, 2), "rss_checked": rss_checked, "sanitizer": sanitizer,
}
if rss_checked and growth > 0.10:
    fails.append("RSS grew %.1f %% after warm-up (%d -> %d KiB), bound 10 %%" % (100 * growth, warm, end))
if not rss_checked and duration >= 120:
    fails.append("only %d RSS samples at the churn phase in %d s" % (len(phase), duration))
if iters == 0:
    fails.append("no churn iteration completed")
if runs == 0 or vb == 0:
    fails.append("no verified I/O")
out["errors"] = len(fails)
print(json.dumps(out))
for f in fails:
    print("tgt_soak: FAIL: " + f, file=sys.stderr)
sys.exit(1 if fails else 0)
PY
