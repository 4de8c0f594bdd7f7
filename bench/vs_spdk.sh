#!/usr/bin/env bash
# bench/vs_spdk.sh SPDK_DIR [ROUNDS] [SECONDS]
#
# spio_perf against SPDK's bdevperf, same run, same cores, same bdev
# configuration: for each case a warm-up of each, then ROUNDS rounds (default
# 3) alternating spio and SPDK (spio first in odd rounds, SPDK first in even
# ones), SECONDS each (default 5). Prints one JSON line
# per round and one per case with the median of the per-round ratios
# spio/SPDK. Builds nothing: SPDK_DIR is an SPDK tree built by
# ../shared/tools/build-spdk.sh (its build/examples/bdevperf, build/lib).
# Without SPDK_DIR it prints a skip line and exits 0. Both sides use
# hugepages (reserve 1024 x 2 MiB first); spio_perf comes from
# build/release unless SPIO_BUILD is set.
#
# Then the runtime against SPDK's own benchmarks, same alternation: the event
# ring (bench_event's event_ring_like_spdk_event_perf against `event_perf -m
# 0x3 -t 5`: events per second per reactor, the two reactors' mean) and 100
# busy pollers with period 0 and 1 us (bench_thread's poller_perf_like
# against `poller_perf -b 100 -l P -t 3`: ns per poller run by SPDK's formula,
# busy ticks / runs). Their ratio is also "spio is x times SPDK": for the
# pollers SPDK's ns over spio's. VS_SPDK_ONLY=REGEX runs only the
# cases whose name matches. The uring case needs an SPDK configured
# --with-uring; without its bdev_uring it prints a skip line for that case.
set -uo pipefail

SPDK_DIR=${1:-}
ROUNDS=${2:-3}
SECS=${3:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SPIO_BUILD:-$SRC/build/release}
if [ -z "$SPDK_DIR" ]; then
	echo '{"bench":"vs_spdk","skipped":true,"reason":"no SPDK_DIR given (an SPDK tree built by ../shared/tools/build-spdk.sh)"}'
	exit 0
fi
BDEVPERF=$SPDK_DIR/build/examples/bdevperf
for f in "$BDEVPERF" "$BUILD/spio_perf"; do
	[ -x "$f" ] || {
		echo "vs_spdk: $f not found" >&2
		exit 2
	}
done
export LD_LIBRARY_PATH=$SPDK_DIR/build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# SPDK built without --with-uring has no bdev_uring_create: leave it out.
HAVE_URING=0
URING_ENTRY=
if grep -q bdev_uring_create "$SPDK_DIR"/build/lib/libspdk_bdev_uring.so* 2>/dev/null; then
	HAVE_URING=1
	URING_ENTRY='  {"method": "bdev_uring_create", "params": {"name": "Uring0", "filename": "'$TMP'/aio.img", "block_size": 4096}},'
fi

# One configuration for both programs: SPDK's format, created by each at start-up.
truncate -s 1G "$TMP/aio.img"
dd if=/dev/urandom of="$TMP/aio.img" bs=1M count=1024 conv=notrunc status=none
cat >"$TMP/bdevs.json" <<JSON
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 262144, "block_size": 4096}},
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 65536, "block_size": 4096}},
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$TMP/aio.img", "block_size": 4096}},
$URING_ENTRY
  {"method": "bdev_wait_for_examine"}]}]}
JSON

# name bdev mask queue-depth io-size workload
CASES="null_4k_randread_qd128_1core Null0 0x1 128 4096 randread
null_4k_randread_qd128_2cores Null0 0x3 128 4096 randread
malloc_4k_randread_qd128_1core Malloc0 0x1 128 4096 randread
malloc_128k_randread_qd32_1core Malloc0 0x1 32 131072 randread
malloc_4k_randwrite_qd128_1core Malloc0 0x1 128 4096 randwrite
malloc_4k_verify_qd32_1core Malloc0 0x1 32 4096 verify
aio_4k_randread_qd32_1core Aio0 0x1 32 4096 randread
uring_4k_randread_qd32_1core Uring0 0x1 32 4096 randread"

run_spio() { # bdev mask qd size workload secs -> IOPS
	"$BUILD/spio_perf" -c "$TMP/bdevs.json" -b "$1" -m "$2" -q "$3" -o "$4" -w "$5" -t "$6" --json \
		2>"$TMP/spio.err" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["iops"])'
}

run_spdk() { # bdev mask qd size workload secs -> IOPS
	local multi=()
	[ "$2" != 0x1 ] && multi=(-C)
	"$BDEVPERF" --json "$TMP/bdevs.json" -T "$1" -m "$2" -q "$3" -o "$4" -w "$5" -t "$6" "${multi[@]}" \
		>"$TMP/spdk.out" 2>&1
	# bdevperf redraws its table with carriage returns: the result line is "\r Total : IOPS ..."
	tr '\r' '\n' <"$TMP/spdk.out" |
		awk '$1 == "Total" && $2 == ":" { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit } }'
}

