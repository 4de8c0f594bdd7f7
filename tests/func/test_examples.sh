#!/usr/bin/env bash
# test_examples: the example programs run to completion (exit 0), so the
# examples the docs point at keep working.
# Usage (from CTest): test_examples.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build=$1
for prog in env_demo bdev_module; do
	if [ ! -x "$build/$prog" ]; then
		echo "test_examples: $prog was not built in $build" >&2
		exit 1
	fi
	if ! out=$("$build/$prog" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "test_examples: $prog failed" >&2
		exit 1
	fi
	echo "test_examples: $prog OK"
done
