# Sourced by the compat tests after tests/func/spio_tgt_lib.sh: sets the
# target's paths from the arguments (BUILD_DIR SOURCE_DIR), finds SPDK's
# rpc.py (SPIO_SPDK_RPC, else ../shared/clients/spdk-rpc next to the source
# tree) or skips the test (exit 77) when it or python3 is missing, and gives
# the helpers below. Replies land in $TMP/reply, rpc.py's stderr in
# $TMP/rpc.err.

RPCPY=${SPIO_SPDK_RPC:-}
for cand in "$SRC/../shared/clients/spdk-rpc/scripts/rpc.py" /work/shared/clients/spdk-rpc/scripts/rpc.py; do
	[ -n "$RPCPY" ] && break
	[ -f "$cand" ] && RPCPY=$cand
done
if [ -z "$RPCPY" ] || ! command -v python3 >/dev/null; then
	echo "$(basename "$0" .sh): SKIP: SPDK's rpc.py (SPIO_SPDK_RPC or ../shared/clients/spdk-rpc) or python3 not found"
	exit 77
fi

# rpc.py CMD must succeed.
rpc() {
	python3 "$RPCPY" -s "$SOCK" "$@" >"$TMP/reply" 2>"$TMP/rpc.err" ||
		fail "rpc.py $*: $(cat "$TMP/rpc.err")"
}

# rpc.py CMD must fail; its error output must contain $1.
rpc_refused() {
	local want=$1
	shift
	if python3 "$RPCPY" -s "$SOCK" "$@" >"$TMP/reply" 2>"$TMP/rpc.err"; then
		fail "rpc.py $* succeeded, expected a refusal"
	fi
	grep -q -- "$want" "$TMP/rpc.err" "$TMP/reply" ||
		fail "rpc.py $*: expected '$want' in the error, got: $(cat "$TMP/rpc.err" "$TMP/reply")"
}

# Check the reply (JSON in $TMP/reply) with a Python expression on `d`.
check() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)' "$TMP/reply" "$1" || fail "reply check '$1' failed on: $(head -c 600 "$TMP/reply")"
}
