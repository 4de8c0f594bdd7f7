#!/usr/bin/env bash
# The virtual bdevs in spio_tgt, driven by SPDK's own rpc.py: every RPC of
# the error, passthru, split and delay modules; bdev_get_bdevs' names,
# sizes, claims and driver_specific; refusals (missing base, duplicate
# name, bad parameters) answered with a JSON-RPC error and the target alive
# after each; save_config and a restart with it bringing every vbdev back
# (the delay's updated latency too); deletes. spio_dd then reads through
# them from a configuration: an injected read error fails the read, the
# split parts and the delay bdev of the saved configuration read fine.
#
# Usage: test_vbdevs_rpc.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
# shellcheck disable=SC2034 # read by rpcpy_lib.sh
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
DD=$BUILD/spio_dd
TMP=$(mktemp -d /tmp/spio-vbdevs-test.XXXXXX)
SOCK=/tmp/spio-vbdevs-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"
# shellcheck source=../compat/rpcpy_lib.sh
source "$(dirname "$0")/../compat/rpcpy_lib.sh"

for bin in "$TGT" "$DD"; do
	[ -x "$bin" ] || fail "$bin not built"
done

# One rpc.py for the whole test (its --server mode, one connection per
# command): starting python for each of ~70 calls would take a minute.
coproc RPCSRV { python3 "$RPCPY" --server 2>&1; }

# rpc_send ARGS...: one rpc.py command; its output in $TMP/reply, its
# status (0 or 1) in RPC_STATUS.
rpc_send() {
	local line
	printf -- '-s %q %s\n' "$SOCK" "$(printf '%q ' "$@")" >&"${RPCSRV[1]}"
	: >"$TMP/reply"
	while IFS= read -r -t 30 line <&"${RPCSRV[0]}"; do
		case $line in
		'**STATUS='*)
			RPC_STATUS=${line#'**STATUS='}
			return 0
			;;
		esac
		printf '%s\n' "$line" >>"$TMP/reply"
	done
	fail "rpc.py --server: no answer to $*"
}

# rpc.py CMD must succeed (replaces rpcpy_lib's one-process-per-call rpc).
rpc() {
	rpc_send "$@"
	[ "$RPC_STATUS" = 0 ] || fail "rpc.py $*: $(cat "$TMP/reply")"
}

# rpc.py CMD must fail; its output must contain $1.
rpc_refused() {
	local want=$1
	shift
	rpc_send "$@"
	[ "$RPC_STATUS" != 0 ] || fail "rpc.py $* succeeded, expected a refusal"
	grep -q -- "$want" "$TMP/reply" || fail "rpc.py $*: expected '$want', got: $(cat "$TMP/reply")"
}

# alive WHAT: the target still runs (a refusal must never crash it).
alive() {
	kill -0 "$PID" 2>/dev/null || fail "spio_tgt died after $1"
}

# refused CODE ARGS...: rpc.py must fail with JSON-RPC error code CODE.
refused() {
	local code=$1
	shift
	rpc_refused "\"code\": $code" "$@"
	alive "$*"
}

# reply_is TEXT: rpc.py printed TEXT (a name is printed bare, not as JSON).
reply_is() {
	[ "$(tr -d '\n' <"$TMP/reply")" = "$1" ] || fail "expected '$1', got '$(cat "$TMP/reply")'"
}

# bdev_names: the sorted names bdev_get_bdevs lists, one line.
bdev_names() {
	rpc bdev_get_bdevs
	python3 -c 'import json,sys; print(" ".join(sorted(b["name"] for b in json.load(open(sys.argv[1])))))' \
		"$TMP/reply"
}

# 1. Bases and one vbdev of each kind.
start_tgt
for i in 0 1 2 3; do
	rpc bdev_malloc_create -b "Malloc$i" 8 512
done

