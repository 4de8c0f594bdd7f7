#!/usr/bin/env bash
# test_readme_example: the C example in README.md compiles against this build
# tree and runs, so the README never shows code that does not work.
# Usage (from CTest): test_readme_example.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build_dir=$1
src_dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The first ```c block of the README.
awk '/^```c$/ {on=1; next} on && /^```$/ {exit} on {print}' "$src_dir/README.md" >"$tmp/example.c"
[ -s "$tmp/example.c" ] || { echo "test_readme_example: no \`\`\`c block in README.md" >&2; exit 1; }

san=$(sed -n 's/^SPIO_SANITIZE:STRING=//p' "$build_dir/CMakeCache.txt")
flags=()
[ -n "$san" ] && flags+=("-fsanitize=$san")

cc -std=gnu17 -Wall -Wextra -Werror "${flags[@]}" -I"$src_dir/include" "$tmp/example.c" \
	-L"$build_dir" -lspio -Wl,-rpath,"$build_dir" -o "$tmp/example"
out=$("$tmp/example")
echo "$out"
case "$out" in
"on worker: buffer IOVA 0x"*) echo "test_readme_example: OK" ;;
*) echo "test_readme_example: unexpected output: $out" >&2; exit 1 ;;
esac
