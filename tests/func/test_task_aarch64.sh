#!/usr/bin/env bash
# test_task_aarch64: the task layer's aarch64 context switch, cross-built and
# run under qemu-user. Builds the layers the task tests need (util without
# isa-l/libuuid, log, env, thread, task) with aarch64-linux-gnu-gcc against
# the Criterion stand-in of tests/shim, and runs tests/unit/task/test_task.c.
# Skips (exit 77 with a message) when the cross compiler or qemu is missing:
# they are optional packages (gcc-aarch64-linux-gnu, qemu-user).
# Usage (from CTest): test_task_aarch64.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

src=$2
cc=aarch64-linux-gnu-gcc
qemu=qemu-aarch64
if ! command -v "$cc" >/dev/null || ! command -v "$qemu" >/dev/null; then
	echo "test_task_aarch64: SKIP: $cc or $qemu not installed" \
		"(apt-get install gcc-aarch64-linux-gnu qemu-user)"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The compiler without its C library (libc6-dev-arm64-cross) cannot build anything.
printf '#include <stdio.h>\nint main(void) { return 0; }\n' >"$tmp/probe.c"
if ! "$cc" -static "$tmp/probe.c" -o "$tmp/probe" 2>"$tmp/probe.err"; then
	echo "test_task_aarch64: SKIP: $cc cannot build a static program" \
		"(apt-get install libc6-dev-arm64-cross): $(head -n 1 "$tmp/probe.err")"
	exit 77
fi

sources=(
	"$src"/lib/util/cpuset.c "$src"/lib/util/ring.c "$src"/lib/util/iov.c
	"$src"/lib/util/string.c "$src"/lib/log/log.c
	"$src"/lib/env/*.c "$src"/lib/thread/*.c "$src"/lib/task/*.c "$src"/lib/task/*.S
	"$src"/tests/shim/criterion_shim.c "$src"/tests/unit/task/test_task.c
)
"$cc" -std=gnu17 -O1 -g -static -Wall -Wextra -Wno-unused-parameter \
	-I"$src/include" -I"$src/lib" -I"$src/tests/shim" -I"$src/tests/unit/task" \
	"${sources[@]}" -o "$tmp/test_task" -lpthread -lm

"$qemu" "$tmp/test_task" | tee "$tmp/out"
grep -q " 0 failed" "$tmp/out"
echo "test_task_aarch64: OK"
