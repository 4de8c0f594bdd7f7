#!/usr/bin/env bash
# SPDK v25.05's BlobFS RPCs in spio_tgt, called with spio_rpc (SPDK's rpc.py of
# today has no blobfs commands): blobfs_detect false on a fresh bdev and true
# after blobfs_create (malloc and aio); blobfs_create with cluster_sz "4M" (its
# super block in the aio file checked byte for byte: signature, 4 MiB clusters,
# type BLOBFS, clean) and as a number; bad cluster_sz values, a missing bdev,
# a bdev claimed by an lvstore and a blobstore of another type refused with
# SPDK's codes; the claim released after each call; blobfs_set_cache_size valid
# and invalid; blobfs_mount refused, naming spio_fuse. The target must be alive
# after every refusal.
#
# Usage: test_blobfs_rpc.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
RPC=$BUILD/spio_rpc
# On disk, not tmpfs: an aio file.
TMP=$(mktemp -d /var/tmp/spio-blobfs-rpc.XXXXXX)
SOCK=/tmp/spio-blobfs-rpc-$$.sock
MiB=$((1024 * 1024))
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"

for bin in "$TGT" "$RPC"; do
	[ -x "$bin" ] || fail "$bin not built"
done

alive() {
	kill -0 "$PID" 2>/dev/null || fail "spio_tgt died after $1"
}

# call METHOD JSON: must succeed; the result goes to $TMP/reply.
call() {
	"$RPC" -s "$SOCK" -t 30 call "$1" "$2" >"$TMP/reply" 2>"$TMP/err" ||
		fail "$1 $2: $(cat "$TMP/err")"
}

# result METHOD JSON WANT: must succeed with the result WANT (compact JSON text).
result() {
	call "$1" "$2"
	[ "$(tr -d ' \n' <"$TMP/reply")" = "$3" ] ||
		fail "$1 $2: expected $3, got $(cat "$TMP/reply")"
}

# refused CODE MSG METHOD JSON: must fail with error CODE and MSG in its message.
refused() {
	local code=$1 msg=$2 rc
	shift 2
	"$RPC" -s "$SOCK" -t 30 call "$1" "$2" >"$TMP/reply" 2>"$TMP/err"
	rc=$?
	[ "$rc" -eq 1 ] || fail "$1 $2: expected an error reply (exit 1), got exit $rc: $(cat "$TMP/err" "$TMP/reply")"
	grep -q "^  \"code\": $code,\$" "$TMP/err" && grep -q "^  \"message\": \".*$msg" "$TMP/err" ||
		fail "$1 $2: expected code $code with '$msg', got: $(cat "$TMP/err")"
	alive "$1 $2"
}

# claimed BDEV WANT: bdev_get_bdevs' "claimed" of BDEV is WANT (true/false).
claimed() {
	call bdev_get_bdevs "{\"name\": \"$1\"}"
	grep -Eq "\"claimed\": $2,?\$" "$TMP/reply" ||
		fail "$1: expected claimed $2, got $(cat "$TMP/reply")"
}

# super FILE CLUSTER_SZ: FILE starts with a clean blobstore super block of type BLOBFS
# and CLUSTER_SZ-byte clusters (spio's and SPDK's layout, little-endian: clean at 16,
# cluster_size at 28, bstype at 56).
super() {
	local sig clean cluster bstype
	sig=$(head -c 8 "$1")
	clean=$(od -An -tu4 --endian=little -j16 -N4 "$1" | tr -d ' ')
	cluster=$(od -An -tu4 --endian=little -j28 -N4 "$1" | tr -d ' ')
	bstype=$(dd if="$1" bs=1 skip=56 count=16 status=none | tr -d '\0')
	[ "$sig" = SPDKBLOB ] && [ "$clean" = 1 ] && [ "$cluster" = "$2" ] && [ "$bstype" = BLOBFS ] ||
		fail "super block of $1: signature '$sig' clean $clean cluster_size $cluster type '$bstype', expected a clean BLOBFS with $2-byte clusters"
}

truncate -s $((64 * MiB)) "$TMP/aio0"
start_tgt
call bdev_malloc_create '{"name": "Malloc0", "num_blocks": 16384, "block_size": 4096}'
call bdev_malloc_create '{"name": "Malloc1", "num_blocks": 16384, "block_size": 4096}'
call bdev_malloc_create '{"name": "Malloc2", "num_blocks": 16384, "block_size": 4096}'
call bdev_aio_create "{\"name\": \"Aio0\", \"filename\": \"$TMP/aio0\", \"block_size\": 4096}"

# 1. detect / create / detect on malloc, default cluster size.
result blobfs_detect '{"bdev_name": "Malloc0"}' false
claimed Malloc0 false
result blobfs_create '{"bdev_name": "Malloc0"}' true
claimed Malloc0 false
result blobfs_detect '{"bdev_name": "Malloc0"}' true
claimed Malloc0 false
# Created again over an existing one: a new, empty BlobFS (mkfs).
result blobfs_create '{"bdev_name": "Malloc0", "cluster_sz": "1M"}' true
result blobfs_detect '{"bdev_name": "Malloc0"}' true
echo "ok: detect false, create, detect true on Malloc0; claim released after each"