rpc bdev_error_create Malloc0
rpc bdev_get_bdevs -b EE_Malloc0
check "d[0]['num_blocks'] == 16384 and d[0]['driver_specific']['error_disk'] == {'base_bdev': 'Malloc0'}"
rpc bdev_error_inject_error EE_Malloc0 read failure -n 2
rpc bdev_error_inject_error EE_Malloc0 write corrupt_data -n 1 -o 3 -v 255
rpc bdev_error_inject_error EE_Malloc0 clear failure
echo "ok: bdev_error_create, bdev_error_inject_error, driver_specific.error_disk"

rpc bdev_passthru_create -b Malloc1 -p PT1
reply_is PT1
rpc bdev_get_bdevs -b PT1
check "d[0]['driver_specific']['passthru'] == {'name': 'PT1', 'base_bdev_name': 'Malloc1'}"
echo "ok: bdev_passthru_create, driver_specific.passthru"

rpc bdev_split_create Malloc2 4
reply_is "Malloc2p0 Malloc2p1 Malloc2p2 Malloc2p3"
rpc bdev_get_bdevs -b Malloc2p3
check "d[0]['num_blocks'] == 4096 and d[0]['product_name'] == 'Split Disk' and d[0]['driver_specific']['split']['offset_blocks'] == 3 * 4096 and d[0]['driver_specific']['split']['base_bdev'] == 'Malloc2'"
rpc bdev_split_create Later 2 -s 1
reply_is ""
echo "ok: bdev_split_create (4 parts of 2 MiB; a split waiting for its base answers [])"

rpc bdev_delay_create -b Malloc3 -d D3 -r 100 -t 200 -w 300 -n 400
reply_is D3
rpc bdev_delay_update_latency D3 avg_read 150
rpc bdev_get_bdevs -b D3
check "d[0]['driver_specific']['delay']['base_bdev_name'] == 'Malloc3' and d[0]['driver_specific']['delay']['avg_read_latency'] == 150 and d[0]['driver_specific']['delay']['p99_write_latency'] == 400"
echo "ok: bdev_delay_create, bdev_delay_update_latency, driver_specific.delay"

for b in Malloc0 Malloc1 Malloc2 Malloc3; do
	rpc bdev_get_bdevs -b "$b"
	check "d[0]['claimed'] is True"
done
echo "ok: every base is claimed"

# 2. Refusals: a JSON-RPC error each, never a crash.
refused -32602 bdev_split_create Malloc2 2
refused -32602 bdev_split_create Malloc1 2
refused -32602 bdev_split_create Malloc9 0
refused -32602 bdev_split_delete Nope
refused -17 bdev_passthru_create -b Malloc1 -p PT1
refused -1 bdev_passthru_create -b Malloc0 -p PT9
refused -19 bdev_passthru_delete Nope
refused -17 bdev_delay_create -b Malloc3 -d D3 -r 1 -t 1 -w 1 -n 1
refused -22 bdev_delay_create -b Malloc9 -d D9 -r 10 -t 5 -w 1 -n 1
refused -1 bdev_delay_create -b Malloc2 -d D9 -r 1 -t 1 -w 1 -n 1
refused -32602 bdev_delay_update_latency Nope avg_read 1
refused -32602 bdev_delay_update_latency Malloc0 avg_read 1
refused -19 bdev_delay_delete Nope
refused -19 bdev_error_delete Nope
refused -19 bdev_error_inject_error Nope read failure
refused -22 bdev_error_inject_error EE_Malloc0 read corrupt_data -v 0
echo "ok: missing base, duplicate names, bad parameters refused; the target is alive"

