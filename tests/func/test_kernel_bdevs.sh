#!/usr/bin/env bash
# The uring and aio bdevs in spio_tgt, driven by spio_rpc: create from a
# configuration file and by RPC, errors (missing file, directory, size not a
# multiple of the block size) as clear RPC errors with no bdev left behind,
# bdev_get_bdevs' driver_specific, rescan after growing the file, spio_perf
# verify over both, save_config loaded back by a restarted spio_tgt, delete.
#
# Usage: test_kernel_bdevs.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
RPC=$BUILD/spio_rpc
PERF=$BUILD/spio_perf
TMP=$(mktemp -d /var/tmp/spio-kbdev-test.XXXXXX)
SOCK=/tmp/spio-kbdev-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"

for bin in "$TGT" "$RPC" "$PERF"; do
	[ -x "$bin" ] || fail "$bin not built"
done

# json_check FILE PYTHON-EXPR WHAT: the expression over the parsed JSON `v` must hold.
json_check() {
	python3 -c "import json,sys; v=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1" ||
		fail "$3: expected $2, got $(cat "$1")"
}

# rpc_fails WHAT TEXT METHOD ARGS...: the call must fail and its message mention TEXT.
rpc_fails() {
	local what=$1 text=$2
	shift 2
	if "$RPC" -s "$SOCK" "$@" >"$TMP/rpc.out" 2>"$TMP/rpc.err"; then
		fail "$what: succeeded, expected an error"
	fi
	grep -q -- "$text" "$TMP/rpc.err" || fail "$what: message should mention '$text': $(cat "$TMP/rpc.err")"
}

truncate -s 8M "$TMP/u0.img"
truncate -s 8M "$TMP/a0.img"
cat >"$TMP/conf.json" <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_uring_create", "params": {"name": "Uring0", "filename": "$TMP/u0.img"}},
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$TMP/a0.img", "block_size": 4096}}
]}]}
EOF

# 1. From a configuration file, then by RPC.
start_tgt -c "$TMP/conf.json"
"$RPC" -s "$SOCK" bdev_get_bdevs --name Uring0 >"$TMP/b.json" || fail "bdev_get_bdevs Uring0"
json_check "$TMP/b.json" "v[0]['product_name'] == 'URING bdev' and v[0]['driver_specific']['uring']['filename'] == '$TMP/u0.img' and v[0]['num_blocks'] * v[0]['block_size'] == 8 << 20" "Uring0 from the config"
"$RPC" -s "$SOCK" bdev_get_bdevs --name Aio0 >"$TMP/b.json" || fail "bdev_get_bdevs Aio0"
json_check "$TMP/b.json" "v[0]['block_size'] == 4096 and v[0]['driver_specific']['aio']['direct'] is True" "Aio0 from the config"
echo "ok: uring and aio bdevs from a configuration file"

truncate -s 4M "$TMP/u1.img"
"$RPC" -s "$SOCK" bdev_uring_create --name Uring1 --filename "$TMP/u1.img" --block_size 4096 \
	--queue_depth 64 --registered_buffers >"$TMP/c.json" || fail "bdev_uring_create by RPC"
json_check "$TMP/c.json" "v == 'Uring1'" "bdev_uring_create answers the name"
"$RPC" -s "$SOCK" bdev_aio_create --name Aio1 --filename "$TMP/u1.img" --readonly >/dev/null ||
	fail "bdev_aio_create by RPC (read-only, same file)"
echo "ok: created by RPC"

# 2. Errors: clear messages, no bdev.
rpc_fails "missing file" "$TMP/nope.img: cannot open" bdev_uring_create --name Bad --filename "$TMP/nope.img"
mkdir "$TMP/dir"
rpc_fails "directory" "is a directory" bdev_aio_create --name Bad --filename "$TMP/dir"
head -c 1000 /dev/zero >"$TMP/odd.img"
rpc_fails "odd size" "size 1000 bytes is not a multiple of the block size" bdev_uring_create --name Bad --filename "$TMP/odd.img"
rpc_fails "taken name" "Uring0" bdev_aio_create --name Uring0 --filename "$TMP/a0.img"
rpc_fails "unknown parameter" "Unknown parameter 'colour'" bdev_uring_create --name Bad --filename "$TMP/u1.img" --colour red
if "$RPC" -s "$SOCK" bdev_get_bdevs --name Bad >/dev/null 2>&1; then
	fail "a failed create left a bdev behind"
