#!/usr/bin/env bash
# test_exports: libspio.so's ABI is exactly the public API.
#  - every dynamic symbol libspio.so defines is spio_* (internal functions
#    shared between the library's files stay local: lib/spio.map);
#  - every function a public header declares (not static inline) is
#    exported, so a header never promises what the library lacks;
#  - no public header names anything of lib/ or module/ or jansson.
# Usage (from CTest): test_exports.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build_dir=$1
src_dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "test_exports: FAIL: $*" >&2
	exit 1
}

so="$build_dir/libspio.so"
[ -f "$so" ] || fail "$so not built"

nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$tmp/exported"
[ -s "$tmp/exported" ] || fail "libspio.so exports nothing"
if grep -v '^spio_' "$tmp/exported" >"$tmp/stray"; then
	fail "libspio.so exports $(wc -l <"$tmp/stray") non-spio_ symbols: $(head -20 "$tmp/stray" | tr '\n' ' ')"
fi

# Every function declared by the public headers, as the compiler sees it
# (gcc -aux-info lists each prototype with its file; static inline ones say
# "static").
for h in "$src_dir"/include/spio/*.h; do
	printf '#include <spio/%s>\n' "${h##*/}"
done >"$tmp/all.c"
gcc -std=gnu17 -I"$src_dir/include" -aux-info "$tmp/aux" -c "$tmp/all.c" -o "$tmp/all.o" ||
	fail "the public headers do not compile together"
grep -F "$src_dir/include/spio/" "$tmp/aux" | grep -v ' static ' |
	sed -n 's/.*[ *]\(spio_[A-Za-z0-9_]*\) *(.*/\1/p' | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || fail "found no declarations in the public headers"
if grep -v '^spio_' "$tmp/declared" >"$tmp/badname"; then
	fail "public headers declare non-spio_ functions: $(tr '\n' ' ' <"$tmp/badname")"
fi
comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing"
if [ -s "$tmp/missing" ]; then
	fail "declared in a public header but not exported (or not defined): $(tr '\n' ' ' <"$tmp/missing")"
fi
if grep -l '#include *[<"]\(jansson\.h\|lib/\|module/\|bdev_internal\|thread_internal\)' \
	"$src_dir"/include/spio/*.h >"$tmp/leaks"; then
	fail "public headers include private or third-party headers: $(tr '\n' ' ' <"$tmp/leaks")"
fi

# lib/ never includes, calls or names module/ (modules build on lib/).
if grep -rln '#include *"\(module/\|bdev_malloc\|bdev_null\|bdev_uring\|bdev_aio\)' \
	"$src_dir/lib" >"$tmp/updeps" 2>/dev/null; then
	fail "files under lib/ include module code: $(tr '\n' ' ' <"$tmp/updeps")"
fi
if grep -rlE 'spio_bdev_(malloc|null|uring|aio)_' "$src_dir/lib" >"$tmp/names" 2>/dev/null; then
	fail "files under lib/ name a module's functions: $(tr '\n' ' ' <"$tmp/names")"
fi

echo "test_exports: OK ($(wc -l <"$tmp/exported") symbols exported, $(wc -l <"$tmp/declared") declared, all spio_*)"
