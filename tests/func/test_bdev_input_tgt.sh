#!/usr/bin/env bash
# Careless input to spio_tgt's bdev modules and to spio_perf (issue 17,
# items 1, 3, 6): a FIFO, /dev/null or a /proc file as an aio/uring bdev is
# refused at once for what it is and the daemon keeps answering; a null
# bdev too big for JSON is refused and listing and save_config keep
# working; malloc's bad geometry names the parameter; a file name with a
# newline cannot forge a log line; one file behind two bdevs is warned
# about; spio_perf -m 0x0 exits 2 (bad option).
#
# Usage: test_bdev_input_tgt.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
RPC=$BUILD/spio_rpc
PERF=$BUILD/spio_perf
TMP=$(mktemp -d /var/tmp/spio-input-test.XXXXXX)
SOCK=/tmp/spio-input-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"

for bin in "$TGT" "$RPC" "$PERF"; do
	[ -x "$bin" ] || fail "$bin not built"
done

# rpc_fails WHAT TEXT METHOD ARGS...: the call must fail within 10 s and its
# message mention TEXT (and never blame O_DIRECT).
rpc_fails() {
	local what=$1 text=$2 rc
	shift 2
	timeout 10 "$RPC" -s "$SOCK" -t 5 "$@" >"$TMP/rpc.out" 2>"$TMP/rpc.err"
	rc=$?
	[ "$rc" -ne 124 ] || fail "$what: no answer within 10 s (blocked?)"
	[ "$rc" -ne 0 ] || fail "$what: succeeded, expected an error"
	grep -q -- "$text" "$TMP/rpc.err" || fail "$what: message should mention '$text': $(cat "$TMP/rpc.err")"
	if grep -q "O_DIRECT" "$TMP/rpc.err"; then
		fail "$what: the message blames O_DIRECT: $(cat "$TMP/rpc.err")"
	fi
}

# rpc_ok WHAT METHOD ARGS...: the call must succeed within 10 s; output in $TMP/ok.json.
rpc_ok() {
	local what=$1
	shift
	timeout 10 "$RPC" -s "$SOCK" -t 5 "$@" >"$TMP/ok.json" 2>"$TMP/rpc.err" ||
		fail "$what: expected success: $(cat "$TMP/rpc.err")"
}

# shellcheck disable=SC2119 # no options for this target
start_tgt

# 1. Files that are not storage: refused at once, the daemon still answers.
mkfifo "$TMP/fifo"
rpc_fails "aio on a FIFO, read-only" "is a FIFO, not a regular file or block device" \
	bdev_aio_create --name F1 --filename "$TMP/fifo" --readonly
rpc_fails "uring on a FIFO, read-only" "is a FIFO" \
	bdev_uring_create --name F1 --filename "$TMP/fifo" --readonly
rpc_fails "uring on a FIFO, buffered" "is a FIFO" \
	bdev_uring_create --name F1 --filename "$TMP/fifo" --direct false
rpc_ok "spdk_get_version after the FIFO" spdk_get_version
rpc_fails "aio on /dev/null" "/dev/null: is a character device, not a regular file or block device" \
	bdev_aio_create --name D1 --filename /dev/null
rpc_fails "uring on /dev/null" "is a character device" \
	bdev_uring_create --name D1 --filename /dev/null
rpc_fails "uring on a /proc file" "/proc/version: is a procfs file" \
	bdev_uring_create --name P1 --filename /proc/version
rpc_fails "aio on a /proc file, buffered" "not a regular file or block device" \
	bdev_aio_create --name P1 --filename /proc/version --direct false
echo "ok: a FIFO, /dev/null and a /proc file are refused at once for what they are"

# 2. Sizes JSON cannot carry.
rpc_fails "null of 2^64-1 blocks" "num_blocks 18446744073709551615" \
	bdev_null_create --name N1 --num_blocks 18446744073709551615 --block_size 512
rpc_ok "null of 2^63/4096 - 1 blocks" bdev_null_create --name N2 --num_blocks 2251799813685247 --block_size 4096
rpc_ok "bdev_get_bdevs" bdev_get_bdevs
python3 -c "import json,sys; v=json.load(open(sys.argv[1])); sys.exit(0 if [b['name'] for b in v] == ['N2'] else 1)" \
	"$TMP/ok.json" || fail "bdev_get_bdevs: expected only N2, got $(cat "$TMP/ok.json")"
rpc_ok "save_config" save_config
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$TMP/ok.json" ||
	fail "save_config is not readable JSON"
rpc_ok "delete N2" bdev_null_delete --name N2
echo "ok: a null bdev too big for JSON is refused; listing and save_config work"

# 3. Malloc's geometry: the parameter named.
rpc_fails "malloc block_size 513" "block_size 513" \
	bdev_malloc_create --name M1 --num_blocks 8 --block_size 513
rpc_fails "malloc num_blocks 0" "num_blocks 0" \
	bdev_malloc_create --name M1 --num_blocks 0 --block_size 512
echo "ok: malloc's bad block_size and num_blocks are named"

# 4. A file name with a newline: one log line, the newline escaped.
rpc_fails "a file name with a newline" "cannot open" \
	bdev_aio_create --name L1 --filename "$TMP/x
error: forged line"
if grep -q "^error: forged line" "$TMP/out"; then
	fail "a file name forged a log line"
fi
grep -qF 'x\nerror: forged line' "$TMP/out" || fail "expected the newline written as \\n in the log"
echo "ok: control characters in a file name are escaped in the log"

# 5. One file behind two bdevs: allowed (as in SPDK), with a warning.
truncate -s 1M "$TMP/shared.img"
rpc_ok "aio on shared.img" bdev_aio_create --name S1 --filename "$TMP/shared.img"
rpc_ok "uring on shared.img" bdev_uring_create --name S2 --filename "$TMP/shared.img"
grep -q "uring bdev S2: .*shared.img is also the file of aio bdev S1" "$TMP/out" ||
	fail "expected a warning that S1 and S2 share a file"
echo "ok: one file behind two bdevs is warned about"

stop_tgt

# 6. spio_perf: a mask of no core is a bad option.
"$PERF" -m 0x0 -t 1 >"$TMP/perf.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "spio_perf -m 0x0: expected exit 2 (bad option), got $rc: $(cat "$TMP/perf.out")"
grep -q -- "-m 0x0" "$TMP/perf.out" || fail "spio_perf -m 0x0: the message should name the option: $(cat "$TMP/perf.out")"
echo "ok: spio_perf -m 0x0 exits 2"
