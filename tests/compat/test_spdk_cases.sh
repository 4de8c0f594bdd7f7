#!/usr/bin/env bash
# test_spdk_cases: the cases of cases.txt, typed into SPDK's unmodified rpc.py
# against a fresh spio_tgt, answer as SPDK's spdk_tgt answered them
# (spdk_replies/, recorded with run_cases.py against SPDK built here): same
# success or error code, SPDK's keys and JSON types in every result.
# rpc.py comes from SPIO_SPDK_RPC, else ../shared/clients/spdk-rpc next to
# the source tree; without it (or python3) the test skips (exit 77).
# Usage (from CTest): test_spdk_cases.sh BUILD_DIR SOURCE_DIR
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
python3 "$SRC/tests/compat/run_cases.py" "$RPCPY" "$SOCK" "$TMP/replies" >"$TMP/cases.log" 2>&1 ||
	fail "run_cases.py: $(tail -5 "$TMP/cases.log")"
stop_tgt
python3 "$SRC/tests/compat/compare_replies.py" "$SRC/tests/compat/cases.txt" \
	"$SRC/tests/compat/spdk_replies" "$TMP/replies" || fail "replies differ from SPDK's (above)"
# The comparison itself catches a missing key and a changed error code.
python3 - "$TMP/replies" <<'PY'
import json, sys
p = sys.argv[1] + "/get_bdevs_malloc.json"
d = json.load(open(p)); del d["result"][0]["supported_io_types"]["abort"]; json.dump(d, open(p, "w"))
p = sys.argv[1] + "/malloc_create_dup.json"
d = json.load(open(p)); d["error"]["code"] = -22; json.dump(d, open(p, "w"))
PY
python3 "$SRC/tests/compat/compare_replies.py" "$SRC/tests/compat/cases.txt" \
	"$SRC/tests/compat/spdk_replies" "$TMP/replies" >"$TMP/cmp.out" &&
	fail "compare_replies.py accepted a reply without supported_io_types.abort"
grep -q "missing key 'abort'" "$TMP/cmp.out" && grep -q "error code: SPDK -17" "$TMP/cmp.out" ||
	fail "compare_replies.py did not name both planted differences: $(cat "$TMP/cmp.out")"
echo "test_spdk_cases: OK ($(grep -c $'^[a-z_]*\t' "$SRC/tests/compat/cases.txt") cases)"
