#!/usr/bin/env bash
# bench/vs_spdk.sh SPDK_DIR [ROUNDS] [SECONDS]
#
# spio_perf against SPDK's bdevperf, same run, same cores, same bdev
# configuration: for each case a warm-up of each, then ROUNDS rounds (default
# 3) alternating spio and SPDK, SECONDS each (default 5). Prints one JSON line
# per round and one per case with the median of the per-round ratios
# spio/SPDK. Builds nothing: SPDK_DIR is an SPDK tree built by
# ../shared/tools/build-spdk.sh (its build/examples/bdevperf, build/lib).
# Without SPDK_DIR it prints a skip line and exits 0. Both sides use
# hugepages (reserve 1024 x 2 MiB first); spio_perf comes from
# build/release unless SPIO_BUILD is set.
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

# One configuration for both programs: SPDK's format, created by each at start-up.
truncate -s 1G "$TMP/aio.img"
dd if=/dev/urandom of="$TMP/aio.img" bs=1M count=1024 conv=notrunc status=none
cat >"$TMP/bdevs.json" <<JSON
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 262144, "block_size": 4096}},
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 65536, "block_size": 4096}},
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$TMP/aio.img", "block_size": 4096}},
  {"method": "bdev_wait_for_examine"}]}]}
JSON

# name bdev mask queue-depth io-size workload
CASES="null_4k_randread_qd128_1core Null0 0x1 128 4096 randread
null_4k_randread_qd128_2cores Null0 0x3 128 4096 randread
malloc_4k_randread_qd128_1core Malloc0 0x1 128 4096 randread
malloc_128k_randread_qd32_1core Malloc0 0x1 32 131072 randread
malloc_4k_randwrite_qd128_1core Malloc0 0x1 128 4096 randwrite
malloc_4k_verify_qd32_1core Malloc0 0x1 32 4096 verify
aio_4k_randread_qd32_1core Aio0 0x1 32 4096 randread"

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
	run_spio "$bdev" "$mask" "$qd" "$size" "$wl" 1 >/dev/null
	run_spdk "$bdev" "$mask" "$qd" "$size" "$wl" 1 >/dev/null
	spio=() spdk=()
	for r in $(seq 1 "$ROUNDS"); do
		a=$(run_spio "$bdev" "$mask" "$qd" "$size" "$wl" "$SECS")
		b=$(run_spdk "$bdev" "$mask" "$qd" "$size" "$wl" "$SECS")
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
