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

bad=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run 'make format')" >&2
		bad=1
	fi
done
exit $bad
