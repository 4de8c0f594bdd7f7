#!/usr/bin/env bash
# The kernel-backed bdevs against fio on the same file, in the same run.
#
# Usage: bench/file_vs_fio.sh BUILD_DIR
#
# 4 KiB random reads, queue depth 32, O_DIRECT, one core (spio_perf -m 0x1,
# fio --cpus_allowed=0), on one 1 GiB file of random data, spio_perf and
# fio taking turns (spio, fio, spio, fio, ...) so that both see the same
# machine. Cases: spio_perf on a uring bdev against fio's io_uring engine as
# the issue states it (defaults), both tuned (registered buffers and files;
# fio also batching submissions and completions), and the aio bdev against
# fio's libaio engine, plain and tuned (batches, user-space reaping). Every
# case runs on the file on disk, then on a copy in /dev/shm (tmpfs: no
# device limit, so the CPU cost shows). One JSON object per case: every
# round's IOPS for both and the median of the per-round ratios spio/fio.
#
# Environment: SPIO_FILE_BENCH_SECONDS (per run on disk, default 10),
# SPIO_FILE_BENCH_MEMORY_SECONDS (per run on tmpfs, default 5),
# SPIO_FILE_BENCH_MEMORY=0 (skip tmpfs), SPIO_FILE_BENCH_ROUNDS (default
# 2), SPIO_FILE_BENCH_FILE (default BUILD_DIR/bench-file.img; created if
# missing or not 1 GiB, removed at the end only if this script created it).
# Exit status 0, 1 if a run failed, 2 for bad usage; without fio it prints
# a "skipped" line and exits 0.
set -u

if [ $# -ne 1 ] || [ ! -x "$1/spio_perf" ]; then
	echo "usage: $0 BUILD_DIR  (a build tree with spio_perf)" >&2
	exit 2
fi
build_dir=$(cd "$1" && pwd)
seconds=${SPIO_FILE_BENCH_SECONDS:-10}
mem_seconds=${SPIO_FILE_BENCH_MEMORY_SECONDS:-5}
rounds=${SPIO_FILE_BENCH_ROUNDS:-2}
file=${SPIO_FILE_BENCH_FILE:-$build_dir/bench-file.img}
mem_file=/dev/shm/spio-file-vs-fio.img
size=$((1024 * 1024 * 1024))
tmp=$(mktemp -d)
created=0
failed=0

cleanup() {
	rm -rf "$tmp"
	rm -f "$mem_file"
	if [ "$created" -eq 1 ]; then
		rm -f "$file"
	fi
}
trap cleanup EXIT

if ! command -v fio >/dev/null 2>&1; then
	echo '{"bench":"file_vs_fio","skipped":true,"reason":"fio not installed"}'
	exit 0
fi

if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" -ne "$size" ]; then
	echo "file_vs_fio: writing 1 GiB of random data to $file" >&2
	# Random data: reads of holes would not reach the device.
	if ! dd if=/dev/urandom of="$file" bs=1M count=1024 status=none; then
		echo '{"bench":"file_vs_fio","failed":true,"reason":"cannot write the test file"}'
		exit 1
	fi
	sync "$file"
	created=1
fi

# spio_iops FILE SECONDS MODULE [EXTRA_PARAMS]: one spio_perf run; prints its IOPS.
spio_iops() {
	local target=$1 secs=$2 module=$3 extra=${4:-}
	printf '{"subsystems": [{"subsystem": "bdev", "config": [{"method": "bdev_%s_create", "params": {"name": "File0", "filename": "%s"%s}}]}]}\n' \
		"$module" "$target" "$extra" >"$tmp/conf.json"
	"$build_dir/spio_perf" -c "$tmp/conf.json" -b File0 -q 32 -o 4k -w randread \
		-t "$secs" -m 0x1 --json 2>"$tmp/spio.err" >"$tmp/spio.out" || return 1
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["iops"])' \
		"$tmp/spio.out"
}

