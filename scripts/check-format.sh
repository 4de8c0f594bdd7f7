#!/usr/bin/env bash
# Fails (exit 1) when a tracked C source or header is not clang-formatted.
# With --fix, rewrites the files in place instead.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h')
[ ${#files[@]} -eq 0 ] && exit 0

if [ "${1:-}" = "--fix" ]; then
	clang-format -i "${files[@]}"
	exit 0
fi

existing=()
for f in "${files[@]}"; do
	[ -f "$f" ] && existing+=("$f")
done
# One clang-format for all files (one per file took half a minute).
if out=$(clang-format --dry-run --Werror "${existing[@]}" 2>&1); then
	exit 0
fi
bad=$(sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' <<<"$out" | sort -u)
if [ -z "$bad" ]; then
	echo "$out" >&2 # clang-format failed for another reason
	exit 1
fi
while read -r f; do
	echo "not formatted: $f (run 'make format')" >&2
done <<<"$bad"
exit 1
