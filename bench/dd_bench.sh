#!/usr/bin/env bash
# spio_dd against SPDK's spdk_dd, same copies, same machine, taking turns.
#
# Usage: bench/dd_bench.sh BUILD_DIR
#
# Cases: file_to_null (a file of random data, in the page cache after the
# first round, to a null bdev: the file read path and the copy loop) and
# malloc_to_file (a malloc bdev to a new file: the bdev read path and
# buffered file writes). Both tools get the same JSON configuration, --bs,
# --qd and one core (their default). Each round runs spio_dd, then spdk_dd.
# The rate of a run is the tool's own final "Copying: X/Y [..] (average N
# ..Bps)" line (spdk_dd's format, which spio_dd keeps; MiB/s here), i.e. the
# copy without start-up; spio_dd's exact byte rate comes from its summary
# line. One JSON object per case on stdout: every round's MiB/s for both and
# the median ratio spio/spdk (> 1: spio_dd faster).
#
# spdk_dd: SPIO_DD_BENCH_SPDK (default /work/spdk-build/build/bin/spdk_dd)
# with LD_LIBRARY_PATH set to its ../lib; it needs hugepages (DPDK), so
# without free hugepages, or without the binary, only spio_dd runs and the
# spdk fields are null with a reason.
#
# Environment: SPIO_DD_BENCH_MB (MiB per copy, default 1024),
# SPIO_DD_BENCH_BS (bytes, default 1048576), SPIO_DD_BENCH_QD (default 4),
# SPIO_DD_BENCH_ROUNDS (default 3), SPIO_DD_BENCH_DIR (where the files go,
# default BUILD_DIR). Exit 0, 1 if a run failed, 2 for bad usage.
set -u

if [ $# -ne 1 ] || [ ! -x "$1/spio_dd" ]; then
	echo "usage: $0 BUILD_DIR  (a build tree with spio_dd)" >&2
	exit 2
fi
build_dir=$(cd "$1" && pwd)
mb=${SPIO_DD_BENCH_MB:-1024}
bs=${SPIO_DD_BENCH_BS:-1048576}
qd=${SPIO_DD_BENCH_QD:-4}
rounds=${SPIO_DD_BENCH_ROUNDS:-3}
dir=${SPIO_DD_BENCH_DIR:-$build_dir}
spdk_dd=${SPIO_DD_BENCH_SPDK:-/work/spdk-build/build/bin/spdk_dd}
tmp=$(mktemp -d)
in_file=$dir/dd-bench-in.img
out_file=$dir/dd-bench-out.img
failed=0

for v in "$mb" "$bs" "$qd" "$rounds"; do
	case $v in
	'' | *[!0-9]* | 0)
		echo "dd_bench: SPIO_DD_BENCH_MB, _BS, _QD and _ROUNDS must be positive integers" >&2
		exit 2
		;;
	esac
done
if [ $((mb * 1048576 % 4096)) -ne 0 ] || [ $((bs % 4096)) -ne 0 ]; then
	echo "dd_bench: SPIO_DD_BENCH_BS must be a multiple of 4096" >&2
	exit 2
fi

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	rm -rf "$tmp"
	rm -f "$in_file" "$out_file"
}
trap cleanup EXIT

# Why spdk_dd cannot run here, or nothing.
spdk_reason=""
if [ ! -x "$spdk_dd" ]; then
	spdk_reason="$spdk_dd not found"
else
	free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
	# the malloc bdev, the buffers and DPDK's own heap
	need=$(((mb + 64) / 2 + 64))
	if [ "$free" -lt "$need" ]; then
		spdk_reason="$free free 2 MiB hugepages, spdk_dd needs about $need"
	fi
fi

blocks=$((mb * 1048576 / 4096))
cat >"$tmp/conf.json" <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create",
   "params": {"name": "Malloc0", "num_blocks": $blocks, "block_size": 4096}},
  {"method": "bdev_null_create",
   "params": {"name": "Null0", "num_blocks": $blocks, "block_size": 4096}}
]}]}
EOF

