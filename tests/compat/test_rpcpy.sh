#!/usr/bin/env bash
# test_rpcpy: SPDK's own scripts/rpc.py, unmodified, against a live spio_tgt:
# the command lines an SPDK user types, each reply checked for SPDK's keys
# and types. rpc.py always sends some parameters (md_interleave,
# include_aliases, per_channel, with_batches, ...): they must be accepted.
# rpc.py comes from SPIO_SPDK_RPC, else ../shared/clients/spdk-rpc next to
# the source tree; without it (or python3) the test skips (exit 77).
# Usage (from CTest): test_rpcpy.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=$1
SRC=$2
TGT=$BUILD/spio_tgt
TMP=$(mktemp -d)
SOCK=$TMP/spio.sock
# shellcheck source=../func/spio_tgt_lib.sh
. "$SRC/tests/func/spio_tgt_lib.sh"

# shellcheck source=rpcpy_lib.sh
. "$SRC/tests/compat/rpcpy_lib.sh"

start_tgt

rpc bdev_malloc_create -b M1 64 512
grep -q '^M1$' "$TMP/reply" || fail "bdev_malloc_create -b M1 64 512: reply $(cat "$TMP/reply")"
rpc bdev_malloc_create -b M2 -u 11111111-2222-3333-4444-555555555555 16 4096
rpc bdev_null_create N0 64 4096
rpc bdev_get_bdevs -b M2
check 'd[0]["name"] == "M2" and d[0]["uuid"] == "11111111-2222-3333-4444-555555555555" and d[0]["block_size"] == 4096 and d[0]["num_blocks"] == 4096'
rpc bdev_get_bdevs
check 'isinstance(d, list) and {"M1", "M2", "N0"} <= {b["name"] for b in d} and all(isinstance(b["supported_io_types"], dict) and isinstance(b["aliases"], list) and isinstance(b["driver_specific"], dict) for b in d)'
rpc bdev_get_iostat
check 'isinstance(d["tick_rate"], int) and isinstance(d["bdevs"], list) and all("bytes_read" in b and "num_read_ops" in b for b in d["bdevs"])'
rpc bdev_reset_iostat
rpc rpc_get_methods
check '"bdev_malloc_create" in d and "rpc_get_methods" in d and "save_config" in d'
rpc rpc_get_methods -c
rpc spdk_get_version
check 'isinstance(d["version"], str) and isinstance(d["fields"]["major"], int)'
rpc framework_get_reactors
rpc thread_get_stats
rpc bdev_wait_for_examine

# Refusals name what is refused.
rpc_refused "md_size" bdev_malloc_create -b M3 -m 8 64 512
rpc_refused '"code": -17' bdev_malloc_create -b M1 64 512
rpc_refused '"code": -19' bdev_get_bdevs -b Nope
rpc_refused '"code": -22' bdev_get_iostat -c
rpc bdev_get_iostat --names M1 -c
check 'd["name"] == "M1" and isinstance(d["channels"], list)'
rpc bdev_get_iostat --names M1,N0 --reset-mode all
check '[b["name"] for b in d["bdevs"]] == ["M1", "N0"] and all(isinstance(b["io_error"], dict) for b in d["bdevs"])'

# Batches (rpc.py -b): one JSON-RPC array, answered with one array.
printf '%s\n' 'bdev_malloc_create -b B1 16 512' 'bdev_null_create BN 16 512' 'bdev_get_bdevs -b B1' |
	python3 "$RPCPY" -s "$SOCK" -b >"$TMP/reply" 2>"$TMP/rpc.err" || fail "rpc.py -b: $(cat "$TMP/rpc.err")"
grep -q '"name": "B1"' "$TMP/reply" || fail "rpc.py -b: no bdev_get_bdevs result in $(cat "$TMP/reply")"
grep -q '"BN"' "$TMP/reply" || fail "rpc.py -b: no bdev_null_create result in $(cat "$TMP/reply")"
printf '%s\n' 'bdev_malloc_delete B1' 'bdev_malloc_delete Nope' 'bdev_null_delete BN' |
	python3 "$RPCPY" -s "$SOCK" -b >"$TMP/reply" 2>"$TMP/rpc.err" && fail "rpc.py -b with a failing element: exit 0"
grep -q '"code": -19' "$TMP/rpc.err" || fail "rpc.py -b: expected the element's -19, got $(cat "$TMP/rpc.err")"
rpc_refused '"code": -19' bdev_get_bdevs -b BN

# save_config through rpc.py (framework_get_subsystems + framework_get_config
# with_batches), then the saved bdevs come back after a restart.
rpc save_config
cp "$TMP/reply" "$TMP/saved.json"
check '{"M1", "M2"} <= {e["params"]["name"] for s in d["subsystems"] if s["subsystem"] == "bdev" for e in s["config"] if e["method"] == "bdev_malloc_create"}'
rpc save_subsystem_config -n bdev
cp "$TMP/reply" "$TMP/bdev_saved.json"
check 'd["subsystem"] == "bdev" and d["config"][0]["method"] == "bdev_set_options"'
rpc bdev_malloc_delete M1
rpc bdev_null_delete N0
stop_tgt
start_tgt -c "$TMP/saved.json"
rpc bdev_get_bdevs
check '{"M1", "M2", "N0"} <= {b["name"] for b in d}'
stop_tgt

# load_config and load_subsystem_config into a running target (runtime
# entries; the startup-only bdev_set_options is skipped, as with SPDK).
start_tgt
python3 "$RPCPY" -s "$SOCK" load_config <"$TMP/saved.json" >"$TMP/reply" 2>"$TMP/rpc.err" ||
	fail "rpc.py load_config: $(cat "$TMP/rpc.err")"
rpc bdev_get_bdevs
check '{b["name"] for b in d} == {"M1", "M2", "N0"}'
rpc bdev_malloc_delete M1
rpc bdev_malloc_delete M2
rpc bdev_null_delete N0
python3 "$RPCPY" -s "$SOCK" load_subsystem_config <"$TMP/bdev_saved.json" >"$TMP/reply" 2>"$TMP/rpc.err" ||
	fail "rpc.py load_subsystem_config: $(cat "$TMP/rpc.err")"
rpc bdev_get_bdevs
check '{b["name"] for b in d} == {"M1", "M2", "N0"}'
stop_tgt

echo "test_rpcpy: OK (rpc.py: $RPCPY)"
