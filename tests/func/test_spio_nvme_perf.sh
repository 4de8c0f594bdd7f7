#!/usr/bin/env bash
# spio_nvme_perf end to end against the fake NVMe/TCP target
# (build/tests/fake_nvmf_tgt): a 2-second randrw run with --json (nonzero
# IOPS, reads and writes, one device per namespace and core, the live line),
# the text table, -d (an exact I/O count), --verify, digests (-H -I), SIGINT
# (results so far, exit 0), and bad options (a message and exit 1, no crash).
#
# Usage: test_spio_nvme_perf.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
NAME=test_spio_nvme_perf
PERF=$BUILD/spio_nvme_perf
FAKE=$BUILD/tests/fake_nvmf_tgt
TMP=$(mktemp -d /tmp/spio-nvme-perf-test.XXXXXX)
FAKE_PID=
PID=

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/out" ] && sed 's/^/  stdout: /' "$TMP/out" >&2
	[ -f "$TMP/err" ] && sed 's/^/  stderr: /' "$TMP/err" >&2
	exit 1
}

cleanup() {
	local p
	for p in "$PID" "$FAKE_PID"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -x "$FAKE" ]; then
	echo "$NAME: SKIP: $FAKE not built (the fake NVMe/TCP target)"
	exit 77
fi
command -v python3 >/dev/null || {
	echo "$NAME: SKIP: python3 not found"
	exit 77
}
[ -x "$PERF" ] || fail "$PERF not built"

# The fake: two namespaces of 64 MiB, digests granted when asked for.
"$FAKE" --port 0 --namespaces 2 --digests >"$TMP/fake.out" 2>"$TMP/fake.err" &
FAKE_PID=$!
for _ in $(seq 100); do
	grep -q '^port ' "$TMP/fake.out" && break
	kill -0 "$FAKE_PID" 2>/dev/null || fail "fake_nvmf_tgt exited: $(cat "$TMP/fake.err")"
	sleep 0.1
done
PORT=$(awk '/^port /{print $2; exit}' "$TMP/fake.out")
[ -n "$PORT" ] || fail "fake_nvmf_tgt printed no 'port N' in 10 s"
SUBNQN=nqn.2016-06.io.spio:fake
TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$SUBNQN"

MASK=0x1
NCORES=1
if [ "$(nproc)" -ge 2 ]; then
	MASK=0x3
	NCORES=2
fi

run() {
	timeout 120 "$PERF" "$@" >"$TMP/out" 2>"$TMP/err"
}

# Evaluate Python expression $2 on the JSON document in file $1.
json_get() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# 1. randrw for 2 seconds, JSON result.
run -r "$TRID" -c "$MASK" -q 8 -o 4096 -w randrw -M 50 -t 2 --json
rc=$?
[ "$rc" -eq 0 ] || fail "randrw -t 2: exit $rc, expected 0"
iops=$(json_get "$TMP/out" 'd["total"]["iops"]') || fail "randrw: stdout is not one JSON object"
ndev=$(json_get "$TMP/out" 'len(d["devices"])')
reads=$(json_get "$TMP/out" 'd["total"]["reads"]')
writes=$(json_get "$TMP/out" 'd["total"]["writes"]')
errs=$(json_get "$TMP/out" 'd["total"]["io_errors"]')
p99=$(json_get "$TMP/out" 'd["total"]["p99_lat_us"]')
awk -v v="$iops" 'BEGIN { exit !(v > 0) }' || fail "randrw: total IOPS $iops, expected > 0"
[ "$ndev" -eq $((2 * NCORES)) ] ||
	fail "randrw: $ndev devices, expected $((2 * NCORES)) (2 namespaces x $NCORES cores)"
if [ "$reads" -eq 0 ] || [ "$writes" -eq 0 ]; then
	fail "randrw -M 50: $reads reads, $writes writes, expected both > 0"
fi
[ "$errs" -eq 0 ] || fail "randrw: $errs I/O errors, expected 0"
awk -v v="$p99" 'BEGIN { exit !(v > 0) }' || fail "randrw: p99 latency $p99, expected > 0"
grep -Eq '^ +1\.[0-9]{2} s: +[0-9]+ IOPS, +[0-9.]+ MiB/s$' "$TMP/err" ||
	fail "randrw: no live line '  1.00 s: N IOPS, X MiB/s' on stderr"
grep -q "^Attached to NVMeoF Controller at TCP (addr:127.0.0.1 subnqn:$SUBNQN)" "$TMP/err" ||
	fail "randrw --json: no 'Attached to' line on stderr"
echo "ok: randrw -t 2 on $NCORES core(s): $iops IOPS, p99 $p99 us"

# 2. The text table, and -d: each device stops after exactly 100 I/Os.
run -r "$TRID" -c "$MASK" -q 4 -o 4k -w randread -t 60 -d 100
rc=$?
[ "$rc" -eq 0 ] || fail "-d 100: exit $rc, expected 0"
grep -q "^Device Information *: *IOPS *MiB/s *Average *min *max *p50 *p99 *p99.9$" "$TMP/out" ||
	fail "-d 100: no table header"
