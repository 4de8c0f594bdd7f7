#!/usr/bin/env bash
# spio_tgt as a daemon (issue 17, items 2 and 5): a closed stdout/stderr pipe
# does not kill it (SIGPIPE ignored); SIGUSR1, SIGUSR2 and SIGALRM are
# ignored; SIGHUP and SIGTERM stop it with exit 0 and remove the RPC socket;
# `create X; delete X; create X` pipelined on one connection runs in order.
#
# Usage: test_daemon_signals.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
RPC=$BUILD/spio_rpc
TMP=$(mktemp -d /tmp/spio-daemon-test.XXXXXX)
SOCK=/tmp/spio-daemon-test-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"

[ -x "$TGT" ] || fail "$TGT not built"
[ -x "$RPC" ] || fail "$RPC not built"

# 1. Output into a pipe whose reader leaves after 20 bytes, as with `| head -c 20`.
mkfifo "$TMP/fifo" || fail "mkfifo"
head -c 20 <"$TMP/fifo" >"$TMP/head" &
HEAD_PID=$!
"$TGT" -m "$MASK" -r "$SOCK" --no-huge >"$TMP/fifo" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
	[ -S "$SOCK" ] && break
	kill -0 "$PID" 2>/dev/null || fail "spio_tgt exited during start-up"
	sleep 0.05
done
[ -S "$SOCK" ] || fail "spio_tgt did not create $SOCK in 10 s"
wait "$HEAD_PID"
# Every log line from here on is written into a pipe without a reader.
for sig in USR1 USR2 ALRM PIPE; do
	kill -"$sig" "$PID" || fail "cannot send SIG$sig"
	sleep 0.1
	kill -0 "$PID" 2>/dev/null || fail "spio_tgt died of SIG$sig"
done
"$RPC" -s "$SOCK" spdk_get_version >/dev/null || fail "RPC after a closed stdout failed"
"$RPC" -s "$SOCK" bdev_malloc_delete --name nope >/dev/null 2>&1 # an error that logs
kill -0 "$PID" 2>/dev/null || fail "spio_tgt died writing a log line into a closed pipe"
stop_tgt
echo "ok: closed stdout pipe, SIGUSR1/USR2/ALRM/PIPE survived; SIGTERM exit 0, socket removed"

# 2. SIGHUP: a clean stop.
start_tgt
kill -HUP "$PID" || fail "cannot send SIGHUP"
wait "$PID"
rc=$?
PID=
[ "$rc" -eq 0 ] || fail "spio_tgt exited with $rc after SIGHUP, expected 0"
[ ! -e "$SOCK" ] || fail "socket $SOCK left behind after SIGHUP"
grep -q "caught Hangup, shutting down" "$TMP/out" || fail "no shutdown line after SIGHUP"
echo "ok: SIGHUP exit 0, socket removed"

# 3. Pipelined create X; delete X; create X on one connection.
if command -v python3 >/dev/null; then
	start_tgt
	python3 - "$SOCK" >"$TMP/pipelined" <<'EOF' || fail "pipelined client failed"
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
p = {"name": "X", "num_blocks": 64, "block_size": 512}
reqs = [("bdev_malloc_create", p, 1), ("bdev_malloc_delete", {"name": "X"}, 2),
        ("bdev_malloc_create", p, 3)]
s.sendall("".join(json.dumps({"jsonrpc": "2.0", "method": m, "params": a, "id": i})
                  for m, a, i in reqs).encode())
buf = b""
while buf.count(b"\n") < 3:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
for line in buf.decode().splitlines():
    print(line)
EOF
	[ "$(grep -c '"result"' "$TMP/pipelined")" -eq 3 ] ||
		fail "pipelined create X; delete X; create X: expected 3 results, got: $(cat "$TMP/pipelined")"
	stop_tgt
	echo "ok: pipelined create X; delete X; create X all succeed"
else
	echo "skip: pipelined requests (python3 not found)"
fi
echo "PASS"
