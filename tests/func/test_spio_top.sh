#!/usr/bin/env bash
# spio_top against spio_tgt: bad input (no socket -> exit 1 naming it, bad
# options -> exit 2, the live view without a terminal -> exit 2); batch mode
# (--once) shows the four tabs, and a malloc bdev's IOPS above 0 while
# spio_nvme_perf drives it over NVMe/TCP; then the live view in a real
# terminal (tmux: new-session, send-keys, capture-pane): the threads tab, the
# bdevs tab (key 4) with Malloc0's IOPS moving between frames under load,
# sorting (s), the pollers and cores tabs (2, 3), an error line when the
# target goes away, and q quitting with exit 0. Skips (77) after the batch
# checks if tmux is missing or cannot start a server.
#
# Usage: test_spio_top.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

NAME=test_spio_top
BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
TOP=$BUILD/spio_top
PERF=$BUILD/spio_nvme_perf
TMP=$(mktemp -d /tmp/spio-top-test.XXXXXX)
SOCK=/tmp/spio-top-test-$$.sock
TMUX_SOCK=spio-top-test-$$
PERF_PID=
TMUX_UP=0
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"

cleanup_all() {
	if [ "$TMUX_UP" -eq 1 ]; then
		tmux -L "$TMUX_SOCK" kill-server 2>/dev/null
	fi
	if [ -n "$PERF_PID" ] && kill -0 "$PERF_PID" 2>/dev/null; then
		kill -KILL "$PERF_PID" 2>/dev/null
		wait "$PERF_PID" 2>/dev/null
	fi
	cleanup
}
trap cleanup_all EXIT

for b in "$TGT" "$TOP" "$PERF"; do
	[ -x "$b" ] || fail "$b not built"
done
command -v python3 >/dev/null || {
	echo "$NAME: SKIP: python3 not found (free port)"
	exit 77
}

# A sanitizer report in file $1 fails the test.
no_sanitizer_report() {
	if grep -Eq 'ERROR: (Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error:' "$1"; then
		fail "spio_top reported a sanitizer error: $(grep -m3 -E 'Sanitizer|runtime error' "$1")"
	fi
}

# 1. Bad input.
"$TOP" -r "$TMP/missing.sock" --once >"$TMP/o" 2>"$TMP/e"
rc=$?
[ "$rc" -eq 1 ] || fail "missing socket: exit $rc, expected 1"
grep -q "cannot connect to $TMP/missing.sock" "$TMP/e" ||
	fail "missing socket: the message does not name it: $(cat "$TMP/e")"
for args in "-d 0" "-d x" "-t nope" "-s nosuchcolumn" "-n 0" "--bogus" "extra"; do
	# shellcheck disable=SC2086
	"$TOP" -r "$SOCK" --once $args >"$TMP/o" 2>"$TMP/e"
	rc=$?
	[ "$rc" -eq 2 ] || fail "spio_top $args: exit $rc, expected 2 (usage)"
	[ -s "$TMP/e" ] || fail "spio_top $args: no message on stderr"
done
"$TOP" -r "$SOCK" </dev/null >"$TMP/o" 2>"$TMP/e"
rc=$?
[ "$rc" -eq 2 ] || fail "live view without a terminal: exit $rc, expected 2"
grep -q "needs a terminal" "$TMP/e" || fail "live view without a terminal: $(cat "$TMP/e")"
echo "ok: bad input (missing socket -> 1 naming it, bad options -> 2, no terminal -> 2)"

