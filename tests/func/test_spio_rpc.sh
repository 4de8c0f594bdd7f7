#!/usr/bin/env bash
# test_spio_rpc: the spio_rpc client end to end against examples/rpc_echo_server:
# --key value params, the raw "call" form, errors (exit 1), no server (exit 2),
# usage errors (exit 64), and the socket removed when the server stops.
# Usage (from CTest): test_spio_rpc.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

build_dir=$1
rpc=$build_dir/spio_rpc
server=$build_dir/rpc_echo_server
for bin in "$rpc" "$server"; do
	if [ ! -x "$bin" ]; then
		echo "test_spio_rpc: $bin not built" >&2
		exit 1
	fi
done

tmp=$(mktemp -d /tmp/test_spio_rpc.XXXXXX)
sock=$tmp/rpc.sock
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# expect_status WANT DESCRIPTION CMD...: run CMD, stdout/stderr to $tmp/out, $tmp/err.
expect_status() {
	local want=$1 what=$2 rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$what: expected exit $want, got $rc; stdout: $(cat "$tmp/out"); stderr: $(cat "$tmp/err")"
		return 1
	fi
	return 0
}

# expect_json FILE JQ-LIKE-PYTHON-EXPR: evaluate a Python expression on the parsed JSON `v`.
expect_json() {
	local file=$1 expr=$2 what=$3
	if ! python3 -c "import json,sys; v=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" "$file"; then
		fail "$what: expected $expr, got $(cat "$file")"
	fi
}

"$server" "$sock" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
	[ -S "$sock" ] && break
	sleep 0.05
done
if [ ! -S "$sock" ]; then
	echo "test_spio_rpc: server did not create $sock: $(cat "$tmp/server.log")" >&2
	exit 1
fi
mode=$(stat -c %a "$sock")
[ "$mode" = 600 ] || fail "socket mode: expected 600, got $mode"

# --key value pairs: numbers, strings, flags, JSON values, big integers
if expect_status 0 "echo with params" "$rpc" -s "$sock" echo --name Malloc0 --num_blocks 1024 \
	--flag --ratio 0.5 --obj '{"a":[1,2]}' --quoted '"42"' --big 18446744073709551615 --last; then
	expect_json "$tmp/out" 'v == {"name": "Malloc0", "num_blocks": 1024, "flag": True, "ratio": 0.5, "obj": {"a": [1, 2]}, "quoted": "42", "big": "18446744073709551615", "last": True}' "echo with params"
	grep -q '^  "name": "Malloc0",$' "$tmp/out" || fail "result not indented by 2: $(cat "$tmp/out")"
fi

# no params: result null
if expect_status 0 "echo without params" "$rpc" -s "$sock" echo; then
	expect_json "$tmp/out" 'v is None' "echo without params"
fi

# raw call form
if expect_status 0 "call form" "$rpc" -s "$sock" call echo '{"x": [true, null, "s"]}'; then
	expect_json "$tmp/out" 'v == {"x": [True, None, "s"]}' "call form"
fi
if expect_status 0 "call form, array params" "$rpc" -s "$sock" -t 5 call echo '[1, 2]'; then
	expect_json "$tmp/out" 'v == [1, 2]' "call form, array params"
fi

# built-in methods
if expect_status 0 "spdk_get_version" "$rpc" -s "$sock" spdk_get_version; then
	expect_json "$tmp/out" 'v["version"].startswith("spdk-io v") and {"major", "minor", "patch", "suffix"} <= set(v["fields"]) <= {"major", "minor", "patch", "suffix", "commit"}' "spdk_get_version"
fi
if expect_status 0 "rpc_get_methods" "$rpc" -s "$sock" rpc_get_methods --current; then
	expect_json "$tmp/out" '"echo" in v and "rpc_get_methods" in v' "rpc_get_methods"
fi

# JSON-RPC errors: exit 1, error object on stderr
if expect_status 1 "unknown method" "$rpc" -s "$sock" no_such_method; then
	expect_json "$tmp/err" 'v["code"] == -32601 and "no_such_method" in v["message"]' "unknown method"
	[ -s "$tmp/out" ] && fail "unknown method: stdout should be empty, got $(cat "$tmp/out")"
fi
if expect_status 1 "bad params" "$rpc" -s "$sock" rpc_get_methods --current 5; then
	expect_json "$tmp/err" 'v["code"] == -32602' "bad params"
fi

# no server: exit 2 naming the socket
if expect_status 2 "missing socket" "$rpc" -s "$tmp/absent.sock" spdk_get_version; then
	grep -q "absent.sock" "$tmp/err" || fail "missing socket: message should name the socket: $(cat "$tmp/err")"
fi

# usage errors: exit 64; -h: exit 0 with help on stdout
expect_status 64 "no method" "$rpc" -s "$sock"
expect_status 64 "bad pair" "$rpc" -s "$sock" echo name x
expect_status 64 "call without method" "$rpc" -s "$sock" call
expect_status 64 "call with bad JSON" "$rpc" -s "$sock" call echo '{bad'
expect_status 64 "call with scalar params" "$rpc" -s "$sock" call echo '5'
expect_status 64 "bad timeout" "$rpc" -s "$sock" -t abc echo
expect_status 64 "unknown option" "$rpc" -x echo
if expect_status 0 "-h" "$rpc" -h; then
	grep -q "usage:" "$tmp/out" || fail "-h: expected usage text on stdout"
fi

# the server stops on SIGTERM and removes its socket
kill "$server_pid"
wait "$server_pid"
rc=$?
server_pid=
[ "$rc" -eq 0 ] || fail "server exit status on SIGTERM: expected 0, got $rc"
[ -e "$sock" ] && fail "socket $sock still exists after the server stopped"
expect_status 2 "server gone" "$rpc" -s "$sock" echo

if [ "$failures" -ne 0 ]; then
	echo "test_spio_rpc: $failures failure(s)" >&2
	exit 1
fi
echo "test_spio_rpc: OK"
