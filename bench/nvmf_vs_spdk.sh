#!/usr/bin/env bash
# bench/nvmf_vs_spdk.sh SPDK_DIR [ROUNDS] [SECONDS]
#
# spio_tgt against SPDK's nvmf_tgt as NVMe/TCP targets on 127.0.0.1: the
# target pinned to core 0, the initiator to core 1. Each round starts one
# target, runs every case, stops it, then does the same with the other, so
# the two never share core 0 (SPDK's reactor busy-polls it). Pairs, as the
# issue asks: spio_nvme_perf -> spio_tgt against spdk_nvme_perf -> nvmf_tgt,
# and spdk_nvme_perf -> spio_tgt, which isolates the target. For each run
# the target's CPU use comes from /proc, so "per target core" is IOPS
# divided by the cores the target used; SPDK's is 1 by construction. Also
# the idle target's CPU over 5 s. One JSON line per run, per case (median
# ratios) and for idle. SPDK_DIR: a tree built by ../shared/tools/build-spdk.sh;
# without it a skip line, exit 0. spio comes from build/release unless
# SPIO_BUILD is set. Hugepages: SPDK's programs need them.
set -uo pipefail

SPDK_DIR=${1:-}
ROUNDS=${2:-3}
SECS=${3:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SPIO_BUILD:-$SRC/build/release}
PORT=${NVME_BENCH_PORT:-4522}
. "$SRC/bench/nvme_bench_lib.sh"
bench_start nvmf_vs_spdk

# name subsystem queue-depth io-size workload
CASES="null_4k_randread_qd32 null 32 4096 randread
null_4k_randread_qd128 null 128 4096 randread
null_4k_randwrite_qd32 null 32 4096 randwrite
null_4k_randwrite_qd128 null 128 4096 randwrite
malloc_4k_randread_qd32 malloc 32 4096 randread
malloc_4k_randread_qd128 malloc 128 4096 randread
malloc_4k_randwrite_qd32 malloc 32 4096 randwrite
malloc_4k_randwrite_qd128 malloc 128 4096 randwrite"

# measure TARGET INITIATOR name subsystem qd size workload: one JSON line,
# and "iops_per_target_core" into $TMP/<name>.<target>.<initiator>.
measure() {
	local tgt=$1 ini=$2 name=$3 c0 c1 iops cores per
	c0=$(target_cpu_secs)
	iops=$("run_$ini" "$4" "$5" "$6" "$7" "$SECS")
	c1=$(target_cpu_secs)
	[ -n "$iops" ] || iops=0
	cores=$(python3 -c "print(round(($c1 - $c0) / $SECS, 3))")
	per=$(python3 -c "print(round($iops / max($cores, 0.01)))")
	echo "$per" >>"$TMP/$name.$tgt.$ini"
	echo "{\"bench\":\"nvmf_vs_spdk\",\"case\":\"$name\",\"target\":\"$tgt\",\"initiator\":\"$ini\",\"iops\":$iops,\"target_cores\":$cores,\"iops_per_target_core\":$per}"
}

# Idle: a configured target with no host for 5 s.
for tgt in spio spdk; do
	start_target "$tgt"
	sleep 1
	c0=$(target_cpu_secs)
	sleep 5
	c1=$(target_cpu_secs)
	echo "{\"bench\":\"nvmf_vs_spdk\",\"case\":\"idle\",\"target\":\"$tgt\",\"cpu_pct\":$(python3 -c "print(round(($c1 - $c0) / 5 * 100, 2))")}"
	stop_target
done

for r in $(seq 1 "$ROUNDS"); do
	for tgt in spio spdk; do
		start_target "$tgt"
		while read -r name subsys qd size wl; do
			[ "$r" = 1 ] && "run_$tgt" "$subsys" "$qd" "$size" "$wl" 1 >/dev/null
			measure "$tgt" "$tgt" "$name" "$subsys" "$qd" "$size" "$wl"
			[ "$tgt" = spio ] && measure spio spdk "$name" "$subsys" "$qd" "$size" "$wl"
		done <<<"$CASES"
		stop_target
	done
done

while read -r name _; do
	ours=$(median <"$TMP/$name.spio.spio")
	cross=$(median <"$TMP/$name.spio.spdk")
	theirs=$(median <"$TMP/$name.spdk.spdk")
	echo "{\"bench\":\"nvmf_vs_spdk\",\"case\":\"$name\",\"rounds\":$ROUNDS,\"secs\":$SECS,\"spio_pair_per_core\":$ours,\"spdk_pair_per_core\":$theirs,\"ratio_pairs\":$(python3 -c "print(round($ours / $theirs, 3))"),\"ratio_target_only\":$(python3 -c "print(round($cross / $theirs, 3))")}"
done <<<"$CASES"
