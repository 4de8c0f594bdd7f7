#!/usr/bin/env bash
# test_nvmf_rpcpy: spio_tgt's NVMe-oF target driven by SPDK's unmodified
# rpc.py, checked against SPDK's nvmf_tgt and reached by our initiator
# (nvme_check) over 127.0.0.1 on free ports (never 4420):
#  1. the cases of nvmf_cases.txt (transport, subsystems, namespaces,
#     listeners, hosts, the getters with and without a host connected,
#     removals, bad parameters) answer as SPDK's nvmf_tgt answered them
#     (spdk_replies/nvmf_*.json): same success or error code, SPDK's keys
#     and JSON types; the values that matter are checked too;
#  2. what spio refuses (TLS, ANA, passthrough, ...) is refused by name;
#  3. save_config writes the nvmf subsystem in SPDK's layout and order, and
#     spio_tgt -c loads it back to the same state, serving data;
#  4. spdk_configs/nvmf.json (saved by SPDK's nvmf_tgt) loads and serves:
#     namespaces with SPDK's IDs, a host list that refuses our initiator;
#  5. app/spio_tgt/malloc0.json (what `make run` loads) exports Malloc0 and
#     the target prints the `nvme connect` command that reaches it;
#  6. with SPIO_SPDK_NVMF_TGT (SPDK's nvmf_tgt binary) set: SPDK's nvmf_tgt
#     loads spio's saved configuration and serves it.
# Recording SPDK's replies: SPIO_NVMF_RECORD=1 SPIO_SPDK_NVMF_TGT=PATH
# test_nvmf_rpcpy.sh BUILD SRC writes tests/compat/spdk_replies/nvmf_*.json.
# Usage (from CTest): test_nvmf_rpcpy.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=$1
SRC=$2
TGT=$BUILD/spio_tgt
CHECK=$BUILD/nvme_check
TMP=$(mktemp -d)
SOCK=$TMP/spio.sock
CASES=$SRC/tests/compat/nvmf_cases.txt
NQN1=nqn.2016-06.io.spdk:cnode1
# shellcheck source=../func/spio_tgt_lib.sh
. "$SRC/tests/func/spio_tgt_lib.sh"
# shellcheck source=rpcpy_lib.sh
. "$SRC/tests/compat/rpcpy_lib.sh"

