# Shared by the shell tests that drive spio_tgt (sourced, not run).
# The test sets TGT (the binary), SOCK (its RPC socket) and TMP (a scratch
# directory; the target's output goes to $TMP/out), then calls start_tgt /
# stop_tgt; MASK is 0x1 unless the test changes it after sourcing. fail()
# reports with the target's output and exits 1; the EXIT trap kills a target
# left running and removes TMP and SOCK.

PID=
MASK=0x1

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/out" ] && sed 's/^/  spio_tgt: /' "$TMP/out" >&2
	exit 1
}

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP" "$SOCK"
}
trap cleanup EXIT

# Start spio_tgt with extra args; wait for its socket and its ready line.
start_tgt() {
	rm -f "$SOCK"
	"$TGT" -m "$MASK" -r "$SOCK" --no-huge "$@" >"$TMP/out" 2>&1 &
	PID=$!
	for _ in $(seq 1 200); do
		if [ -S "$SOCK" ] && grep -q "ready" "$TMP/out"; then
			return 0
		fi
		kill -0 "$PID" 2>/dev/null || fail "spio_tgt $* exited during start-up"
		sleep 0.05
	done
	fail "spio_tgt $* did not become ready in 10 s"
}

# SIGTERM; expect exit code 0 and the socket gone.
stop_tgt() {
	kill -TERM "$PID" || fail "cannot signal spio_tgt"
	wait "$PID"
	local rc=$?
	PID=
	[ "$rc" -eq 0 ] || fail "spio_tgt exited with $rc after SIGTERM, expected 0"
	[ ! -e "$SOCK" ] || fail "socket $SOCK left behind after shutdown"
}
