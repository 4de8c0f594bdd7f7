#!/usr/bin/env bash
# test_spdk_params: every parameter SPDK's schema gives the methods spio
# implements (spdk_params.tsv, scripts/gen-spdk-params.py) is known to
# spio_tgt: each method is called once with all of them at once, over the
# JSON-RPC socket, and no answer may refuse one as unknown. (Values are
# only type-correct: other refusals, e.g. md_size 1 or a missing bdev, are
# fine; they show that the decoding went past the names.)
# Usage (from CTest): test_spdk_params.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=$1
SRC=$2
TGT=$BUILD/spio_tgt
TMP=$(mktemp -d)
SOCK=$TMP/spio.sock
# shellcheck source=../func/spio_tgt_lib.sh
. "$SRC/tests/func/spio_tgt_lib.sh"

command -v python3 >/dev/null || {
	echo "test_spdk_params: SKIP: python3 not found"
	exit 77
}

start_tgt
python3 - "$SRC/tests/compat/spdk_params.tsv" "$SOCK" <<'PY' || fail "a parameter SPDK sends is unknown to spio (above)"
import collections, json, socket, sys

VALUES = {"string": "probe", "boolean": False, "uint8": 1, "uint16": 1, "uint32": 1,
          "uint64": 1, "int32": -1, "uuid": "6f1f5c1e-4a55-4c8e-9d53-2a9b7f0e1a02",
          "array": [], "object": {}, "bitmask": 0}
# Checked where its state allows it: SPDK's saved bdev_set_options with all
# its parameters loads in test_spdk_configs.sh.
STARTUP_ONLY = {"bdev_set_options"}
SKIP = {"spdk_kill_instance"}

methods = collections.OrderedDict()
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    method, param, typ, _req, example = line.rstrip("\n").split("\t")
    methods.setdefault(method, {})[param] = example if typ == "enum" else VALUES[typ]

s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[2])
buf = b""
bad = checked = deferred = 0
for i, (method, params) in enumerate(methods.items()):
    if method in SKIP:
        continue
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}).encode())
    while True:
        try:
            resp, end = json.JSONDecoder().raw_decode(buf.decode().lstrip())
            buf = buf.decode().lstrip()[end:].encode()
            break
        except ValueError:
            chunk = s.recv(65536)
            assert chunk, "connection closed"
            buf += chunk
    err = resp.get("error")
    if err and "nknown parameter" in err["message"]:
        print("%s: %s" % (method, err["message"]))
        bad += 1
    elif err and err["code"] == -1:
        if method not in STARTUP_ONLY:
            print("%s: refused for its state: %s" % (method, err["message"]))
            bad += 1
        deferred += 1
    else:
        checked += 1
print("test_spdk_params: %d methods called with every parameter SPDK gives them; "
      "%d startup-only (checked by test_spdk_configs)" % (checked, deferred))
sys.exit(1 if bad else 0)
PY
stop_tgt
echo "test_spdk_params: OK"
