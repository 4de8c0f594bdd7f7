#!/usr/bin/env bash
# Run every benchmark program of a build tree and collect their results.
#
# Usage: bench/run.sh BUILD_DIR
#
# Each bench_* program prints one JSON object per line on stdout. This script
# runs the known ones with their arguments (bench_dma twice: no-huge, and
# hugepage mode when at least 8 hugepages are free), then any other bench_*
# executable found in BUILD_DIR with no arguments. Every JSON line goes to
# stdout and to BUILD_DIR/bench-results.jsonl (rewritten on each run); any
# other output of the programs goes to stderr. A missing program or a skipped
# case becomes a JSON line with "skipped":true. It also runs
# bench/file_vs_fio.sh (the uring and aio bdevs against fio). Exit status: 0 when every
# program that ran succeeded, 1 otherwise, 2 for bad usage.
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR  (a CMake build tree holding the bench_* programs)" >&2
	exit 2
fi
build_dir=$(cd "$1" && pwd)
src_dir=$(cd "$(dirname "$0")/.." && pwd)
results="$build_dir/bench-results.jsonl"
huge_min=8
huge_free_file=/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
failed=0

: >"$results" || exit 1

emit() {
	printf '%s\n' "$1" | tee -a "$results"
}

# JSON string contents: drop quotes, backslashes and control characters.
json_safe() {
	printf '%s' "$1" | tr -d '\000-\037\042\134'
}

# run_bench NAME [ARGS...]: run BUILD_DIR/NAME, keep its JSON lines.
run_bench() {
	run_program "$1" "$build_dir/$1" "${@:2}"
}

# run_program NAME PATH [ARGS...]: run PATH, keep its JSON lines.
run_program() {
	local name=$1 bin=$2 rc line
	shift 2
	if [ ! -x "$bin" ]; then
		emit "{\"bench\":\"run\",\"program\":\"$name\",\"skipped\":true,\"reason\":\"not built\"}"
		return 0
	fi
	echo "== $name${*:+ $*}" >&2
	"$bin" "$@" | while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in
		'{'*) emit "$line" ;;
		*) printf '%s\n' "$line" >&2 ;;
		esac
	done
	rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ]; then
		echo "bench/run.sh: $name${*:+ $*} exited with status $rc" >&2
		emit "{\"bench\":\"run\",\"program\":\"$name\",\"args\":\"$(json_safe "$*")\",\"failed\":true,\"status\":$rc}"
		failed=1
	fi
}

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: *//')
emit "{\"bench\":\"meta\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"kernel\":\"$(json_safe "$(uname -r)")\",\"cpu\":\"$(json_safe "$cpu")\",\"nproc\":$(nproc),\"build_dir\":\"$(json_safe "$build_dir")\"}"

known="bench_json bench_mempool bench_dma bench_ring bench_blobfs"

# run_perf CASE ARGS...: spio_perf on the null and malloc bdevs of
# bench/perf-bdevs.json; its --json result, compacted, becomes one line.
run_perf() {
	local name=$1 bin="$build_dir/spio_perf" out
	shift
	if [ ! -x "$bin" ]; then
		emit "{\"bench\":\"spio_perf\",\"case\":\"$name\",\"skipped\":true,\"reason\":\"not built\"}"
		return 0
	fi
	echo "== spio_perf $name: $*" >&2
	if ! out=$("$bin" -c "$src_dir/bench/perf-bdevs.json" --json "$@"); then
		emit "{\"bench\":\"spio_perf\",\"case\":\"$name\",\"failed\":true}"
		failed=1
		return 0
	fi
	emit "{\"bench\":\"spio_perf\",\"case\":\"$name\",\"result\":$(printf '%s' "$out" |
		python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)))')}"
}

run_bench bench_json
run_bench bench_mempool
run_bench bench_dma
huge_free=0
if [ -r "$huge_free_file" ]; then
	huge_free=$(cat "$huge_free_file")
fi
if [ "$huge_free" -ge "$huge_min" ] 2>/dev/null; then
	run_bench bench_dma --huge
else
	emit "{\"bench\":\"dma\",\"mode\":\"huge\",\"skipped\":true,\"reason\":\"free_hugepages $huge_free < $huge_min\"}"
fi
run_bench bench_ring

# The block layer through spio_perf (issue 6's figures use -t 10).
perf_t=${SPIO_PERF_SECONDS:-5}
run_perf null_4k_randread_qd128_1core -b Null0 -q 128 -o 4k -w randread -t "$perf_t" -m 0x1
run_perf null_4k_randread_qd128_2cores -b Null0 -q 128 -o 4k -w randread -t "$perf_t" -m 0x3
run_perf malloc_4k_randread_qd128_1core -b Malloc0 -q 128 -o 4k -w randread -t "$perf_t" -m 0x1
run_perf malloc_4k_randread_qd128_2cores -b Malloc0 -q 128 -o 4k -w randread -t "$perf_t" -m 0x3
run_perf malloc_128k_randread_qd32_1core -b Malloc0 -q 32 -o 128k -w randread -t "$perf_t" -m 0x1

# Kernel-backed bdevs (uring, aio) against fio on the same 1 GiB file, taking
# turns (issue 7's figures: 10 s per run on disk).
run_program file_vs_fio "$src_dir/bench/file_vs_fio.sh" "$build_dir"

# BlobFS against the raw bdev under it (its own uring bdev over a file in
# $TMPDIR; docs/PERFORMANCE.md's figures use -s 1G -t 10).
run_bench bench_blobfs -s 256M -t 3

# Benchmarks added later: run with no arguments.
for bin in "$build_dir"/bench_*; do
	name=${bin##*/}
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		continue
	fi
	case " $known " in
	*" $name "*) continue ;;
	esac
	run_bench "$name"
done

echo "bench/run.sh: results in $results" >&2
exit $failed