# fio_iops FILE SECONDS ENGINE [FIO_ARGS...]: one fio run; prints its IOPS.
fio_iops() {
	local target=$1 secs=$2 engine=$3
	shift 3
	fio --name=file_vs_fio --filename="$target" --ioengine="$engine" --direct=1 --rw=randread \
		--bs=4k --iodepth=32 --runtime="$secs" --time_based --cpus_allowed=0 "$@" \
		--output-format=json >"$tmp/fio.out" 2>"$tmp/fio.err" || return 1
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"])' \
		"$tmp/fio.out"
}

# run_case TARGET FILE SECONDS CASE MODULE SPIO_EXTRA ENGINE FIO_ARGS: take turns, print JSON.
run_case() {
	local tname=$1 target=$2 secs=$3 case=$4 module=$5 extra=$6 engine=$7 fio_args=$8
	local spio_list="" fio_list="" s f
	for _ in $(seq 1 "$rounds"); do
		if ! s=$(spio_iops "$target" "$secs" "$module" "$extra"); then
			echo "file_vs_fio: spio_perf ($tname $case) failed: $(cat "$tmp/spio.err")" >&2
			failed=1
			return
		fi
		# shellcheck disable=SC2086 # fio_args is a list of words
		if ! f=$(fio_iops "$target" "$secs" "$engine" $fio_args); then
			echo "file_vs_fio: fio ($tname $case) failed: $(cat "$tmp/fio.err")" >&2
			failed=1
			return
		fi
		echo "file_vs_fio: $tname $case: spio $s IOPS, fio $f IOPS" >&2
		spio_list="$spio_list${spio_list:+,}$s"
		fio_list="$fio_list${fio_list:+,}$f"
	done
	python3 -c '
import json, statistics, sys
tname, case, module, extra, engine, fio_args, secs = sys.argv[1:8]
spio, fio = json.loads(sys.argv[8]), json.loads(sys.argv[9])
ratios = [s / f for s, f in zip(spio, fio)]
print(json.dumps({
    "bench": "file_vs_fio", "target": tname, "case": case, "module": module,
    "spio_params": "{" + extra.lstrip(", ") + "}", "fio_engine": engine,
    "fio_args": fio_args, "workload": "randread", "io_size": 4096, "queue_depth": 32,
    "cores": 1, "seconds": int(secs), "spio_iops": [round(x) for x in spio],
    "fio_iops": [round(x) for x in fio], "ratio_per_round": [round(r, 3) for r in ratios],
    "ratio_median": round(statistics.median(ratios), 3)}))' \
		"$tname" "$case" "$module" "$extra" "$engine" "$fio_args" "$secs" \
		"[$spio_list]" "[$fio_list]"
}

# run_target NAME FILE SECONDS: every case on one file.
run_target() {
	local tname=$1 target=$2 secs=$3
	local uring_tuned=', "registered_buffers": true, "registered_files": true'
	local fio_uring_tuned="--fixedbufs --registerfiles --iodepth_batch_submit=32 --iodepth_batch_complete_max=32"
	local fio_aio_tuned="--iodepth_batch_submit=32 --iodepth_batch_complete_max=32 --userspace_reap"

	run_case "$tname" "$target" "$secs" uring-vs-fio-io_uring uring "" io_uring ""
	run_case "$tname" "$target" "$secs" uring-tuned-vs-fio-io_uring-tuned uring \
		"$uring_tuned" io_uring "$fio_uring_tuned"
	run_case "$tname" "$target" "$secs" aio-vs-fio-libaio aio "" libaio ""
	run_case "$tname" "$target" "$secs" aio-vs-fio-libaio-tuned aio "" libaio "$fio_aio_tuned"
}

run_target disk "$file" "$seconds"

# The same in memory: no device limit, so this measures the CPU cost.
if [ "${SPIO_FILE_BENCH_MEMORY:-1}" = 1 ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
	cp "$file" "$mem_file" 2>/dev/null; then
	run_target tmpfs "$mem_file" "$mem_seconds"
else
	echo '{"bench":"file_vs_fio","target":"tmpfs","skipped":true,"reason":"no tmpfs at /dev/shm with 1 GiB free"}'
fi
exit $failed