echo "dd_bench: writing $mb MiB of random data to $in_file" >&2
if ! head -c $((mb * 1048576)) /dev/urandom >"$in_file"; then
	echo '{"bench":"dd","failed":true,"reason":"cannot write the input file"}'
	exit 1
fi

# MiB/s from the last "(average N [kMGT]Bps)" of FILE (either tool's format).
average_mib() {
	tr '\r' '\n' <"$1" | sed -n 's/.*(average \([0-9]*\) \([kMGT]\?\)Bps).*/\1 \2/p' | tail -1 |
		awk '{ m = 1; if ($2 == "k") m = 1024; else if ($2 == "M") m = 1048576;
		       else if ($2 == "G") m = 1073741824; else if ($2 == "T") m = 1099511627776;
		       if ($1 == "") exit 1; printf "%.1f\n", $1 * m / 1048576 }'
}

# run_spio ARGS...: one spio_dd copy; prints its MiB/s (from its summary line).
run_spio() {
	rm -f "$out_file"
	"$build_dir/spio_dd" --json "$tmp/conf.json" --bs "$bs" --qd "$qd" "$@" \
		>"$tmp/spio.out" 2>"$tmp/spio.err" || return 1
	sed -n 's/^spio_dd: copied [0-9]* bytes in [0-9.]* s (\([0-9.]*\) MiB\/s)$/\1/p' \
		"$tmp/spio.err" | grep .
}

# run_spdk ARGS...: one spdk_dd copy; prints its MiB/s.
run_spdk() {
	rm -f "$out_file"
	LD_LIBRARY_PATH="$(dirname "$spdk_dd")/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		"$spdk_dd" --disable-cpumask-locks --json "$tmp/conf.json" --bs "$bs" --qd "$qd" "$@" \
		>"$tmp/spdk.out" 2>"$tmp/spdk.err" || return 1
	average_mib "$tmp/spdk.out"
}

# run_case NAME ARGS...: take turns, print the case's JSON line.
run_case() {
	local name=$1 s p spio_list="" spdk_list=""
	shift
	for _ in $(seq 1 "$rounds"); do
		if ! s=$(run_spio "$@"); then
			echo "dd_bench: spio_dd ($name) failed: $(tail -5 "$tmp/spio.err")" >&2
			failed=1
			return
		fi
		spio_list="$spio_list${spio_list:+,}$s"
		if [ -z "$spdk_reason" ]; then
			if ! p=$(run_spdk "$@"); then
				echo "dd_bench: spdk_dd ($name) failed: $(tail -5 "$tmp/spdk.err")" >&2
				failed=1
				return
			fi
			spdk_list="$spdk_list${spdk_list:+,}$p"
		fi
		echo "dd_bench: $name: spio_dd $s MiB/s${p:+, spdk_dd $p MiB/s}" >&2
	done
	python3 -c '
import json, statistics, sys
name, mb, bs, qd, reason = sys.argv[1:6]
spio = json.loads("[" + sys.argv[6] + "]")
spdk = json.loads("[" + sys.argv[7] + "]") if not reason else None
out = {"bench": "dd", "case": name, "size_mib": int(mb), "bs": int(bs), "qd": int(qd),
       "cores": 1, "spio_mib_s": spio, "spio_median_mib_s": round(statistics.median(spio), 1),
       "spdk_mib_s": spdk,
       "spdk_median_mib_s": round(statistics.median(spdk), 1) if spdk else None}
if spdk:
    out["ratio_per_round"] = [round(s / p, 3) if p else None for s, p in zip(spio, spdk)]
    out["ratio_median"] = round(statistics.median(spio) / statistics.median(spdk), 3)
else:
    out["spdk_skipped_reason"] = reason
print(json.dumps(out))' "$name" "$mb" "$bs" "$qd" "$spdk_reason" "$spio_list" "$spdk_list"
}

run_case file_to_null --if "$in_file" --ob Null0
run_case malloc_to_file --ib Malloc0 --of "$out_file"
exit "$failed"
