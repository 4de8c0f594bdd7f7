#!/usr/bin/env bash
# test_install: install the build tree into a temporary prefix and use it the
# way a user would.
#
# Usage (CTest runs it): bash test_install.sh BUILD_DIR SOURCE_DIR
#
# Checks that `cmake --install` puts every public header, libspio.so,
# libspio.a and spio.pc in place; that each installed header compiles on its
# own; that a small program using the env, DMA, mempool and cpuset APIs builds
# with nothing but the flags from `pkg-config --cflags --libs spio` and runs
# against the installed shared library; and that the same program links
# against libspio.a with `pkg-config --static --cflags --libs spio` and runs
# without libspio.so, and that all of libspio.a links with those flags. The
# temporary directory is removed at the end.
set -euo pipefail

if [ $# -ne 2 ] || [ ! -d "$1" ] || [ ! -d "$2" ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
	exit 2
fi
build_dir=$(cd "$1" && pwd)
src_dir=$(cd "$2" && pwd)

fail() {
	echo "test_install: FAIL: $*" >&2
	exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spio-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

# 1. Install.
if ! cmake --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	fail "cmake --install $build_dir --prefix $prefix failed (is the build complete?)"
fi

# 2. Installed files.
for h in env.h dma.h ring.h cpuset.h log.h json.h util.h; do
	[ -f "$prefix/include/spio/$h" ] || fail "header include/spio/$h not installed under $prefix"
done
for h in "$src_dir"/include/spio/*.h; do
	name=${h##*/}
	[ -f "$prefix/include/spio/$name" ] ||
		fail "public header include/spio/$name of the source tree not installed"
done

so=$(find "$prefix" -name libspio.so \( -type f -o -type l \) | head -n 1)
[ -n "$so" ] || fail "libspio.so not installed (looked under $prefix)"
libdir=$(dirname "$so")
case "$libdir" in
"$prefix/lib" | "$prefix/lib64" | "$prefix"/lib/*-linux-gnu) ;;
*) fail "libspio.so installed in unexpected directory $libdir" ;;
esac
if [ ! -f "$(readlink -f "$libdir/libspio.so")" ]; then
	fail "$libdir/libspio.so is a dangling symlink"
fi
[ -f "$libdir/libspio.a" ] || fail "libspio.a not installed next to libspio.so in $libdir"
pcdir="$libdir/pkgconfig"
[ -f "$pcdir/spio.pc" ] || fail "spio.pc not installed in $pcdir"

# 3. pkg-config flags, from the installed spio.pc as it is: it derives its
# prefix from its own location (${pcfiledir}), so a tree installed with
# --prefix anywhere works without edits.
pc_path=$pcdir
pc() {
	PKG_CONFIG_PATH="$pc_path${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" pkg-config "$@" spio
}
pc --exists || fail "pkg-config cannot use $pcdir/spio.pc: $(pc --cflags 2>&1 || true)"
[ "$(realpath -m "$(pc --variable=libdir)")" = "$libdir" ] ||
	fail "spio.pc is not relocatable: libdir=$(pc --variable=libdir), installed in $libdir"
includedir=$(pc --variable=includedir)
pc_libdir=$(pc --variable=libdir)
[ "$(realpath -m "$includedir")" = "$prefix/include" ] ||
	fail "spio.pc: includedir '$includedir' is not $prefix/include"
[ "$(realpath -m "$pc_libdir")" = "$libdir" ] ||
	fail "spio.pc: libdir '$pc_libdir' is not $libdir"
cflags=$(pc --cflags) || fail "pkg-config --cflags spio failed"
flags=$(pc --cflags --libs) || fail "pkg-config --cflags --libs spio failed"
static_flags=$(pc --static --cflags --libs) || fail "pkg-config --static --cflags --libs spio failed"
case " $flags " in
*" -I$includedir "*) ;;
*) fail "pkg-config --cflags spio has no -I$includedir: '$flags'" ;;
esac
case " $flags " in
*" -L$pc_libdir "*) ;;
*) fail "pkg-config --libs spio has no -L$pc_libdir: '$flags'" ;;
esac

# 4. Every installed header compiles on its own with the pkg-config flags.
for h in "$prefix"/include/spio/*.h; do
	name=${h##*/}
	printf '#include <spio/%s>\n#include <spio/%s>\n' "$name" "$name" >"$tmp/hdr.c"
	# shellcheck disable=SC2086 # word splitting of the flags is intended
	cc -c "$tmp/hdr.c" -o "$tmp/hdr.o" $cflags >"$tmp/hdr.log" 2>&1 || {
		cat "$tmp/hdr.log" >&2
		fail "installed header spio/$name does not compile on its own (twice included)"
	}
