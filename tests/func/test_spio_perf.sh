#!/usr/bin/env bash
# spio_perf end to end: randread on a null bdev (--json, IOPS > 0), verify on
# a malloc bdev (one job per core, zero miscompares), verify on a null bdev
# (miscompares -> exit 1), SIGINT -> results so far, bad options -> exit 2,
# an unknown bdev -> non-zero exit with a message.
#
# Usage: test_spio_perf.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
PERF=$BUILD/spio_perf
TMP=$(mktemp -d /tmp/spio-perf-test.XXXXXX)
PID=

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/out" ] && sed 's/^/  stdout: /' "$TMP/out" >&2
	[ -f "$TMP/err" ] && sed 's/^/  stderr: /' "$TMP/err" >&2
	exit 1
}

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$PERF" ] || fail "$PERF not built"

MASK=0x1
if [ "$(nproc)" -ge 2 ]; then
	MASK=0x3
fi

# 64 MiB malloc bdev, 1 GiB null bdev
cat >"$TMP/bdevs.json" <<'JSON'
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create",
   "params": {"name": "Malloc0", "num_blocks": 131072, "block_size": 512}},
  {"method": "bdev_null_create",
   "params": {"name": "Null0", "num_blocks": 262144, "block_size": 4096}}
]}]}
JSON

run() {
	"$PERF" -c "$TMP/bdevs.json" --no-huge "$@" >"$TMP/out" 2>"$TMP/err"
}

# Print field $2 (a Python expression on d) of the JSON document in file $1.
json_get() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# 1. randread qd 32 on the null bdev, JSON result.
run -b Null0 -q 32 -w randread -t 1 --json
rc=$?
[ "$rc" -eq 0 ] || fail "randread on Null0: exit $rc, expected 0"
iops=$(json_get "$TMP/out" 'd["total"]["iops"]') || fail "randread: stdout is not one JSON object"
njobs=$(json_get "$TMP/out" 'len(d["jobs"])')
bdev=$(json_get "$TMP/out" 'd["jobs"][0]["bdev"]')
p99=$(json_get "$TMP/out" 'd["total"]["p99_lat_us"]')
awk -v v="$iops" 'BEGIN { exit !(v > 0) }' || fail "randread: total IOPS $iops, expected > 0"
[ "$njobs" -eq 1 ] || fail "randread -m 0x1 -b Null0: $njobs jobs, expected 1"
[ "$bdev" = "Null0" ] || fail "randread: job bdev '$bdev', expected Null0"
awk -v v="$p99" 'BEGIN { exit !(v > 0) }' || fail "randread: p99 latency $p99, expected > 0"
grep -Eq '^ +1\.[0-9]{2} s: [0-9]+ IOPS, [0-9.]+ MiB/s$' "$TMP/err" ||
	fail "randread: no live line '  1.00 s: N IOPS, X MiB/s' on stderr"
echo "ok: randread qd 32 on Null0: $iops IOPS, p99 $p99 us"

# 2. verify on the malloc bdev, one job per core.
run -b Malloc0 -q 16 -w verify -t 2 -m "$MASK" --json
rc=$?
[ "$rc" -eq 0 ] || fail "verify on Malloc0 -m $MASK: exit $rc, expected 0"
mis=$(json_get "$TMP/out" 'd["total"]["miscompares"]') || fail "verify: stdout is not JSON"
err=$(json_get "$TMP/out" 'd["total"]["io_errors"]')
ios=$(json_get "$TMP/out" 'd["total"]["ios"]')
njobs=$(json_get "$TMP/out" 'len(d["jobs"])')
cores=$(json_get "$TMP/out" '",".join(str(j["core"]) for j in d["jobs"])')
[ "$mis" -eq 0 ] || fail "verify: $mis miscompares, expected 0"
[ "$err" -eq 0 ] || fail "verify: $err I/O errors, expected 0"
[ "$ios" -gt 0 ] || fail "verify: $ios I/Os, expected > 0"
if [ "$MASK" = 0x3 ]; then
	[ "$njobs" -eq 2 ] || fail "verify -m 0x3: $njobs jobs, expected 2"
	[ "$cores" = "0,1" ] || fail "verify -m 0x3: jobs on cores $cores, expected 0,1"
