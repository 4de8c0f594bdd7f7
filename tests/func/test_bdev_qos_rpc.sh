#!/usr/bin/env bash
# QoS limits and latency histograms through SPDK's own rpc.py against
# spio_tgt: bdev_set_qos_limit (SPDK's rounding, errors), bdev_get_bdevs'
# assigned_rate_limits and spio_histogram, bdev_enable_histogram /
# bdev_get_histogram decoded as SPDK's tools do (base64 of little-endian
# buckets, granularity, min_range, max_range, tsc_rate),
# bdev_get_histogram_borders, save_config and a restart with it bringing
# limits and histogram back. Then the limits in real time: spio_perf on a
# null bdev with bdev_set_qos_limit in its configuration, one job per core,
# stays within 30 % of 10000 IOPS and of 20 MiB/s (loose: CI may be loaded;
# the precise check is the unit test's simulated clock).
#
# Usage: test_bdev_qos_rpc.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
# shellcheck disable=SC2034 # read by rpcpy_lib.sh
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
PERF=$BUILD/spio_perf
TMP=$(mktemp -d /tmp/spio-qos-test.XXXXXX)
SOCK=/tmp/spio-qos-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"
# shellcheck source=../compat/rpcpy_lib.sh
source "$(dirname "$0")/../compat/rpcpy_lib.sh"

for bin in "$TGT" "$PERF"; do
	[ -x "$bin" ] || fail "$bin not built"
done

limits_are() {
	rpc bdev_get_bdevs -b Malloc0
	check "d[0]['assigned_rate_limits'] == {'rw_ios_per_sec': $1, 'rw_mbytes_per_sec': $2, 'r_mbytes_per_sec': $3, 'w_mbytes_per_sec': $4}"
}

# Decode bdev_get_histogram's answer in $TMP/reply as SPDK's scripts/histogram.py
# does; prints the number of I/Os counted.
decode_histogram() {
	python3 - "$TMP/reply" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
raw = base64.b64decode(d["histogram"])
g, lo, hi = d["granularity"], d["min_range"], d["max_range"]
assert d["tsc_rate"] > 0, d["tsc_rate"]
assert len(raw) == (hi - lo + 1) * (1 << g) * 8, (len(raw), g, lo, hi)
print(sum(int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8)))
PY
}

start_tgt
rpc bdev_malloc_create -b Malloc0 64 512
limits_are 0 0 0 0
check "d[0]['spio_histogram'] == {'enabled': False}"
echo "ok: no limits and no histogram by default"

rpc bdev_set_qos_limit Malloc0 --rw-ios-per-sec 10000 --w-mbytes-per-sec 5
limits_are 10000 0 0 5
# SPDK rounds IOPS up to a multiple of 1000; absent limits are kept
rpc bdev_set_qos_limit Malloc0 --rw-ios-per-sec 1500 --r-mbytes-per-sec 7
limits_are 2000 0 7 5
rpc bdev_set_qos_limit Malloc0 --r-mbytes-per-sec 0
limits_are 2000 0 0 5
echo "ok: bdev_set_qos_limit sets, rounds, keeps and removes limits"

rpc_refused "No rate limits specified" bdev_set_qos_limit Malloc0
rpc_refused "No such device" bdev_set_qos_limit Nope --rw-ios-per-sec 1000
echo "ok: SPDK's errors"

rpc bdev_enable_histogram Malloc0 --histogram
rpc bdev_get_histogram Malloc0
check 'd["granularity"] == 7 and d["min_range"] > 0 and d["max_range"] > d["min_range"]'
n=$(decode_histogram) || fail "bdev_get_histogram: not SPDK's encoding: $(head -c 300 "$TMP/reply")"
[ "$n" -eq 0 ] || fail "no I/O yet: expected 0 counted, got $n"
rpc bdev_get_histogram_borders Malloc0 --borders 1,10,100
check 'd == {"borders_count": [0, 0, 0, 0]}'
rpc_refused "Invalid Io type" bdev_enable_histogram Malloc0 --histogram -o zcopy
rpc bdev_enable_histogram Malloc0 --histogram --granularity 5 --min-nsec 0 -o write
rpc bdev_get_histogram Malloc0
check 'd["granularity"] == 5 and d["min_range"] == 0'
decode_histogram >/dev/null || fail "granularity 5: not SPDK's encoding"
rpc bdev_get_bdevs -b Malloc0
check "d[0]['spio_histogram'] == {'enabled': True, 'opc': 'write', 'granularity': 5, 'min_range': 0, 'max_range': d[0]['spio_histogram']['max_range']}"
echo "ok: histogram enabled and read in SPDK's encoding"