# 2. aio with cluster_sz "4M" (SPDK's string form): the super block on the file.
result blobfs_detect '{"bdev_name": "Aio0"}' false
result blobfs_create '{"bdev_name": "Aio0", "cluster_sz": "4M"}' true
super "$TMP/aio0" $((4 * MiB))
result blobfs_detect '{"bdev_name": "Aio0"}' true
super "$TMP/aio0" $((4 * MiB))
# A JSON number works too (SPDK's documentation says number; its code took only strings).
result blobfs_create "{\"bdev_name\": \"Aio0\", \"cluster_sz\": $((2 * MiB))}" true
super "$TMP/aio0" $((2 * MiB))
result blobfs_create '{"bdev_name": "Aio0", "cluster_sz": "1028k"}' true
super "$TMP/aio0" $((1028 * 1024))
echo "ok: create on Aio0 with cluster_sz 4M, 2 MiB (number), 1028k; super block checked"

# 3. Bad cluster_sz: -32602, and nothing written.
for bad in '"512K"' '"1050000"' '"abc"' '""' '"-1M"' '"1.5M"' '4096' '-1048576' 'true' \
	'"4294967296"'; do
	refused -32602 "spdk_json_decode_object failed" blobfs_create \
		"{\"bdev_name\": \"Aio0\", \"cluster_sz\": $bad}"
done
super "$TMP/aio0" $((1028 * 1024))
refused -32602 "spdk_json_decode_object failed" blobfs_create '{}'
refused -32602 "spdk_json_decode_object failed" blobfs_create '{"bdev_name": "Aio0", "x": 1}'
refused -32602 "spdk_json_decode_object failed" blobfs_detect '{"bdev_name": 1}'
# Larger than the device: the blobstore's refusal, -32603.
refused -32603 "" blobfs_create '{"bdev_name": "Malloc2", "cluster_sz": "1G"}'
claimed Malloc2 false
result blobfs_detect '{"bdev_name": "Malloc2"}' false
echo "ok: bad cluster_sz and parameters refused with -32602"

# 4. A missing bdev: SPDK's -32603 "No such device".
refused -32603 "No such device" blobfs_detect '{"bdev_name": "Nope"}'
refused -32603 "No such device" blobfs_create '{"bdev_name": "Nope"}'
echo "ok: missing bdev refused"

# 5. A bdev claimed by an lvstore: -32603 "Operation not permitted"; the lvstore stays.
call bdev_lvol_create_lvstore '{"bdev_name": "Malloc1", "lvs_name": "lvs1"}'
refused -32603 "Operation not permitted" blobfs_detect '{"bdev_name": "Malloc1"}'
refused -32603 "Operation not permitted" blobfs_create '{"bdev_name": "Malloc1"}'
call bdev_lvol_get_lvstores '{"lvs_name": "lvs1"}'
claimed Malloc1 true
echo "ok: bdev claimed by an lvstore refused"

# 6. A blobstore of another type (an lvstore left on Malloc2 by a removed passthru):
# SPDK's load answers -EINVAL, so detect says -32603 "Invalid argument"; create makes
# a BlobFS over it.
call bdev_passthru_create '{"base_bdev_name": "Malloc2", "name": "PT2"}'
call bdev_lvol_create_lvstore '{"bdev_name": "PT2", "lvs_name": "lvs2"}'
call bdev_passthru_delete '{"name": "PT2"}'
for _ in $(seq 1 100); do
	call bdev_get_bdevs '{"name": "Malloc2"}'
	grep -q '"claimed": false' "$TMP/reply" && break
	sleep 0.05
done
claimed Malloc2 false
refused -32603 "Invalid argument" blobfs_detect '{"bdev_name": "Malloc2"}'
result blobfs_create '{"bdev_name": "Malloc2"}' true
result blobfs_detect '{"bdev_name": "Malloc2"}' true
echo "ok: another blobstore type: detect refused, create over it"

# 7. blobfs_set_cache_size: > 0 MiB; the next load uses it (a load of a 64 MiB fs works with
# a 1 MiB budget: two 256 KiB buffers fit).
result blobfs_set_cache_size '{"size_in_mb": 512}' true
result blobfs_set_cache_size '{"size_in_mb": 1}' true
result blobfs_detect '{"bdev_name": "Malloc0"}' true
refused -32602 "spdk_json_decode_object failed" blobfs_set_cache_size '{"size_in_mb": 0}'
refused -32602 "spdk_json_decode_object failed" blobfs_set_cache_size '{"size_in_mb": -5}'
refused -32602 "spdk_json_decode_object failed" blobfs_set_cache_size '{"size_in_mb": "x"}'
refused -32602 "spdk_json_decode_object failed" blobfs_set_cache_size '{}'
refused -32602 "spdk_json_decode_object failed" blobfs_set_cache_size \
	'{"size_in_mb": "18446744073709551615"}'
result blobfs_set_cache_size '{"size_in_mb": 256}' true
echo "ok: blobfs_set_cache_size"

# 8. blobfs_mount: no FUSE in spio_tgt; the answer names spio_fuse.
refused -32603 "spio_fuse CONFIG BDEV MOUNTPOINT" blobfs_mount \
	"{\"bdev_name\": \"Malloc0\", \"mountpoint\": \"$TMP\"}"
refused -32603 "Operation not supported" blobfs_mount \
	"{\"bdev_name\": \"Malloc0\", \"mountpoint\": \"$TMP\"}"
refused -32602 "spdk_json_decode_object failed" blobfs_mount '{"bdev_name": "Malloc0"}'
claimed Malloc0 false
echo "ok: blobfs_mount refused, naming spio_fuse"

# The methods are listed, and the target stops cleanly.
call rpc_get_methods '{}'
for m in blobfs_detect blobfs_create blobfs_set_cache_size blobfs_mount; do
	grep -q "\"$m\"" "$TMP/reply" || fail "rpc_get_methods lacks $m"
done
stop_tgt
echo "test_blobfs_rpc: all passed"