# 2. The target: Malloc0 exported over NVMe/TCP, perf on another core when there is one.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	fail "no free port"
NQN=nqn.2016-06.io.spdk-io:top-test
cat >"$TMP/config.json" <<EOF
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create",
   "params": {"name": "Malloc0", "num_blocks": 65536, "block_size": 512}},
  {"method": "bdev_wait_for_examine"}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true}},
  {"method": "nvmf_subsystem_add_ns",
   "params": {"nqn": "$NQN", "namespace": {"nsid": 1, "bdev_name": "Malloc0"}}},
  {"method": "nvmf_subsystem_add_listener",
   "params": {"nqn": "$NQN", "listen_address": {"trtype": "TCP", "adrfam": "IPv4",
              "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}]}]}
EOF
HOST_CORE=0x1
[ "$(nproc)" -ge 2 ] && HOST_CORE=0x2
start_tgt -c "$TMP/config.json"

# Load for $1 seconds in the background.
start_load() {
	"$PERF" -r "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN" \
		-c "$HOST_CORE" --no-huge -q 8 -o 4096 -w randread -t "$1" \
		>"$TMP/perf.out" 2>&1 &
	PERF_PID=$!
}

# The IOPS column of Malloc0 in a bdevs frame in file $1 ('-' when not computed).
malloc_iops() {
	awk '$1 == "Malloc0" { print $2; exit }' "$1"
}

# 3. Batch mode: the four tabs, idle then under load.
"$TOP" -r "$SOCK" --once -d 0.3 >"$TMP/batch" 2>"$TMP/batch.err" ||
	fail "spio_top --once: exit $?: $(cat "$TMP/batch.err")"
no_sanitizer_report "$TMP/batch.err"
for want in "THREADS" "POLLERS" "CORES" "BDEVS" "app_thread" "Malloc0" "rpc_server" "Busy %"; do
	grep -q "$want" "$TMP/batch" || fail "spio_top --once: no '$want' in:
$(cat "$TMP/batch")"
done
[ "$(malloc_iops "$TMP/batch")" = "0" ] ||
	fail "idle Malloc0: IOPS $(malloc_iops "$TMP/batch"), expected 0"
start_load 30
sleep 1
"$TOP" -r "$SOCK" --once -d 0.5 -t bdevs >"$TMP/batch" 2>"$TMP/batch.err" ||
	fail "spio_top --once -t bdevs: exit $?: $(cat "$TMP/batch.err")"
[ "$(grep -c "^spio_top: " "$TMP/batch")" -eq 1 ] && ! grep -q "^app_thread" "$TMP/batch" ||
	fail "-t bdevs must print the bdevs tab only:
$(cat "$TMP/batch")"
iops=$(malloc_iops "$TMP/batch")
awk -v i="$iops" 'BEGIN { exit !(i + 0 > 0) }' ||
	fail "Malloc0 under load: IOPS '$iops', expected > 0:
$(cat "$TMP/batch")"
echo "ok: batch mode (four tabs; Malloc0 at 0 IOPS idle, $iops IOPS under load)"

# 4. The live view in tmux.
command -v tmux >/dev/null || {
	echo "$NAME: SKIP: tmux not found (scripts/install-deps.sh installs it); batch checks passed"
	exit 77
}
TMUX_UP=1
if ! tmux -L "$TMUX_SOCK" -f /dev/null new-session -d -s top -x 150 -y 40 \
	"$TOP -r $SOCK -d 0.5 2>$TMP/live.err; echo \$? >$TMP/live.rc; sleep 60" 2>"$TMP/tmux.err"; then
	TMUX_UP=0
	echo "$NAME: SKIP: tmux cannot start a server: $(cat "$TMP/tmux.err"); batch checks passed"
	exit 77
fi

capture() {
	tmux -L "$TMUX_SOCK" capture-pane -p -t top >"$1" 2>/dev/null
}

keys() {
	tmux -L "$TMUX_SOCK" send-keys -t top "$@"
}

# Wait until the pane shows $1 (an extended regex) in file $2; up to 10 s.
wait_screen() {
	for _ in $(seq 1 100); do
		capture "$2"
		grep -Eq "$1" "$2" && return 0
		sleep 0.1
	done
	fail "the live view never showed '$1'; last screen:
$(cat "$2")"
}

wait_screen "THREADS" "$TMP/s0"
wait_screen "app_thread +[0-9]+ +[0-9]+ " "$TMP/s0"
echo "ok: live view: threads tab"

keys 4
wait_screen "^Malloc0 +[0-9]" "$TMP/s1"
sleep 1.2
capture "$TMP/s2"
i1=$(malloc_iops "$TMP/s1")
i2=$(malloc_iops "$TMP/s2")
awk -v a="$i1" -v b="$i2" 'BEGIN { exit !(a + 0 > 0 && b + 0 > 0) }' ||
	fail "live bdevs tab under load: IOPS '$i1' then '$i2', expected both > 0"
cmp -s "$TMP/s1" "$TMP/s2" && fail "live bdevs tab: the frame did not change in 1.2 s"
echo "ok: live view: Malloc0 at $i1 then $i2 IOPS under load"

# Sorting: s moves the sort mark off the name column.
grep -Eq "^Bdev \^" "$TMP/s2" || fail "bdevs tab: expected the sort mark on Bdev:
$(cat "$TMP/s2")"
keys s
wait_screen "IOPS v" "$TMP/s3"
keys 2
wait_screen "rpc_server +Active" "$TMP/s4"
keys 3
wait_screen "Busy %" "$TMP/s5"
grep -Eq "^ +0 +[0-9]+ " "$TMP/s5" || fail "cores tab: no row for core 0:
$(cat "$TMP/s5")"
echo "ok: live view: sort key, pollers and cores tabs"

# The target goes away: the view says so and keeps running; q quits with 0.
kill -KILL "$PERF_PID" 2>/dev/null
wait "$PERF_PID" 2>/dev/null
PERF_PID=
stop_tgt
wait_screen "cannot connect|closed the connection|Connection refused|No such file" "$TMP/s6"
[ ! -e "$TMP/live.rc" ] || fail "spio_top exited when the target went away"
keys q
for _ in $(seq 1 100); do
	[ -s "$TMP/live.rc" ] && break
	sleep 0.1
done
[ -s "$TMP/live.rc" ] || fail "spio_top did not quit on q"
[ "$(cat "$TMP/live.rc")" = "0" ] || fail "spio_top exited with $(cat "$TMP/live.rc") after q"
no_sanitizer_report "$TMP/live.err"
echo "ok: live view: target gone reported, q quits with 0"
echo "$NAME: PASS"