rpc save_config
check '[e for s in d["subsystems"] if s["subsystem"] == "bdev" for e in s["config"] if e["method"] == "bdev_set_qos_limit"] == [{"method": "bdev_set_qos_limit", "params": {"name": "Malloc0", "rw_ios_per_sec": 2000, "w_mbytes_per_sec": 5}}]'
check '[e["params"] for s in d["subsystems"] if s["subsystem"] == "bdev" for e in s["config"] if e["method"] == "bdev_enable_histogram"] == [{"name": "Malloc0", "enable": True, "opc": "write"}]'
cp "$TMP/reply" "$TMP/saved.json"
stop_tgt
echo "ok: save_config writes bdev_set_qos_limit and bdev_enable_histogram as SPDK does"

start_tgt -c "$TMP/saved.json"
limits_are 2000 0 0 5
rpc bdev_get_histogram Malloc0
decode_histogram >/dev/null || fail "restarted: histogram not enabled"
rpc bdev_enable_histogram Malloc0 --no-histogram
rpc_refused "Bad address" bdev_get_histogram Malloc0
rpc bdev_set_qos_limit Malloc0 --rw-ios-per-sec 0 --w-mbytes-per-sec 0
limits_are 0 0 0 0
rpc save_config
check '[e for s in d["subsystems"] if s["subsystem"] == "bdev" for e in s["config"] if e["method"] in ("bdev_set_qos_limit", "bdev_enable_histogram")] == []'
rpc bdev_malloc_delete Malloc0
stop_tgt
echo "ok: restart with the saved configuration; limits and histogram removed"

# Real time: spio_perf with the limit in its configuration. The limit must
# hold (at most 30 % over, a 3 s run); below it, a loaded machine that does
# not run the reactors for a while loses budget, so only a quarter of the
# limit is required there (the precise figure is the unit test's).
MASK=0x1
[ "$(nproc)" -ge 2 ] && MASK=0x3
perf_with() {
	cat >"$TMP/perf.json" <<JSON
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 262144, "block_size": 4096}}
  $1
]}]}
JSON
	shift
	local pid rc=0 waited=0
	"$PERF" -c "$TMP/perf.json" --no-huge -m "$MASK" -b Null0 -q 32 -t 3 --json "$@" \
		>"$TMP/out" 2>"$TMP/err" &
	pid=$!
	# a 3 s run: a minute means it hung; then every thread's stack says where
	while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 600 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		command -v gdb >/dev/null &&
			gdb -p "$pid" -batch -ex 'thread apply all bt' >"$TMP/stacks" 2>&1
		kill -9 "$pid"
		fail "spio_perf $* hung: $(tail -c 1000 "$TMP/err") stacks: $(cat "$TMP/stacks" 2>/dev/null)"
	fi
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "spio_perf $* (exit $rc): $(tail -c 2000 "$TMP/err") $(tail -c 1000 "$TMP/out")"
}

total() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"][sys.argv[2]])' \
		"$TMP/out" "$1" || fail "spio_perf --json: no total.$1: $(head -c 400 "$TMP/out")"
}

held() { # value limit
	awk -v v="$1" -v w="$2" 'BEGIN { exit !(v <= w * 1.3 && v >= w * 0.25) }'
}

perf_with '' -w randread
free_iops=$(total iops)
if ! awk -v v="$free_iops" 'BEGIN { exit !(v > 30000) }'; then
	echo "test_bdev_qos_rpc: SKIP (real-time part): spio_perf does only $free_iops IOPS without a limit here"
	exit 77
fi

perf_with ', {"method": "bdev_set_qos_limit", "params": {"name": "Null0", "rw_ios_per_sec": 10000}}' -w randread
iops=$(total iops)
held "$iops" 10000 || fail "10000 IOPS limit, cores $MASK: spio_perf measured $iops IOPS (unlimited: $free_iops)"
echo "ok: 10000 IOPS limit held in real time: $iops IOPS (unlimited $free_iops), cores $MASK"

perf_with ', {"method": "bdev_set_qos_limit", "params": {"name": "Null0", "rw_mbytes_per_sec": 20}}' -w randrw -o 64k
mibs=$(total mib_per_s)
held "$mibs" 20 || fail "20 MiB/s limit, cores $MASK: spio_perf measured $mibs MiB/s"
echo "ok: 20 MiB/s limit held in real time: $mibs MiB/s"
echo "PASS"