done

# 5. A user program.
cat >"$tmp/prog.c" <<'EOF'
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <spio/cpuset.h>
#include <spio/dma.h>
#include <spio/env.h>

#define CHECK(cond, ...)                                  \
	do {                                              \
		if (!(cond)) {                            \
			fprintf(stderr, "prog: " __VA_ARGS__); \
			fputc('\n', stderr);              \
			return 1;                         \
		}                                         \
	} while (0)

int main(void)
{
	struct spio_env_opts opts;
	struct spio_cpuset set;
	struct spio_dma_stats st;
	struct spio_mempool *mp;
	char list[SPIO_CPUSET_LIST_STR_MAX];
	void *objs[64];
	uint64_t len = 4096;
	unsigned char *buf;
	int rc;

	rc = spio_cpuset_parse(&set, "[0-2,5]");
	CHECK(rc == 0, "spio_cpuset_parse([0-2,5]) returned %d, expected 0", rc);
	CHECK(spio_cpuset_count(&set) == 4, "cpuset count %u, expected 4", spio_cpuset_count(&set));
	rc = spio_cpuset_fmt_list(&set, list, sizeof(list));
	CHECK(rc == 0 && strcmp(list, "[0-2,5]") == 0, "fmt_list gave %d '%s', expected [0-2,5]",
	      rc, list);
	rc = spio_cpuset_parse(&set, "zz");
	CHECK(rc == -EINVAL, "spio_cpuset_parse(zz) returned %d, expected -EINVAL", rc);
	printf("cpuset: %s\n", list);

	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "install-test";
	opts.no_huge = true;
	rc = spio_env_init(&opts);
	CHECK(rc == 0, "spio_env_init(no_huge) returned %d, expected 0", rc);

	buf = spio_dma_malloc(4096, 4096);
	CHECK(buf != NULL, "spio_dma_malloc(4096, 4096) failed: errno %d", errno);
	CHECK(((uintptr_t)buf & 4095) == 0, "buffer %p not 4096-aligned", (void *)buf);
	memset(buf, 0xa5, 4096);
	CHECK(spio_vtophys(buf, &len) != SPIO_VTOPHYS_ERROR && len == 4096,
	      "spio_vtophys failed or len %llu, expected 4096", (unsigned long long)len);
	spio_dma_free(buf);
	rc = spio_dma_get_stats(&st);
	CHECK(rc == 0 && st.allocations == 0, "dma stats rc %d, %llu live buffers, expected 0", rc,
	      (unsigned long long)st.allocations);
	printf("dma: ok\n");

	mp = spio_mempool_create("install-test", 64, 128, 8, SPIO_MEMPOOL_MEM_DMA, NULL, NULL);
	CHECK(mp != NULL, "spio_mempool_create failed: errno %d", errno);
	for (int i = 0; i < 64; i++) {
		objs[i] = spio_mempool_get(mp);
		CHECK(objs[i] != NULL, "get %d of 64 returned NULL", i + 1);
		memset(objs[i], i, 128);
	}
	CHECK(spio_mempool_get(mp) == NULL, "get from an empty pool did not return NULL");
	CHECK(spio_mempool_count(mp) == 0, "count %zu with every object out, expected 0",
	      spio_mempool_count(mp));
	for (int i = 0; i < 64; i++) {
		spio_mempool_put(mp, objs[i]);
	}
	CHECK(spio_mempool_count(mp) == 64, "count %zu after putting all back, expected 64",
	      spio_mempool_count(mp));
	spio_mempool_free(mp);
	rc = spio_dma_get_stats(&st);
	CHECK(rc == 0 && st.allocations == 0, "%llu DMA buffers live after mempool free, expected 0",
	      (unsigned long long)st.allocations);
	printf("mempool: 64 objects ok\n");

	spio_env_fini();
	printf("install test program: OK\n");
	return 0;
}
EOF
expected=$'cpuset: [0-2,5]\ndma: ok\nmempool: 64 objects ok\ninstall test program: OK'