ROW="^TCP \(addr:127.0.0.1 subnqn:$SUBNQN\) NSID [12] from core +[0-9]+:( +[0-9]+\.[0-9]{2}){8}$"
rows=$(grep -Ec "$ROW" "$TMP/out")
[ "$rows" -eq $((2 * NCORES)) ] || fail "-d 100: $rows device rows, expected $((2 * NCORES))"
grep -Eq "^Total +:( +[0-9]+\.[0-9]{2}){8}$" "$TMP/out" || fail "-d 100: no Total row"
grep -q "^Initialization complete. Launching workers.$" "$TMP/out" ||
	fail "-d 100: no 'Initialization complete' line"
run -r "$TRID" -c "$MASK" -q 4 -o 4k -w randread -t 60 -d 100 --json
ios=$(json_get "$TMP/out" 'd["total"]["ios"]') || fail "-d 100 --json: not JSON"
[ "$ios" -eq $((200 * NCORES)) ] || fail "-d 100: $ios I/Os, expected $((200 * NCORES))"
echo "ok: -d 100: $ios I/Os in all, table printed"

# 3. --verify: writes read back and compared, no miscompare.
run -r "$TRID" -c "$MASK" -q 16 -o 8k -w randwrite -t 1 --verify --json
rc=$?
[ "$rc" -eq 0 ] || fail "--verify: exit $rc, expected 0"
mis=$(json_get "$TMP/out" 'd["total"]["miscompares"]')
ios=$(json_get "$TMP/out" 'd["total"]["ios"]')
reads=$(json_get "$TMP/out" 'd["total"]["reads"]')
[ "$mis" -eq 0 ] || fail "--verify: $mis miscompares"
[ "$reads" -gt 0 ] || fail "--verify: no read-back ($ios I/Os)"
echo "ok: --verify: $ios I/Os, 0 miscompares"

# 4. Header and data digests.
run -r "$TRID" -q 4 -o 16k -w rw -M 50 -t 1 -H -I -P 2 --json
rc=$?
[ "$rc" -eq 0 ] || fail "-H -I -P 2: exit $rc, expected 0"
ios=$(json_get "$TMP/out" 'd["total"]["ios"]')
[ "$ios" -gt 0 ] || fail "-H -I: no I/O completed"
echo "ok: -H -I -P 2: $ios I/Os"

# 5. SIGINT stops the run early; the results so far are printed.
timeout 120 "$PERF" -r "$TRID" -q 4 -o 4k -w randread -t 60 >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 200); do
	grep -q 'Launching workers' "$TMP/out" && break
	sleep 0.1
done
sleep 1
kill -INT "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" -eq 0 ] || fail "SIGINT: exit $rc, expected 0"
grep -q '^Total ' "$TMP/out" || fail "SIGINT: no Total row"
echo "ok: SIGINT: results printed, exit 0"

# 6. Bad options and an unreachable controller: a message, exit 1.
expect_fail() {
	local what=$1 pattern=$2 rc
	shift 2
	timeout 60 "$PERF" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -eq 1 ] || fail "$what: exit $rc, expected 1"
	grep -Eq -- "$pattern" "$TMP/err" || fail "$what: no message matching '$pattern'"
}
expect_fail "no -q" "missing -q" -r "$TRID" -o 4096 -w read -t 1
expect_fail "no -r" "missing -r" -q 4 -o 4096 -w read -t 1
expect_fail "bad -w" "io pattern type must be one of" -r "$TRID" -q 4 -o 4096 -w sideways -t 1
expect_fail "rw without -M" "rwmixread. must be specified" -r "$TRID" -q 4 -o 4096 -w rw -t 1
expect_fail "-M 101" "-M 101: expected a number from 0 to 100" \
	-r "$TRID" -q 4 -o 4096 -w rw -M 101 -t 1
expect_fail "-q 0" "-q 0: expected" -r "$TRID" -q 0 -o 4096 -w read -t 1
expect_fail "-o 4097" "-o 4097: expected" -r "$TRID" -q 4 -o 4097 -w read -t 1
expect_fail "-t x" "-t x: expected" -r "$TRID" -q 4 -o 4096 -w read -t x
expect_fail "-d < -q" "less than -q" -r "$TRID" -q 8 -o 4096 -w read -t 1 -d 4
expect_fail "bad -c" "-c 0xg: expected a core mask" -r "$TRID" -q 4 -o 4096 -w read -t 1 -c 0xg
expect_fail "bad -r" "-r .*expected a transport ID" -r "trtype:NOPE traddr:x" -q 4 -o 4096 \
	-w read -t 1
expect_fail "unknown option" "unrecognized option" -r "$TRID" -q 4 -o 4096 -w read -t 1 --bogus
expect_fail "unsupported SPDK option" "-V: SPDK's option is not supported" \
	-r "$TRID" -q 4 -o 4096 -w read -t 1 -V
expect_fail "--verify -w read" "--verify needs a workload with writes" \
	-r "$TRID" -q 4 -o 4096 -w read -t 1 --verify
expect_fail "no such namespace" "has no active namespace 9" \
	-r "$TRID ns:9" -q 4 -o 4096 -w read -t 1
# a port nothing listens on: the one the fake had, after stopping it
kill -TERM "$FAKE_PID"
wait "$FAKE_PID"
FAKE_PID=
expect_fail "connection refused" "cannot connect to .*Connection refused" \
	-r "$TRID" -q 4 -o 4096 -w read -t 1
echo "ok: bad options and a refused connection: exit 1 with a message"
