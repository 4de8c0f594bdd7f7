#!/usr/bin/env bash
# test_spdk_configs: configurations saved by SPDK's spdk_tgt (spdk_configs/,
# see its README) load in spio_tgt -c: SPDK's subsystems and options that
# spio lacks are skipped with one warning each when they hold SPDK's
# defaults; the bdevs come up with SPDK's names, UUIDs and geometry; the
# bdev options apply. A changed default is refused by name; spio's own
# save_config writes SPDK's parameters for each bdev and loads back. SPDK's
# configuration with an NVMe/TCP controller (bdev_nvme_set_options, attach)
# loads against the fake target (build/tests/fake_nvmf_tgt) and is saved
# back with SPDK's entries; with SPIO_SPDK_TGT=path/to/spdk_tgt, SPDK loads
# spio's saved configuration too.
# Usage (from CTest): test_spdk_configs.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=$1
SRC=$2
TGT=$BUILD/spio_tgt
RPC=$BUILD/spio_rpc
TMP=$(mktemp -d)
SOCK=$TMP/spio.sock
CFG=$SRC/tests/compat/spdk_configs
# shellcheck source=../func/spio_tgt_lib.sh
. "$SRC/tests/func/spio_tgt_lib.sh"

command -v python3 >/dev/null || {
	echo "test_spdk_configs: SKIP: python3 not found"
	exit 77
}

# The config with its aio file moved into TMP.
prepare() {
	truncate -s 64M "$TMP/aio0.img"
	sed "s#/tmp/spdk_aio0.img#$TMP/aio0.img#" "$CFG/$1.json" >"$TMP/$1.json"
}

rpc() {
	"$RPC" -s "$SOCK" "$@" >"$TMP/reply" 2>"$TMP/rpc.err" || fail "spio_rpc $*: $(cat "$TMP/rpc.err")"
}

check() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$TMP/reply" "$1" ||
		fail "check '$1' failed on: $(head -c 800 "$TMP/reply")"
}

# Every skipped entry of SPDK's fresh configuration is named once
# (bdev_nvme_set_options and framework_set_scheduler are spio's own methods:
# they apply).
prepare default
start_tgt -c "$TMP/default.json"
for m in iobuf_set_options sock_set_default_impl accel_set_options bdev_nvme_set_hotplug \
	bdev_raid_set_options iscsi_set_options; do
	grep -q "skipping $m, which holds SPDK's defaults" "$TMP/out" || fail "no warning for $m"
done
! grep -q "skipping bdev_nvme_set_options" "$TMP/out" || fail "bdev_nvme_set_options skipped, expected applied"
! grep -q "skipping framework_set_scheduler" "$TMP/out" || fail "framework_set_scheduler skipped, expected applied"
[ "$(grep -c "skipping " "$TMP/out")" -eq 8 ] || fail "expected 8 skipped entries, got $(grep -c "skipping " "$TMP/out")"
rpc bdev_get_bdevs
check 'd == []'
rpc framework_get_scheduler
check "d['scheduler_name'] == 'static'"
stop_tgt
echo "ok: SPDK's default configuration loads (8 entries skipped by name)"

# SPDK's bdevs, with SPDK's names, UUIDs and geometry.
prepare bdevs
start_tgt -c "$TMP/bdevs.json"
rpc bdev_get_bdevs
cp "$TMP/reply" "$TMP/bdevs_reply.json"
python3 - "$TMP/bdevs.json" "$TMP/bdevs_reply.json" <<'PY' || fail "bdevs differ from SPDK's configuration"
import json, sys
cfg = json.load(open(sys.argv[1]))
got = {b["name"]: b for b in json.load(open(sys.argv[2]))}
want = [e["params"] for s in cfg["subsystems"] if s["subsystem"] == "bdev"
        for e in s["config"] if e["method"].endswith("_create")]
assert len(want) == 5, want
for p in want:
    b = got.get(p["name"])
    assert b is not None, "%s missing" % p["name"]
    assert b["uuid"] == p["uuid"], (p["name"], b["uuid"], p["uuid"])
    assert b["block_size"] == p["block_size"], p["name"]
    if "num_blocks" in p:
        assert b["num_blocks"] == p["num_blocks"], p["name"]
print("bdevs match:", ", ".join(sorted(got)))
PY
# spio's save_config: for each bdev SPDK's method and SPDK's parameter names
rpc save_config
cp "$TMP/reply" "$TMP/spio_saved.json"
python3 - "$TMP/bdevs.json" "$TMP/spio_saved.json" <<'PY' || fail "spio's saved entries differ from SPDK's"
import json, sys
def entries(path):
    d = json.load(open(path))
    return {(e["method"], e.get("params", {}).get("name")): e.get("params", {})
            for s in d["subsystems"] if s["subsystem"] == "bdev" for e in s["config"]}