check_output() { # name output status
	[ "$3" -eq 0 ] || fail "$1 exited with status $3; output:"$'\n'"$2"
	[ "$2" = "$expected" ] ||
		fail "$1 printed:"$'\n'"$2"$'\n'"expected:"$'\n'"$expected"
}

# 5a. Shared: cc prog.c $(pkg-config --cflags --libs spio), nothing else.
cd "$tmp"
rm -f a.out
# shellcheck disable=SC2086
cc prog.c $flags >"$tmp/cc.log" 2>&1 || {
	cat "$tmp/cc.log" >&2
	fail "cc prog.c $flags failed"
}
mv a.out prog_shared
readelf -d prog_shared | grep 'NEEDED.*libspio\.so' >/dev/null ||
	fail "prog_shared does not depend on libspio.so"
resolved=$(LD_LIBRARY_PATH="$libdir" ldd ./prog_shared | awk '/libspio\.so/ {print $3}')
[ "$(readlink -f "$resolved")" = "$(readlink -f "$libdir/libspio.so")" ] ||
	fail "prog_shared loads libspio from '$resolved', expected the one in $libdir"
status=0
out=$(LD_LIBRARY_PATH="$libdir" ./prog_shared 2>&1) || status=$?
check_output "prog_shared (linked with libspio.so)" "$out" "$status"

# 5b. Static libspio: the --static flags, with -lspio pinned to the archive
# (ld would otherwise pick libspio.so from the same directory).
static_flags_a=$(printf '%s\n' "$static_flags" | sed 's/\(^\| \)-lspio\( \|$\)/\1-l:libspio.a\2/')
case " $static_flags_a " in
*" -l:libspio.a "*) ;;
*) fail "pkg-config --static --libs spio has no -lspio: '$static_flags'" ;;
esac
rm -f a.out
# shellcheck disable=SC2086
cc prog.c $static_flags_a >"$tmp/cc.log" 2>&1 || {
	cat "$tmp/cc.log" >&2
	fail "cc prog.c $static_flags_a failed (static link: are Libs.private / Requires.private of spio.pc complete?)"
}
mv a.out prog_static
! readelf -d prog_static | grep 'NEEDED.*libspio' >/dev/null ||
	fail "prog_static still depends on libspio.so"
status=0
out=$(./prog_static 2>&1) || status=$?
check_output "prog_static (linked with libspio.a)" "$out" "$status"

# 5c. Every object of libspio.a, not just those prog.c pulls in, links with
# the --static flags: spio.pc names every library libspio needs.
printf 'int main(void)\n{\n\treturn 0;\n}\n' >"$tmp/empty.c"
whole_flags=$(printf '%s\n' "$static_flags_a" |
	sed 's/-l:libspio\.a/-Wl,--whole-archive -l:libspio.a -Wl,--no-whole-archive/')
rm -f a.out
# shellcheck disable=SC2086
cc empty.c $whole_flags >"$tmp/cc.log" 2>&1 || {
	cat "$tmp/cc.log" >&2
	fail "linking all of libspio.a with 'pkg-config --static --libs spio' failed: spio.pc misses a library (Libs.private / Requires.private)"
}
./a.out || fail "a program linked with all of libspio.a exited with status $?"

# 6. Module registration survives static linking: a program that uses no
# malloc symbol creates a malloc bdev through the in-process RPC call, with
# the shared library and with the static one (the module and its RPC methods
# register themselves when loaded; spio.pc links the archive whole).
cat >"$tmp/rpc_malloc.c" <<'EOF2'
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <spio/bdev.h>
#include <spio/env.h>
#include <spio/json_val.h>
#include <spio/rpc.h>
#include <spio/thread.h>