fi
echo "ok: verify on Malloc0 -m $MASK: $ios I/Os, 0 miscompares"

# 3. verify on a null bdev (reads return nothing written): miscompares, exit 1.
run -b Null0 -q 4 -w verify -t 1
rc=$?
[ "$rc" -eq 1 ] || fail "verify on Null0: exit $rc, expected 1 (miscompares)"
grep -q "miscompare: core 0 bdev Null0 offset [0-9]*.*expected [0-9a-f]*, got [0-9a-f]*" \
	"$TMP/err" || fail "verify on Null0: no miscompare message naming bdev, offset, bytes"
grep -Eq "^Total +[0-9]" "$TMP/out" || fail "verify on Null0: no Total row in the table"
echo "ok: verify on Null0 -> exit 1 with miscompare messages"

# 4. Table output, every bdev by default, rw mix.
run -w randrw -M 70 -q 8 -o 4k -t 1
rc=$?
[ "$rc" -eq 0 ] || fail "randrw on all bdevs: exit $rc, expected 0"
grep -q "^core 0 Malloc0 " "$TMP/out" || fail "randrw: no row for core 0 Malloc0"
grep -q "^core 0 Null0 " "$TMP/out" || fail "randrw: no row for core 0 Null0"
grep -q "p99.9(us)" "$TMP/out" || fail "randrw: table header without p99.9"
echo "ok: randrw -M 70 on every bdev (table)"

# 5. -n: a fixed number of I/Os per job, whatever the time.
run -b Null0 -b Malloc0 -q 8 -n 5000 --json
rc=$?
[ "$rc" -eq 0 ] || fail "-n 5000: exit $rc, expected 0"
per_job=$(json_get "$TMP/out" '",".join(str(j["ios"]) for j in d["jobs"])') || fail "-n: no JSON result"
[ "$per_job" = "5000,5000" ] || fail "-n 5000 on two bdevs: jobs did $per_job I/Os, expected 5000,5000"
echo "ok: -n 5000 -> exactly 5000 I/Os per job"

# 6. SIGINT stops early with the results so far.
"$PERF" -c "$TMP/bdevs.json" --no-huge -b Null0 -t 60 -q 8 --json >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 1 100); do
	grep -q " s: " "$TMP/err" && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.05
done
kill -INT "$PID" 2>/dev/null || fail "spio_perf exited before SIGINT"
wait "$PID"
rc=$?
PID=
[ "$rc" -eq 0 ] || fail "SIGINT: exit $rc, expected 0"
rt=$(json_get "$TMP/out" 'd["total"]["runtime_s"]') || fail "SIGINT: no JSON result"
awk -v v="$rt" 'BEGIN { exit !(v > 0 && v < 30) }' || fail "SIGINT: runtime $rt s, expected 0 < t < 30"
echo "ok: SIGINT after ${rt} s -> exit 0 with results"

# 7. Bad options: exit 2 with a message.
expect_usage() {
	"$PERF" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ "$rc" -eq 2 ] || fail "spio_perf $*: exit $rc, expected 2"
	[ -s "$TMP/err" ] || fail "spio_perf $*: no message on stderr"
}
expect_usage --bogus
expect_usage -q 0
expect_usage -q 5000
expect_usage -w sideways
expect_usage -o 4x
expect_usage -M 101
expect_usage -t 0
expect_usage -n 0
expect_usage -n many
expect_usage -m 0xz
expect_usage extra
expect_usage -c "$TMP/bdevs.json" --no-huge -b Malloc0 -o 1000 -t 1
grep -q "not a multiple of its block size" "$TMP/err" || fail "-o 1000: message not explained"
echo "ok: bad options -> exit 2"

# 7. An unknown bdev: non-zero with a message naming it.
run -b Nope -t 1
rc=$?
[ "$rc" -ne 0 ] || fail "-b Nope: exit 0, expected non-zero"
grep -q "Nope: no such bdev" "$TMP/err" || fail "-b Nope: message does not name the bdev"
echo "ok: unknown bdev -> exit $rc"

"$PERF" -h >"$TMP/out" 2>&1 || fail "-h: non-zero exit"
grep -q -- "--json" "$TMP/out" || fail "-h: usage text incomplete"

echo "test_spio_perf: all checks passed"