spdk, spio = entries(sys.argv[1]), entries(sys.argv[2])
for key, params in spdk.items():
    if key[0] in ("bdev_raid_set_options", "bdev_nvme_set_options", "bdev_nvme_set_hotplug"):
        continue
    assert key in spio, "spio does not save %s" % (key,)
    assert list(params) == list(spio[key]), (key, list(params), list(spio[key]))
    for k in ("uuid", "num_blocks", "block_size", "filename", "readonly", "fallocate"):
        if k in params:
            assert params[k] == spio[key][k], (key, k, params[k], spio[key][k])
print("spio saves", len(spio), "bdev entries with SPDK's parameters, in SPDK's order")
PY
stop_tgt
start_tgt -c "$TMP/spio_saved.json"
rpc bdev_get_bdevs
check '{b["name"] for b in d} == {"Malloc0", "Malloc1", "Null0", "Null1", "Aio0"}'
stop_tgt
echo "ok: SPDK's bdevs load; spio's save_config writes SPDK's entries and loads back"

# bdev_set_options from SPDK's --wait-for-rpc session applies before the bdev layer starts.
prepare options
start_tgt -c "$TMP/options.json"
rpc framework_get_config --name bdev
check 'd[0]["method"] == "bdev_set_options" and d[0]["params"]["bdev_io_pool_size"] == 4095 and d[0]["params"]["bdev_io_cache_size"] == 32 and d[0]["params"]["bdev_auto_examine"] is False'
stop_tgt
echo "ok: SPDK's bdev_set_options (pool 4095, cache 32, no auto examine) applies"

# Settings spio cannot honour stop start-up with the subsystem, method and parameter named.
refused() {
	local want=$1 file=$2
	"$TGT" -m "$MASK" -r "$SOCK" --no-huge -c "$file" >"$TMP/out" 2>&1 &
	PID=$!
	wait "$PID"
	local rc=$?
	PID=
	[ "$rc" -eq 1 ] || fail "spio_tgt -c $(basename "$file"): exit $rc, expected 1"
	grep -qF -- "$want" "$TMP/out" || fail "expected '$want' in: $(cat "$TMP/out")"
}
python3 - "$TMP/default.json" "$TMP/iobuf.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["subsystems"]:
    if s["subsystem"] == "iobuf":
        s["config"][0]["params"]["small_pool_count"] = 4096
json.dump(d, open(sys.argv[2], "w"))
PY
refused "subsystem 'iobuf' entry 0: method 'iobuf_set_options': small_pool_count 4096 is not SPDK's default (8192)" "$TMP/iobuf.json"
python3 - "$TMP/default.json" "$TMP/foreign.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["subsystems"].append({"subsystem": "fsdev", "config": []})
json.dump(d, open(sys.argv[2], "w"))
PY
refused "unknown subsystem 'fsdev'" "$TMP/foreign.json"
sed 's/"bdev_io_cache_size": 32/"bdev_io_cache_size": 600/' "$TMP/options.json" >"$TMP/badopts.json"
refused "method 'bdev_set_options') failed: bdev_io_pool_size 4095 too small for bdev_io_cache_size 600" "$TMP/badopts.json"
echo "ok: changed defaults and unknown subsystems are refused by name"

# SPDK's configuration with an NVMe/TCP controller (nvme.json: SPDK's
# bdev_nvme_set_options, io_queue_requests 512 as SPDK writes it once a
# controller exists, and an attach), pointed at a fake target started here.
FAKE=$BUILD/tests/fake_nvmf_tgt
FAKE_PID=
stop_fake() {
	if [ -n "$FAKE_PID" ] && kill -0 "$FAKE_PID" 2>/dev/null; then
		kill -TERM "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	FAKE_PID=
}
trap 'stop_fake; cleanup' EXIT
[ -x "$FAKE" ] || fail "$FAKE not built"
"$FAKE" --port 0 >"$TMP/fake.out" 2>"$TMP/fake.err" &
FAKE_PID=$!
for _ in $(seq 1 100); do
	grep -q "^port " "$TMP/fake.out" && break
	kill -0 "$FAKE_PID" 2>/dev/null || fail "fake_nvmf_tgt exited: $(cat "$TMP/fake.err")"
	sleep 0.05