static int g_code = 1;
static char g_result[128];
static bool g_fini;

static void created(void *ctx, int code, const char *msg, const struct spio_json_val *result)
{
	(void)ctx;
	g_code = code;
	snprintf(g_result, sizeof(g_result), "%s", code ? msg : spio_json_string(result));
}

static void finished(void *arg)
{
	(void)arg;
	g_fini = true;
}

int main(void)
{
	const char *params = "{\"name\": \"M0\", \"num_blocks\": 64, \"block_size\": 512}";
	struct spio_env_opts eo;
	struct spio_thread *t;
	struct spio_json_val *p;
	struct spio_bdev *b;
	int rc;

	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	if (spio_env_init(&eo) != 0 || spio_thread_lib_init(NULL, 0) != 0 ||
	    (t = spio_thread_create("main", NULL)) == NULL) {
		fprintf(stderr, "rpc_malloc: setup failed\n");
		return 1;
	}
	spio_set_thread(t);
	rc = spio_bdev_initialize(NULL, NULL, NULL);
	/* as SPDK's: creating bdevs is a runtime method, allowed once the layers run */
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	p = spio_json_parse(params, strlen(params), NULL, 0);
	if (rc != 0 || p == NULL || spio_rpc_call("bdev_malloc_create", p, created, NULL) != 0) {
		fprintf(stderr, "rpc_malloc: bdev init %d or call failed\n", rc);
		return 1;
	}
	for (int i = 0; i < 100 && g_code == 1; i++) {
		spio_thread_poll(t, 0, 0);
	}
	spio_json_val_free(p);
	b = spio_bdev_get_by_name("M0");
	if (g_code != 0 || b == NULL) {
		fprintf(stderr, "rpc_malloc: bdev_malloc_create: code %d: %s\n", g_code, g_result);
		return 1;
	}
	printf("rpc_malloc: %s, %llu blocks of %u\n", g_result,
	       (unsigned long long)spio_bdev_get_num_blocks(b), spio_bdev_get_block_size(b));
	spio_bdev_finish(finished, NULL);
	for (int i = 0; i < 100000 && !g_fini; i++) {
		spio_thread_poll(t, 0, 0);
	}
	spio_thread_exit(t);
	while (!spio_thread_is_exited(t)) {
		spio_thread_poll(t, 0, 0);
	}
	spio_thread_destroy(t);
	spio_set_thread(NULL);
	spio_thread_lib_fini();
	spio_env_fini();
	return g_fini ? 0 : 1;
}
EOF2
# The README's example too, both ways.
awk '/^```c$/ {on=1; next} on && /^```$/ {exit} on {print}' "$src_dir/README.md" >"$tmp/readme.c"
for prog in rpc_malloc readme; do
	# shellcheck disable=SC2086
	cc "$tmp/$prog.c" -o "$tmp/${prog}_shared" $flags >"$tmp/cc.log" 2>&1 ||
		{ cat "$tmp/cc.log" >&2; fail "$prog: cc with 'pkg-config --cflags --libs spio' failed"; }
	# shellcheck disable=SC2086
	cc "$tmp/$prog.c" -o "$tmp/${prog}_static" $static_flags_a >"$tmp/cc.log" 2>&1 ||
		{ cat "$tmp/cc.log" >&2; fail "$prog: cc with the static flags failed"; }
	! readelf -d "$tmp/${prog}_static" | grep 'NEEDED.*libspio' >/dev/null ||
		fail "${prog}_static depends on libspio.so"
	for kind in shared static; do
		status=0
		out=$(LD_LIBRARY_PATH="$libdir" "$tmp/${prog}_$kind" 2>&1) || status=$?
		[ "$status" -eq 0 ] || fail "${prog}_$kind exited with $status: $out"
		case "$prog:$out" in
		"rpc_malloc:rpc_malloc: M0, 64 blocks of 512" | "readme:on worker: buffer IOVA 0x"*) ;;
		*) fail "${prog}_$kind printed: $out" ;;
		esac
	done
done

echo "test_install: OK (prefix layout ${libdir#"$prefix"/}, shared and static programs ran, modules registered in both)"