[ -x "$CHECK" ] || {
	echo "test_nvmf_rpcpy: SKIP: $CHECK is not built"
	exit 77
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nvme_check against subsystem $2 on port $1 of 127.0.0.1 (writes, reads back, verifies 4 MiB).
check_io() {
	"$CHECK" -r "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$1 subnqn:$2" -s 4 -o 64 \
		>"$TMP/check.out" 2>&1
}

# Run nvmf_cases.txt through rpc.py against the target on $SOCK; replies into $1.
run_cases() {
	python3 - "$SRC/tests/compat" "$RPCPY" "$SOCK" "$1" "$PORT" "$CHECK" "$CASES" <<'PY'
import json, os, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from run_cases import load_cases, run_case
_, _, rpcpy, sock, outdir, port, check, cases = sys.argv
os.makedirs(outdir, exist_ok=True)
host = None

def connect():
    # --disconnect-test keeps writing until the connection drops: a host that stays.
    trid = "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%s subnqn:nqn.2016-06.io.spdk:cnode1" % port
    p = subprocess.Popen([check, "-r", trid, "-s", "1", "--no-deallocate", "--disconnect-test"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("IO_RUNNING"):
            return p
    p.kill()
    sys.exit("nvme_check did not start I/O: " + "".join(seen))

for name, mode, args in load_cases(cases):
    connected = name.startswith("nvmf_connected_")
    if connected and host is None:
        host = connect()
    if not connected and host is not None:
        host.kill()
        host.wait()
        host = None
        time.sleep(0.5)  # the target notices the connection is gone
    reply = run_case(rpcpy, sock, args.replace("@PORT@", port), outdir)
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(reply, f, indent=2, sort_keys=True)
        f.write("\n")
if host is not None:
    host.kill()
PY
}

# SPDK's nvmf_tgt on $TMP/spdk.sock, with extra args.
SPDK_PID=
start_spdk() {
	local lib
	lib=$(dirname "$SPIO_SPDK_NVMF_TGT")/../lib
	LD_LIBRARY_PATH=$lib "$SPIO_SPDK_NVMF_TGT" -m 0x1 -r "$TMP/spdk.sock" --no-pci --no-huge \
		-s 1024 --disable-cpumask-locks "$@" >"$TMP/spdk.out" 2>&1 &
	SPDK_PID=$!
	for _ in $(seq 1 300); do
		[ -S "$TMP/spdk.sock" ] && python3 "$RPCPY" -s "$TMP/spdk.sock" spdk_get_version \
			>/dev/null 2>&1 && return 0
		kill -0 "$SPDK_PID" 2>/dev/null || fail "SPDK's nvmf_tgt exited: $(tail -5 "$TMP/spdk.out")"
		sleep 0.1
	done
	fail "SPDK's nvmf_tgt did not start: $(tail -5 "$TMP/spdk.out")"
}

stop_spdk() {
	kill -TERM "$SPDK_PID" 2>/dev/null
	wait "$SPDK_PID" 2>/dev/null
	SPDK_PID=
	rm -f "$TMP/spdk.sock"
}
trap 'if [ -n "$SPDK_PID" ]; then kill -KILL "$SPDK_PID" 2>/dev/null; fi; cleanup' EXIT

PORT=$(free_port)
if [ -n "${SPIO_NVMF_RECORD:-}" ]; then
	[ -x "${SPIO_SPDK_NVMF_TGT:-}" ] || fail "SPIO_NVMF_RECORD needs SPIO_SPDK_NVMF_TGT"
	SAVE=$SOCK
	SOCK=$TMP/spdk.sock
	start_spdk
	run_cases "$SRC/tests/compat/spdk_replies" || fail "recording failed"
	stop_spdk
	SOCK=$SAVE
	echo "test_nvmf_rpcpy: recorded SPDK's replies into tests/compat/spdk_replies"
	exit 0
fi

# 1. SPDK's cases.
start_tgt
run_cases "$TMP/replies" || fail "running the cases failed"
python3 "$SRC/tests/compat/compare_replies.py" "$CASES" "$SRC/tests/compat/spdk_replies" \
	"$TMP/replies" || fail "replies differ from SPDK's (above)"
python3 - "$TMP/replies" "$PORT" <<'PY' || fail "reply values differ from what the cases set"
import json, sys
d, port = sys.argv[1], sys.argv[2]
def r(name):
    return json.load(open("%s/%s.json" % (d, name)))["result"]
t = r("nvmf_get_transports")[0]
assert (t["trtype"], t["in_capsule_data_size"], t["max_queue_depth"]) == ("TCP", 4096, 128), t
assert t.get("io_unit_size") == 8192, "io_unit_size 8192 (not SPDK's default) kept: %s" % t
subs = {s["nqn"]: s for s in r("nvmf_get_subsystems")}
c1, c2 = subs["nqn.2016-06.io.spdk:cnode1"], subs["nqn.2016-06.io.spdk:cnode2"]
assert subs["nqn.2014-08.org.nvmexpress.discovery"]["listen_addresses"][0]["trsvcid"] == port
assert (c1["serial_number"], c1["model_number"], c1["max_namespaces"]) == \
    ("SPDK00000000000001", "spio_Controller1", 8), c1
assert [h["nqn"] for h in c1["hosts"]] == ["nqn.2016-06.io.spdk:host1"], c1["hosts"]
assert c1["allow_any_host"] is True and c2["allow_any_host"] is True
assert (c2["min_cntlid"], c2["max_cntlid"]) == (10, 20), c2
ns = {n["nsid"]: n for n in c1["namespaces"]}
assert sorted(ns) == [1, 5] and ns[1]["bdev_name"] == "Malloc0", ns
assert (ns[5]["nguid"], ns[5]["eui64"], ns[5]["uuid"]) == \
    ("000102030405060708090A0B0C0D0E0F", "0011223344556677",
     "6f1f5c1e-4a55-4c8e-9d53-2a9b7f0e1a01"), ns[5]
a = c1["listen_addresses"][0]
assert (a["trtype"], a["adrfam"], a["traddr"], a["trsvcid"]) == ("TCP", "IPv4", "127.0.0.1", port)
assert c2["listen_addresses"][0]["adrfam"] == "IPv4", "adrfam defaults to IPv4"
ctrl = r("nvmf_connected_get_controllers")
assert len(ctrl) == 1 and ctrl[0]["cntrltype"] == "io" and ctrl[0]["num_io_qpairs"] == 2, ctrl
assert ctrl[0]["hostnqn"].startswith("nqn.2014-08.org.nvmexpress:uuid:"), ctrl
qp = r("nvmf_connected_get_qpairs")
assert sorted(q["qid"] for q in qp) == [0, 1] and all(q["state"] == "enabled" for q in qp), qp
assert all(q["listen_address"]["trsvcid"] == port for q in qp), qp
st = r("nvmf_connected_get_stats")["poll_groups"]
assert sum(g["current_io_qpairs"] for g in st) == 1 and sum(g["completed_nvme_io"] for g in st) > 0, st
assert r("nvmf_get_controllers_none") == [] and r("nvmf_get_qpairs_none") == []
assert sum(g["current_io_qpairs"] for g in r("nvmf_get_stats")["poll_groups"]) == 0
print("reply values: ok")
PY
echo "ok: $(grep -cv -e '^#' -e '^$' "$CASES") cases answer as SPDK's nvmf_tgt"

# 2. What spio does not do is refused by name (SPDK would accept these).
rpc_refused "zcopy true" nvmf_create_transport -t TCP -z
rpc_refused "secure_channel true" nvmf_subsystem_add_listener -t tcp -a 127.0.0.1 -s "$PORT" -k \
	"$NQN1"
rpc_refused "ptpl_file" nvmf_subsystem_add_ns -p "$TMP/ptpl" "$NQN1" Null0
rpc_refused "no_auto_visible true" nvmf_subsystem_add_ns -i "$NQN1" Null0
rpc_refused "ana_reporting true" nvmf_create_subsystem -r nqn.2016-06.io.spdk:cnode9
rpc_refused "psk key0" nvmf_subsystem_add_host --psk key0 "$NQN1" nqn.2016-06.io.spdk:host2
rpc nvmf_get_subsystems "$NQN1"
check 'len(d[0]["namespaces"]) == 1 and d[0]["hosts"] == []'
echo "ok: TLS, ANA, reservations, host-specific namespaces are refused by name"

# 3. save_config in SPDK's layout; it loads back and serves.
rpc nvmf_subsystem_allow_any_host --allow-any-host "$NQN1"
rpc nvmf_subsystem_add_host "$NQN1" nqn.2016-06.io.spdk:host3
rpc save_config
cp "$TMP/reply" "$TMP/saved.json"
rpc nvmf_get_subsystems
cp "$TMP/reply" "$TMP/subs_before.json"
python3 - "$TMP/saved.json" "$SRC/tests/compat/spdk_configs/nvmf.json" <<'PY' ||
import json, sys
def nvmf(path):
    return [s for s in json.load(open(path))["subsystems"] if s["subsystem"] == "nvmf"][0]["config"]
spio, spdk = nvmf(sys.argv[1]), nvmf(sys.argv[2])
order = ["nvmf_set_config", "nvmf_set_max_subsystems", "nvmf_set_crdt", "nvmf_create_transport",
         "nvmf_create_subsystem", "nvmf_subsystem_add_host", "nvmf_subsystem_add_ns",
         "nvmf_subsystem_add_listener"]
ranks = [order.index(e["method"]) for e in spio]
assert ranks == sorted(ranks), "methods out of SPDK's order: %s" % [e["method"] for e in spio]
assert [e["method"] for e in spio[:3]] == order[:3], spio[:3]
keys = {}
for e in spdk:
    keys.setdefault(e["method"], set(e["params"]))
for e in spio:
    want = keys[e["method"]]
    have = set(e["params"])
    extra = have - want - {"io_unit_size", "num_shared_buffers", "control_msg_num"}
    assert want <= have and not extra, (e["method"], sorted(want ^ have))
    if e["method"] == "nvmf_subsystem_add_ns":
        assert set(e["params"]["namespace"]) <= {"nsid", "bdev_name", "nguid", "eui64", "uuid",
                                                 "no_auto_visible"}, e
assert spio[0]["params"] == spdk[0]["params"], "nvmf_set_config: SPDK's defaults"
print("spio's nvmf entries: SPDK's methods, order and parameters")
PY
	fail "save_config's nvmf subsystem differs from SPDK's layout"
stop_tgt
start_tgt -c "$TMP/saved.json"
rpc nvmf_get_subsystems
python3 - "$TMP/subs_before.json" "$TMP/reply" <<'PY' || fail "the reloaded state differs"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a == b, "before:\n%s\nafter:\n%s" % (a, b)
PY
check_io "$PORT" "$NQN1" || fail "nvme_check on the reloaded target: $(cat "$TMP/check.out")"
stop_tgt
echo "ok: save_config writes SPDK's layout; spio_tgt -c loads it back and serves"

# 4. SPDK's saved configuration loads and serves.
PORT2=$(free_port)
sed "s/\"4421\"/\"$PORT2\"/" "$SRC/tests/compat/spdk_configs/nvmf.json" >"$TMP/spdk_nvmf.json"
if ! python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	echo "note: no IPv6 loopback here; dropping SPDK's ::1 listener"
	python3 - "$TMP/spdk_nvmf.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["subsystems"]:
    if s["subsystem"] == "nvmf":
        s["config"] = [e for e in s["config"]
                       if e.get("params", {}).get("listen_address", {}).get("adrfam") != "IPv6"]
json.dump(d, open(sys.argv[1], "w"))
PY
fi
start_tgt -c "$TMP/spdk_nvmf.json"
rpc nvmf_get_subsystems
python3 - "$TMP/spdk_nvmf.json" "$TMP/reply" <<'PY' || fail "the state differs from SPDK's config"
import json, sys
cfg = [s for s in json.load(open(sys.argv[1]))["subsystems"] if s["subsystem"] == "nvmf"][0]["config"]
got = {s["nqn"]: s for s in json.load(open(sys.argv[2]))}
for e in cfg:
    p = e.get("params", {})
    if e["method"] == "nvmf_create_subsystem":
        s = got[p["nqn"]]
        for k in ("allow_any_host", "serial_number", "model_number", "max_namespaces",
                  "min_cntlid", "max_cntlid"):
            assert s[k] == p[k], (p["nqn"], k, s[k], p[k])
    elif e["method"] == "nvmf_subsystem_add_host":
        assert {"nqn": p["host"]} in got[p["nqn"]]["hosts"], (p, got[p["nqn"]]["hosts"])
    elif e["method"] == "nvmf_subsystem_add_ns":
        want = p["namespace"]
        ns = {n["nsid"]: n for n in got[p["nqn"]]["namespaces"]}[want["nsid"]]
        for k in ("bdev_name", "nguid", "eui64", "uuid"):
            assert ns.get(k) == want.get(k), (p["nqn"], k, ns.get(k), want.get(k))
    elif e["method"] == "nvmf_subsystem_add_listener":
        assert p["listen_address"] in got[p["nqn"]]["listen_addresses"], p
print("SPDK's subsystems, namespaces, hosts and listeners are there")
PY
check_io "$PORT2" "$NQN1" || fail "nvme_check on SPDK's config: $(cat "$TMP/check.out")"
if check_io "$PORT2" nqn.2016-06.io.spdk:cnode2; then
	fail "cnode2 allows only host1, but our initiator's host NQN connected"
fi
stop_tgt
echo "ok: SPDK's nvmf_tgt configuration loads in spio_tgt and serves; its host list holds"

# 5. The default export of `make run`.
PORT3=$(free_port)
sed "s/\"4420\"/\"$PORT3\"/" "$SRC/app/spio_tgt/malloc0.json" >"$TMP/malloc0.json"
start_tgt -c "$TMP/malloc0.json"
want="nvme connect -t tcp -a 127.0.0.1 -s $PORT3 -n nqn.2016-06.io.spdk-io:default"
grep -qF -- "$want" "$TMP/out" || fail "no '$want' line at start-up"
check_io "$PORT3" nqn.2016-06.io.spdk-io:default ||
	fail "nvme_check on the default export: $(cat "$TMP/check.out")"
grep -q "namespace 1:" "$TMP/check.out" || fail "Malloc0 is not namespace 1: $(cat "$TMP/check.out")"
stop_tgt
echo "ok: malloc0.json exports Malloc0 as namespace 1 and prints the nvme connect command"

# 6. SPDK's nvmf_tgt loads spio's configuration.
if [ -x "${SPIO_SPDK_NVMF_TGT:-}" ]; then
	PORT4=$(free_port)
	sed "s/\"$PORT\"/\"$PORT4\"/" "$TMP/saved.json" >"$TMP/for_spdk.json"
	start_spdk -c "$TMP/for_spdk.json"
	python3 "$RPCPY" -s "$TMP/spdk.sock" nvmf_get_subsystems >"$TMP/spdk_subs.json" ||
		fail "rpc.py nvmf_get_subsystems on SPDK failed"
	python3 - "$TMP/subs_before.json" "$TMP/spdk_subs.json" "$PORT" "$PORT4" <<'PY' ||
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
norm = lambda subs: sorted(json.dumps(s, sort_keys=True).replace(sys.argv[3], "P").replace(sys.argv[4], "P") for s in subs)
assert norm(a) == norm(b), "spio:\n%s\nSPDK:\n%s" % (norm(a), norm(b))
PY
		fail "SPDK's nvmf_tgt holds another state than spio saved"
	check_io "$PORT4" "$NQN1" || fail "nvme_check on SPDK loaded from spio's config: $(cat "$TMP/check.out")"
	stop_spdk
	echo "ok: SPDK's nvmf_tgt loads spio's save_config and serves it"
else
	echo "note: SPIO_SPDK_NVMF_TGT not set: not checking that SPDK's nvmf_tgt loads spio's configuration"
fi
echo "test_nvmf_rpcpy: OK"
