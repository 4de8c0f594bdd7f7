#!/usr/bin/env bash
# test_rpcpy_log: SPDK's own scripts/rpc.py, unmodified, drives the log_*
# methods of a live spio_tgt: every command line an SPDK user types, each
# reply checked for SPDK's shape, and the effect seen in the target's output
# (debug lines of the rpc component appear when its flag is set at print
# level DEBUG, lose their timestamp with --no-timestamps, stop when the flag
# is cleared). The log level is the syslog level: NOTICE in spio_tgt, as in
# SPDK's applications (a program without the app framework sends nothing to
# syslog until it sets one, include/spio/log.h).
# rpc.py comes from SPIO_SPDK_RPC, else ../shared/clients/spdk-rpc next to
# the source tree; without it (or python3) the test skips (exit 77).
# Usage (from CTest): test_rpcpy_log.sh BUILD_DIR SOURCE_DIR
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

# rpc.py CMD must answer `true`: like SPDK's, rpc.py prints nothing for it,
# so the response is read from its -v log.
rpc_true() {
	rpc -v "$@"
	[ ! -s "$TMP/reply" ] || fail "rpc.py $*: expected no output, got: $(head -c 300 "$TMP/reply")"
	grep -q '"result": true' "$TMP/rpc.err" ||
		fail "rpc.py $*: expected the result true, got: $(cat "$TMP/rpc.err")"
}

# The target's debug lines from the rpc component (one per closed connection).
rpc_debug_lines() {
	grep -c '\[rpc\]: RPC connection' "$TMP/out"
}

# Wait up to 5 s for more than $1 rpc debug lines in the target's output.
wait_rpc_debug_lines() {
	for _ in $(seq 1 100); do
		[ "$(rpc_debug_lines)" -gt "$1" ] && return 0
		sleep 0.05
	done
	fail "expected a new '[rpc]: RPC connection ... closed' debug line in the target's output"
}

start_tgt

# Flags: an object of booleans, one per registered flag.
rpc log_get_flags
check 'isinstance(d, dict) and {"rpc", "thread", "reactor"} <= set(d) and all(isinstance(v, bool) for v in d.values()) and d["rpc"] is False'
rpc_true log_set_flag rpc
rpc log_get_flags
check 'd["rpc"] is True and d["thread"] is False'

# Print level: the level of what the target prints.
rpc log_get_print_level
check 'd in ("ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")'
rpc_true log_set_print_level DEBUG
rpc log_get_print_level
check 'd == "DEBUG"'

# At DEBUG with the rpc flag on, every closed connection is logged, stamped.
before=$(rpc_debug_lines)
rpc log_get_flags
wait_rpc_debug_lines "$before"
grep '\[rpc\]: RPC connection' "$TMP/out" | tail -n 1 | grep -q '^\[' ||
	fail "expected a timestamped debug line, got: $(grep '\[rpc\]' "$TMP/out" | tail -n 1)"

# Timestamps off, then on again.
rpc_true log_enable_timestamps --no-timestamps
before=$(rpc_debug_lines)
rpc log_get_print_level
wait_rpc_debug_lines "$before"
grep '\[rpc\]: RPC connection' "$TMP/out" | tail -n 1 | grep -q '^server\.c:' ||
	fail "--no-timestamps: expected a line without timestamp, got: $(grep '\[rpc\]' "$TMP/out" | tail -n 1)"
rpc_true log_enable_timestamps --timestamps
before=$(rpc_debug_lines)
rpc log_get_print_level
wait_rpc_debug_lines "$before"
grep '\[rpc\]: RPC connection' "$TMP/out" | tail -n 1 | grep -q '^\[' ||
	fail "--timestamps: expected a timestamped line again, got: $(grep '\[rpc\]' "$TMP/out" | tail -n 1)"

# Clearing the flag stops the lines.
rpc_true log_clear_flag rpc
rpc log_get_flags
check 'd["rpc"] is False'
sleep 0.3
before=$(rpc_debug_lines)
rpc log_get_flags
sleep 0.3
[ "$(rpc_debug_lines)" -eq "$before" ] || fail "log_clear_flag rpc: debug lines still printed"

# The log level is the syslog level: NOTICE, SPDK's default, until set.
rpc log_get_level
check 'd == "NOTICE"'
rpc_true log_set_level ERROR
rpc log_get_level
check 'd == "ERROR"'
rpc log_get_print_level
check 'd == "DEBUG"'
rpc_true log_set_level NOTICE
rpc log_get_level
check 'd == "NOTICE"'
rpc_true log_set_print_level NOTICE
rpc log_get_print_level
check 'd == "NOTICE"'

# "all" names every flag (at print level NOTICE again: no debug flood).
rpc_true log_set_flag all
rpc log_get_flags
check 'len(d) > 0 and all(d.values())'
rpc_true log_clear_flag all
rpc log_get_flags
check 'not any(d.values())'

# Refusals name what is refused.
rpc_refused '"code": -32602' log_set_flag no_such_flag
grep -q "no_such_flag" "$TMP/rpc.err" "$TMP/reply" || fail "log_set_flag no_such_flag: the error must name the flag"
rpc_refused '"code": -32602' log_clear_flag no_such_flag

stop_tgt

echo "test_rpcpy_log: OK (rpc.py: $RPCPY)"
