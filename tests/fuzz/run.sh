#!/usr/bin/env bash
# Run each libFuzzer program of a -DSPIO_FUZZ=ON build for a while (make fuzz).
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]
#
# Each fuzz_<name> runs SECONDS over BUILD_DIR/fuzz/corpus/<name>, a working
# copy of tests/fuzz/corpus/<name> that keeps what earlier runs found, with
# the flags of tests/fuzz/<name>.options. Crashes, leaks and hangs land in
# BUILD_DIR/fuzz/artifacts/<name>/; copy one into tests/fuzz/corpus/<name>/
# as crash-<what> once it is understood (docs/reliability.md). Prints one
# line of figures per fuzzer and exits 1 if any found something.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SECONDS [NAME...]" >&2
	exit 2
fi
build=$1
secs=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
work=$build/fuzz
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in "$src"/fuzz_*.c; do
		n=$(basename "$f" .c)
		names+=("${n#fuzz_}")
	done
fi

found=0
for name in "${names[@]}"; do
	bin=$build/tests/fuzz/fuzz_$name
	if [ ! -x "$bin" ]; then
		echo "fuzz $name: $bin missing (configure with -DSPIO_FUZZ=ON)" >&2
		exit 2
	fi
	mkdir -p "$work/corpus/$name" "$work/artifacts/$name"
	cp -n "$src/corpus/$name"/* "$work/corpus/$name"/ 2>/dev/null || true
	opts=()
	if [ -f "$src/$name.options" ]; then
		read -r -a opts <"$src/$name.options"
	fi
	log=$work/$name.log
	before=$(find "$work/artifacts/$name" -type f | wc -l)
	echo "fuzz $name: ${secs}s, corpus $work/corpus/$name, log $log"
	rc=0
	"$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/$name/" "$work/corpus/$name" >"$log" 2>&1 || rc=$?
	after=$(find "$work/artifacts/$name" -type f | wc -l)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
	echo "fuzz $name: ${execs:-?} executions, ${speed:-?}/s, ${cov:-cov: ?}," \
		"corpus $(find "$work/corpus/$name" -type f | wc -l) inputs," \
		"$((after - before)) new artifacts, exit $rc"
	if [ "$rc" -ne 0 ] || [ "$after" -ne "$before" ]; then
		found=1
		grep -m1 -A3 -E 'ERROR: |fuzz_nvmf_tcp: |==[0-9]+==' "$log" || true
	fi
done
exit $found