while read -r name bdev mask qd size wl; do
	if [ -n "${VS_SPDK_ONLY:-}" ] && ! [[ $name =~ $VS_SPDK_ONLY ]]; then
		continue
	fi
	if [ "$bdev" = Uring0 ] && [ "$HAVE_URING" = 0 ]; then
		printf '{"bench":"vs_spdk","case":"%s","skipped":true,"reason":"SPDK built without --with-uring"}\n' "$name"
		continue
	fi
	run_spio "$bdev" "$mask" "$qd" "$size" "$wl" 1 >/dev/null
	run_spdk "$bdev" "$mask" "$qd" "$size" "$wl" 1 >/dev/null
	spio=() spdk=()
	for r in $(seq 1 "$ROUNDS"); do
		# Who goes first alternates (spio in odd rounds, SPDK in even ones): a
		# device that speeds up or slows down over the run (a host cache
		# warming under the virtio disk) favours neither side.
		if ((r % 2)); then
			a=$(run_spio "$bdev" "$mask" "$qd" "$size" "$wl" "$SECS")
			b=$(run_spdk "$bdev" "$mask" "$qd" "$size" "$wl" "$SECS")
		else
			b=$(run_spdk "$bdev" "$mask" "$qd" "$size" "$wl" "$SECS")
			a=$(run_spio "$bdev" "$mask" "$qd" "$size" "$wl" "$SECS")
		fi
		[ -n "$a" ] || a=0
		[ -n "$b" ] || {
			b=0
			tail -5 "$TMP/spdk.out" >&2
		}
		spio+=("$a") spdk+=("$b")
		printf '{"bench":"vs_spdk","case":"%s","round":%d,"spio_iops":%s,"spdk_iops":%s}\n' "$name" "$r" "$a" "$b"
	done
	python3 - "$name" "${spio[*]}" "${spdk[*]}" <<'PY'
import json, statistics, sys
name, a, b = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
ratios = [x / y for x, y in zip(a, b) if y > 0]
print(json.dumps({"bench": "vs_spdk", "case": name, "spio_iops": a, "spdk_iops": b,
                  "ratio_median": round(statistics.median(ratios), 3) if ratios else None}))
PY
done <<<"$CASES"

# Runtime rows. bench_thread and bench_event run every case of theirs; only
# the ones that mirror SPDK's programs are read.
EVENT_PERF=$SPDK_DIR/test/event/event_perf/event_perf
POLLER_PERF=$SPDK_DIR/test/thread/poller_perf/poller_perf
spio_event() {
	"$BUILD/bench_event" 1000 2>/dev/null | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    if d.get("case") == "event_ring_like_spdk_event_perf":
        print((d["events_per_sec_core0"] + d["events_per_sec_core1"]) / 2)'
}
spdk_event() {
	"$EVENT_PERF" -m 0x3 -t 5 2>/dev/null | awk '$1 == "lcore" { s += $3; n++ } END { if (n) print s / n }'
}
spio_pollers() { # -> "ns_period0 ns_period1"
	"$BUILD/bench_thread" 2>/dev/null | python3 -c '
import json, sys
ns = {}
for l in sys.stdin:
    d = json.loads(l)
    if d.get("case") == "poller_perf_like":
        ns[d["period_us"]] = d["ns_per_poller_run"]
print(ns.get(0, 0), ns.get(1, 0))'
}
spdk_poller() { # period -> ns per run, from its cycles and tsc_hz
	"$POLLER_PERF" -b 100 -l "$1" -t 3 2>/dev/null | tr '\r' '\n' | awk '
		$1 ~ /^busy:/ { sub(/^busy:/, "", $1); busy = $1 + 0 }
		$1 == "total_run_count:" { runs = $2 + 0 }
		$1 == "tsc_hz:" { hz = $2 + 0 } END { if (runs && hz) print busy / runs * 1e9 / hz }'
}
runtime_case() { # name "spio values" "spdk values" higher-is-better(1|0)
	python3 - "$@" <<'PY'
import json, statistics, sys
name, a, b, up = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()], sys.argv[4] == "1"
ratios = [(x / y if up else y / x) for x, y in zip(a, b) if x > 0 and y > 0]
print(json.dumps({"bench": "vs_spdk", "case": name, "spio": a, "spdk": b,
                  "unit": "events/s per reactor" if up else "ns per poller run",
                  "ratio_median": round(statistics.median(ratios), 3) if ratios else None}))
PY
}
if [ -n "${VS_SPDK_ONLY:-}" ] && ! [[ runtime =~ $VS_SPDK_ONLY ]]; then
	exit 0
fi
for f in "$EVENT_PERF" "$POLLER_PERF" "$BUILD/bench_event" "$BUILD/bench_thread"; do
	[ -x "$f" ] || {
		echo "{\"bench\":\"vs_spdk\",\"case\":\"runtime\",\"skipped\":true,\"reason\":\"$f not built\"}"
		exit 0
	}
done
ev_a=() ev_b=() p0_a=() p0_b=() p1_a=() p1_b=()
for r in $(seq 1 "$ROUNDS"); do
	ev_a+=("$(spio_event)")
	ev_b+=("$(spdk_event)")
	read -r p0 p1 <<<"$(spio_pollers)"
	p0_a+=("$p0") p1_a+=("$p1")
	p0_b+=("$(spdk_poller 0)")
	p1_b+=("$(spdk_poller 1)")
	printf '{"bench":"vs_spdk","case":"runtime","round":%d,"spio_events":%s,"spdk_events":%s,"spio_poller_ns":[%s,%s],"spdk_poller_ns":[%s,%s]}\n' \
		"$r" "${ev_a[-1]:-0}" "${ev_b[-1]:-0}" "$p0" "$p1" "${p0_b[-1]:-0}" "${p1_b[-1]:-0}"
done
runtime_case event_ring_2reactors "${ev_a[*]}" "${ev_b[*]}" 1
runtime_case pollers_100_period0 "${p0_a[*]}" "${p0_b[*]}" 0
runtime_case pollers_100_period1us "${p1_a[*]}" "${p1_b[*]}" 0
