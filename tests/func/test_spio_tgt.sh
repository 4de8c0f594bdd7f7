#!/usr/bin/env bash
# spio_tgt end to end: start, readiness line, RPC (spdk_get_version,
# framework_get_reactors, thread_get_stats, save_config), idle CPU, restart
# with the saved configuration, SIGTERM -> exit 0 and socket removed, bad
# configurations -> non-zero exit naming the file, usage errors.
#
# Usage: test_spio_tgt.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
RPC=$BUILD/spio_rpc
TMP=$(mktemp -d /tmp/spio-tgt-test.XXXXXX)
SOCK=/tmp/spio-test-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"

[ -x "$TGT" ] || fail "$TGT not built"

if [ "$(nproc)" -ge 2 ]; then
	MASK=0x3
fi
SANITIZED=0
if grep -Eq '^SPIO_SANITIZE:STRING=.+' "$BUILD/CMakeCache.txt" 2>/dev/null; then
	SANITIZED=1
fi

# 1. Start and readiness line.
start_tgt
grep -q "^spio_tgt: ready on cores \[.*\], RPC on $SOCK\$" "$TMP/out" ||
	fail "ready line missing or malformed"
echo "ok: started ($(grep ready "$TMP/out"))"

# 2. Idle CPU over 2 s (utime + stime of the process).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
sleep 0.5
t0=$(cpu_ticks)
sleep 2
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
pct=$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.2f", 100 * d / hz / 2 }')
echo "ok: idle CPU of spio_tgt -m $MASK: $pct % over 2 s"
if [ "$SANITIZED" -eq 0 ] && awk -v p="$pct" 'BEGIN { exit !(p >= 5) }'; then
	fail "idle CPU $pct % >= 5 %"
fi

# 3. RPC.
if [ -x "$RPC" ]; then
	"$RPC" -s "$SOCK" spdk_get_version >"$TMP/version.json" || fail "spdk_get_version failed"
	grep -q '"version"' "$TMP/version.json" || fail "spdk_get_version: no version field"
	"$RPC" -s "$SOCK" framework_get_reactors >"$TMP/reactors.json" ||
		fail "framework_get_reactors failed"
	grep -q '"tick_rate"' "$TMP/reactors.json" || fail "framework_get_reactors: no tick_rate"
	grep -q '"lcore"' "$TMP/reactors.json" || fail "framework_get_reactors: no reactor"
	grep -q '"app_thread"' "$TMP/reactors.json" || fail "framework_get_reactors: no app_thread"
	"$RPC" -s "$SOCK" thread_get_stats >"$TMP/threads.json" || fail "thread_get_stats failed"
	grep -q '"busy"' "$TMP/threads.json" || fail "thread_get_stats: no busy field"
	"$RPC" -s "$SOCK" save_config >"$TMP/saved.json" || fail "save_config failed"
	grep -q '"subsystems"' "$TMP/saved.json" || fail "save_config: no subsystems"
	echo "ok: spdk_get_version, framework_get_reactors, thread_get_stats, save_config"
else
	# Hides a failure: spio_rpc is always built (app/spio_rpc); missing means a broken build.
	echo "skip: $RPC not built, RPC checks skipped"
	echo '{"subsystems": []}' >"$TMP/saved.json"
fi
stop_tgt
echo "ok: SIGTERM -> exit 0, socket removed"

# 4. Restart with the saved configuration.
start_tgt -c "$TMP/saved.json"
if [ -x "$RPC" ]; then
	"$RPC" -s "$SOCK" save_config >"$TMP/saved2.json" || fail "second save_config failed"
	cmp -s "$TMP/saved.json" "$TMP/saved2.json" ||
		fail "the saved config did not load back to itself"
fi
stop_tgt
echo "ok: restarted with the saved config"

# 5. SIGINT works too.
start_tgt --idle poll
kill -INT "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" -eq 0 ] || fail "SIGINT: exit $rc, expected 0"
echo "ok: SIGINT -> exit 0 (poll mode)"

# 6. Bad configurations: non-zero exit, message naming the file.
printf '{"subsystems": [\n  {"subsystem": "nope",\n' >"$TMP/bad.json"
"$TGT" -m "$MASK" -r "$SOCK" --no-huge -c "$TMP/bad.json" >"$TMP/out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "malformed config: exit 0, expected non-zero"
grep -q "config file $TMP/bad.json: line" "$TMP/out" ||
	fail "malformed config: the message must name the file and the line"
echo "ok: malformed config -> exit $rc with '$(grep -m1 "config file" "$TMP/out" | sed 's/.*error: //')'"

"$TGT" -m "$MASK" -r "$SOCK" --no-huge -c "$TMP/missing.json" >"$TMP/out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "missing config: exit 0, expected non-zero"
grep -q "config file $TMP/missing.json" "$TMP/out" || fail "missing config: file not named"
echo "ok: missing config -> exit $rc"

echo '{"subsystems": [{"subsystem": "nope", "config": []}]}' >"$TMP/unknown.json"
"$TGT" -m "$MASK" -r "$SOCK" --no-huge -c "$TMP/unknown.json" >"$TMP/out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "unknown subsystem: exit 0, expected non-zero"
grep -q "unknown subsystem 'nope'" "$TMP/out" || fail "unknown subsystem: not named"
echo "ok: unknown subsystem -> exit $rc"

# 7. Usage.
"$TGT" -h >"$TMP/out" 2>&1 || fail "-h: non-zero exit"
grep -q -- "--idle" "$TMP/out" || fail "-h: usage text incomplete"
"$TGT" --bogus >"$TMP/out" 2>&1 && fail "--bogus: exit 0, expected non-zero"
"$TGT" --idle sometimes >"$TMP/out" 2>&1 && fail "--idle sometimes: exit 0"
"$TGT" -m 0xz -r "$SOCK" >"$TMP/out" 2>&1 && fail "-m 0xz: exit 0"
echo "ok: usage and option errors"

echo "test_spio_tgt: all checks passed"