fi
echo "ok: errors are RPC errors that name the file and the problem"

# 3. Rescan after growing the file.
truncate -s 16M "$TMP/u0.img"
"$RPC" -s "$SOCK" bdev_uring_rescan --name Uring0 >"$TMP/r.json" || fail "bdev_uring_rescan"
"$RPC" -s "$SOCK" bdev_get_bdevs --name Uring0 >"$TMP/b.json" || fail "bdev_get_bdevs after rescan"
json_check "$TMP/b.json" "v[0]['num_blocks'] * v[0]['block_size'] == 16 << 20" "Uring0 after rescan"
truncate -s 12M "$TMP/a0.img"
"$RPC" -s "$SOCK" bdev_aio_rescan --name Aio0 >/dev/null || fail "bdev_aio_rescan"
"$RPC" -s "$SOCK" bdev_get_bdevs --name Aio0 >"$TMP/b.json" || fail "bdev_get_bdevs Aio0"
json_check "$TMP/b.json" "v[0]['num_blocks'] == 3072" "Aio0 after rescan"
echo "ok: rescan follows grown files"

# 4. save_config, restart with it: the same bdevs come back.
"$RPC" -s "$SOCK" save_config >"$TMP/saved.json" || fail "save_config"
"$RPC" -s "$SOCK" bdev_get_bdevs >"$TMP/before.json" || fail "bdev_get_bdevs"
stop_tgt
start_tgt -c "$TMP/saved.json"
"$RPC" -s "$SOCK" bdev_get_bdevs >"$TMP/after.json" || fail "bdev_get_bdevs after restart"
python3 - "$TMP/before.json" "$TMP/after.json" <<'EOF' || fail "the saved configuration did not recreate the same bdevs"
import json, sys
key = lambda b: (b["name"], b["uuid"], b["block_size"], b["num_blocks"], json.dumps(b["driver_specific"], sort_keys=True))
before = sorted(key(b) for b in json.load(open(sys.argv[1])) if b["product_name"] in ("URING bdev", "AIO disk"))
after = sorted(key(b) for b in json.load(open(sys.argv[2])) if b["product_name"] in ("URING bdev", "AIO disk"))
assert len(before) == 4, before
assert before == after, (before, after)
EOF
echo "ok: save_config loads back to the same four bdevs"

# 5. Delete.
"$RPC" -s "$SOCK" bdev_uring_delete --name Uring1 >/dev/null || fail "bdev_uring_delete"
"$RPC" -s "$SOCK" bdev_aio_delete --name Aio1 >/dev/null || fail "bdev_aio_delete"
rpc_fails "delete twice" "" bdev_aio_delete --name Aio1
stop_tgt
echo "ok: deleted; spio_tgt stops cleanly"

# 6. spio_perf verify over both modules.
cat >"$TMP/perf.json" <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_uring_create", "params": {"name": "Uring0", "filename": "$TMP/u0.img"}},
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$TMP/a0.img"}}
]}]}
EOF
"$PERF" -c "$TMP/perf.json" --no-huge -q 16 -o 16k -w verify -t 2 --json >"$TMP/perf.out" 2>"$TMP/perf.err" ||
	fail "spio_perf verify: $(cat "$TMP/perf.err")"
json_check "$TMP/perf.out" "len(v['jobs']) == 2 and all(j['io_errors'] == 0 and j['miscompares'] == 0 and j['ios'] > 0 for j in v['jobs'])" "spio_perf verify"
echo "ok: spio_perf verify over uring and aio: no errors, no miscompares"

echo "test_kernel_bdevs: all checks passed"