# 3. save_config, restart with it: every vbdev is back.
want=$(bdev_names)
# a delete and a re-create on the same base: the delete released it
rpc bdev_delay_delete D3
rpc bdev_delay_create -b Malloc3 -d D3 -r 100 -t 200 -w 300 -n 400
rpc bdev_delay_update_latency D3 avg_read 150
rpc save_config
cp "$TMP/reply" "$TMP/saved.json"
python3 - "$TMP/saved.json" <<'PY' || fail "save_config lacks a vbdev: $(cat "$TMP/saved.json")"
import json, sys
conf = json.load(open(sys.argv[1]))
bdev = [s for s in conf["subsystems"] if s["subsystem"] == "bdev"][0]["config"]
m = [(e["method"], e.get("params", {})) for e in bdev]
names = [x[0] for x in m]
for meth in ("bdev_error_create", "bdev_passthru_create", "bdev_split_create", "bdev_delay_create"):
    assert meth in names, meth
splits = sorted((p["base_bdev"], p["split_count"]) for n, p in m if n == "bdev_split_create")
assert splits == [("Later", 2), ("Malloc2", 4)], splits
delay = [p for n, p in m if n == "bdev_delay_create"][0]
assert delay["avg_read_latency"] == 150 and delay["p99_write_latency"] == 400, delay
PY
stop_tgt
start_tgt -c "$TMP/saved.json"
got=$(bdev_names)
[ "$got" = "$want" ] || fail "after a restart with the saved config: '$got', expected '$want'"
rpc bdev_get_bdevs -b D3
check "d[0]['driver_specific']['delay']['avg_read_latency'] == 150"
refused -32602 bdev_split_create Malloc2 4
echo "ok: save_config round trip: $got"

# 4. Deletes.
rpc bdev_error_delete EE_Malloc0
rpc bdev_passthru_delete PT1
rpc bdev_split_delete Malloc2
rpc bdev_split_delete Later
rpc bdev_delay_delete D3
for _ in $(seq 1 40); do
	got=$(bdev_names)
	[ "$got" = "Malloc0 Malloc1 Malloc2 Malloc3" ] && break
	sleep 0.05
done
[ "$got" = "Malloc0 Malloc1 Malloc2 Malloc3" ] || fail "after the deletes: '$got'"
for b in Malloc0 Malloc1 Malloc2 Malloc3; do
	rpc bdev_get_bdevs -b "$b"
	check "d[0]['claimed'] is False"
done
refused -32602 bdev_split_delete Malloc2
refused -19 bdev_delay_delete D3
stop_tgt
echo "ok: every vbdev deleted, its base released, the target stops cleanly"

# 5. Reads through them with spio_dd.
cat >"$TMP/ee.json" <<'JSON'
{"subsystems": [{"subsystem": "bdev", "config": [
 {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 2048, "block_size": 512}},
 {"method": "bdev_error_create", "params": {"base_name": "Malloc0"}},
 {"method": "bdev_error_inject_error",
  "params": {"name": "EE_Malloc0", "io_type": "read", "error_type": "failure", "num": 100000}}
]}]}
JSON
if timeout 30 "$DD" --json "$TMP/ee.json" --no-huge --ib EE_Malloc0 --of "$TMP/o.bin" --bs 4096 \
	--count 4 >"$TMP/out" 2>&1; then
	fail "a read of EE_Malloc0 with a read failure injected succeeded"
fi
grep -q "Input/output error" "$TMP/out" || fail "EE_Malloc0 read: $(cat "$TMP/out")"
echo "ok: an injected read failure fails spio_dd's read"
for b in Malloc2p2 D3 PT1 EE_Malloc0; do
	timeout 30 "$DD" --json "$TMP/saved.json" --no-huge --ib "$b" --of "$TMP/o.bin" --bs 4096 \
		--count 4 >"$TMP/out" 2>&1 || fail "spio_dd read of $b from the saved config: $(cat "$TMP/out")"
	[ "$(stat -c %s "$TMP/o.bin")" -eq 16384 ] || fail "spio_dd read of $b: wrong size"
done
echo "ok: spio_dd reads Malloc2p2, D3, PT1 and EE_Malloc0 from the saved config"
# end of input: the rpc.py server exits
srv_in=${RPCSRV[1]}
exec {srv_in}>&-
wait "$RPCSRV_PID" 2>/dev/null
echo "PASS"