done
PORT=$(awk '/^port /{print $2}' "$TMP/fake.out")
[ -n "$PORT" ] || fail "fake_nvmf_tgt printed no port"
python3 - "$CFG/nvme.json" "$TMP/nvme.json" "$PORT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["subsystems"]:
    for e in s["config"] or []:
        if e["method"] == "bdev_nvme_attach_controller":
            e["params"]["traddr"] = "127.0.0.1"
            e["params"]["trsvcid"] = sys.argv[3]
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
start_tgt -c "$TMP/nvme.json"
! grep -q "skipping bdev_nvme_set_options" "$TMP/out" || fail "bdev_nvme_set_options skipped, expected applied"
rpc bdev_get_bdevs
# The UUID SPDK's spdk_tgt gave this namespace (its NGUID).
check '[(b["name"], b["uuid"]) for b in d] == [("Nvme0n1", "7370696f-6661-6b65-0000-000000000001")]'
rpc bdev_nvme_get_controllers
check 'd[0]["name"] == "Nvme0" and d[0]["ctrlrs"][0]["state"] == "enabled" and d[0]["ctrlrs"][0]["host"]["nqn"] == "nqn.2014-08.org.nvmexpress:uuid:762f91de-e3eb-4e2e-b909-1a1eacf30555"'
# SPDK's rule: the options change only while no controller is attached.
"$RPC" -s "$SOCK" bdev_nvme_set_options --bdev_retry_count 1 >"$TMP/reply" 2>"$TMP/rpc.err" &&
	fail "bdev_nvme_set_options with a controller attached succeeded"
grep -q "RPC not permitted with nvme controllers already attached" "$TMP/rpc.err" ||
	fail "expected SPDK's refusal, got: $(cat "$TMP/rpc.err")"
rpc save_config
cp "$TMP/reply" "$TMP/nvme_saved.json"
python3 - "$TMP/nvme.json" "$TMP/nvme_saved.json" <<'PY' || fail "spio's nvme entries differ from SPDK's"
import json, sys
def bdev(path):
    d = json.load(open(path))
    return [e for s in d["subsystems"] if s["subsystem"] == "bdev" for e in s["config"]]
spdk, spio = bdev(sys.argv[1]), bdev(sys.argv[2])
methods = [e["method"] for e in spio]
assert methods.index("bdev_nvme_set_options") < methods.index("bdev_nvme_attach_controller"), methods
def entry(entries, method):
    return next(e["params"] for e in entries if e["method"] == method)
# The options in effect are SPDK's, key for key and value for value.
want, got = entry(spdk, "bdev_nvme_set_options"), entry(spio, "bdev_nvme_set_options")
assert list(want) == list(got), (list(want), list(got))
assert want == got, {k: (want[k], got[k]) for k in want if want[k] != got[k]}
want, got = entry(spdk, "bdev_nvme_attach_controller"), entry(spio, "bdev_nvme_attach_controller")
assert list(want) == list(got), (list(want), list(got))
for k in want:
    assert want[k] == got[k], (k, want[k], got[k])
print("bdev_nvme_set_options and bdev_nvme_attach_controller saved as SPDK's")
PY
stop_tgt
start_tgt -c "$TMP/nvme_saved.json"
rpc bdev_get_bdevs
check '[b["name"] for b in d] == ["Nvme0n1"]'
stop_tgt
if [ -n "${SPIO_SPDK_TGT:-}" ]; then
	# SPDK's own target takes spio's saved configuration (busy-polls: stopped at once).
	"$SPIO_SPDK_TGT" -m 0x1 -r "$TMP/spdk.sock" --no-pci --no-huge -s 1024 \
		-c "$TMP/nvme_saved.json" >"$TMP/spdk.out" 2>&1 &
	SPDK_PID=$!
	for _ in $(seq 1 200); do
		[ -S "$TMP/spdk.sock" ] && break
		sleep 0.05
	done
	python3 - "$TMP/spdk.sock" <<'PY'
import json, socket, sys, time
for _ in range(100):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "bdev_get_bdevs"}).encode())
    buf = b""
    while True:
        try:
            r = json.loads(buf)
            break
        except ValueError:
            buf += s.recv(65536)
    if [b["name"] for b in r.get("result", [])] == ["Nvme0n1"]:
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
	rc=$?
	kill -TERM "$SPDK_PID"
	wait "$SPDK_PID"
	[ "$rc" -eq 0 ] || fail "SPDK's spdk_tgt did not load spio's configuration: $(tail -5 "$TMP/spdk.out")"
	echo "ok: SPDK's spdk_tgt loads spio's saved nvme configuration"
fi
python3 - "$TMP/nvme.json" "$TMP/nvme_ack.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["subsystems"]:
    for e in s["config"] or []:
        if e["method"] == "bdev_nvme_set_options":
            e["params"]["transport_ack_timeout"] = 5
json.dump(d, open(sys.argv[2], "w"))
PY
refused "method 'bdev_nvme_set_options') failed: nvme options: transport_ack_timeout 5: only 0" "$TMP/nvme_ack.json"
stop_fake
echo "ok: SPDK's nvme configuration loads against a fake target and saves back as SPDK's"
echo "test_spdk_configs: OK"
