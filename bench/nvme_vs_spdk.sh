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
. "$SRC/bench/nvme_bench_lib.sh"
bench_start nvme_vs_spdk
start_target "$TARGET"

# name subsystem queue-depth io-size workload
CASES="null_4k_randread_qd32 null 32 4096 randread
null_4k_randread_qd128 null 128 4096 randread
null_4k_randwrite_qd32 null 32 4096 randwrite
null_4k_randwrite_qd128 null 128 4096 randwrite
malloc_4k_randread_qd32 malloc 32 4096 randread
malloc_128k_randread_qd32 malloc 32 131072 randread"

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
	median=$(printf '%s\n' "${ratios[@]}" | median)
	echo "{\"bench\":\"nvme_vs_spdk\",\"case\":\"$name\",\"target\":\"$TARGET\",\"rounds\":$ROUNDS,\"secs\":$SECS,\"median_ratio\":$median}"
done <<<"$CASES"
