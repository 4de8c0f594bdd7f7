#!/usr/bin/env bash
# bench/nvme_vs_spdk.sh SPDK_DIR [ROUNDS] [SECONDS] [TARGET]
#
# spio_nvme_perf against SPDK's spdk_nvme_perf, same run, same cores, same
# target: an NVMe/TCP target on 127.0.0.1 pinned to core 0 (TARGET "spdk":
# SPDK's nvmf_tgt, the default; "spio": spio_tgt), both initiators pinned to
# core 1, run alternately. For each case a warm-up of each, then ROUNDS
# rounds (default 3) of SECONDS each (default 5). Prints one JSON line per
# round and one per case with the median ratio spio/SPDK (IOPS per
# initiator core). SPDK_DIR is an SPDK tree built by
# ../shared/tools/build-spdk.sh; without it: a skip line, exit 0.
# spio_nvme_perf comes from build/release unless SPIO_BUILD is set.
# Hugepages: SPDK's programs need them (reserve 1024 x 2 MiB first).
set -uo pipefail

SPDK_DIR=${1:-}
ROUNDS=${2:-3}
SECS=${3:-5}
TARGET=${4:-spdk}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SPIO_BUILD:-$SRC/build/release}
PORT=${NVME_BENCH_PORT:-4521}
if [ -z "$SPDK_DIR" ]; then
	echo '{"bench":"nvme_vs_spdk","skipped":true,"reason":"no SPDK_DIR given (an SPDK tree built by ../shared/tools/build-spdk.sh)"}'
	exit 0
fi
SPDK_PERF=$SPDK_DIR/build/bin/spdk_nvme_perf
for f in "$SPDK_PERF" "$SPDK_DIR/build/bin/nvmf_tgt" "$BUILD/spio_nvme_perf"; do
	[ -x "$f" ] || {
		echo "nvme_vs_spdk: $f not found" >&2
		exit 2
	}
done
TMP=$(mktemp -d)
RPC="python3 $SRC/../shared/clients/spdk-rpc/scripts/rpc.py -s $TMP/tgt.sock"
[ -f "$SRC/../shared/clients/spdk-rpc/scripts/rpc.py" ] ||
	RPC="python3 /work/shared/clients/spdk-rpc/scripts/rpc.py -s $TMP/tgt.sock"
tgt_pid=
cleanup() {
	[ -n "$tgt_pid" ] && kill "$tgt_pid" 2>/dev/null && wait "$tgt_pid" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# The target: two subsystems (a null and a malloc namespace), one listener each.
if [ "$TARGET" = spio ]; then
	"$BUILD/spio_tgt" -r "$TMP/tgt.sock" -m 0x1 >"$TMP/tgt.log" 2>&1 &
else
	LD_LIBRARY_PATH=$SPDK_DIR/build/lib "$SPDK_DIR/build/bin/nvmf_tgt" -r "$TMP/tgt.sock" -m 0x1 \
		--no-pci --disable-cpumask-locks >"$TMP/tgt.log" 2>&1 &
fi
tgt_pid=$!
for _ in $(seq 100); do
	[ -S "$TMP/tgt.sock" ] && break
	sleep 0.1
done
{
	$RPC nvmf_create_transport -t TCP
	$RPC bdev_null_create Null0 1024 4096
	$RPC bdev_malloc_create -b Malloc0 256 4096
	for s in null:Null0 malloc:Malloc0; do
		nqn=nqn.2016-06.io.spdk:${s%%:*}
		$RPC nvmf_create_subsystem "$nqn" -a -s SPIOBENCH0001
		$RPC nvmf_subsystem_add_ns "$nqn" "${s##*:}"
		$RPC nvmf_subsystem_add_listener "$nqn" -t tcp -f ipv4 -a 127.0.0.1 -s "$PORT"
	done
} >"$TMP/setup.log" 2>&1 || {
	echo "nvme_vs_spdk: target set-up failed:" >&2
	cat "$TMP/setup.log" "$TMP/tgt.log" >&2
	exit 2
}

# name subsystem queue-depth io-size workload
CASES="null_4k_randread_qd32 null 32 4096 randread
null_4k_randread_qd128 null 128 4096 randread
null_4k_randwrite_qd32 null 32 4096 randwrite
null_4k_randwrite_qd128 null 128 4096 randwrite
malloc_4k_randread_qd32 malloc 32 4096 randread
malloc_128k_randread_qd32 malloc 32 131072 randread"

trid() {
	echo "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:nqn.2016-06.io.spdk:$1"
}

run_spio() { # subsystem qd size workload secs -> IOPS
	"$BUILD/spio_nvme_perf" -r "$(trid "$1")" -q "$2" -o "$3" -w "$4" -t "$5" -c 0x2 --json \
		2>"$TMP/spio.err" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["iops"])'
}

run_spdk() { # subsystem qd size workload secs -> IOPS
	LD_LIBRARY_PATH=$SPDK_DIR/build/lib "$SPDK_PERF" -r "$(trid "$1")" -q "$2" -o "$3" -w "$4" \
		-t "$5" -c 0x2 >"$TMP/spdk.out" 2>&1
	awk '$1 == "Total" && $2 == ":" { print $3; exit }' "$TMP/spdk.out"
}

while read -r name subsys qd size wl; do
	run_spio "$subsys" "$qd" "$size" "$wl" 1 >/dev/null
	run_spdk "$subsys" "$qd" "$size" "$wl" 1 >/dev/null
	ratios=()
	for r in $(seq 1 "$ROUNDS"); do
		a=$(run_spio "$subsys" "$qd" "$size" "$wl" "$SECS")
		b=$(run_spdk "$subsys" "$qd" "$size" "$wl" "$SECS")
		[ -n "$a" ] || a=0
		[ -n "$b" ] || b=0
		ratio=$(python3 -c "print(round($a / $b, 3) if $b > 0 else 0)")
		ratios+=("$ratio")
		echo "{\"bench\":\"nvme_vs_spdk\",\"case\":\"$name\",\"target\":\"$TARGET\",\"round\":$r,\"spio_iops\":$a,\"spdk_iops\":$b,\"ratio\":$ratio}"
	done
	median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
	echo "{\"bench\":\"nvme_vs_spdk\",\"case\":\"$name\",\"target\":\"$TARGET\",\"rounds\":$ROUNDS,\"secs\":$SECS,\"median_ratio\":$median}"
done <<<"$CASES"
