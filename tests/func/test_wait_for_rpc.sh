#!/usr/bin/env bash
# spio_tgt --wait-for-rpc driven by SPDK's own rpc.py: during the wait
# bdev_set_options is accepted and runtime methods (bdev_malloc_create,
# thread_get_pollers) are refused with SPDK's state error; framework_wait_init
# sent during the wait answers once framework_start_init finished; after it
# bdev operations work, bdev_set_options and a second framework_start_init are
# refused, and the introspection RPCs (thread_get_pollers,
# thread_get_io_channels, framework_get_reactors) answer with SPDK's fields,
# checked with python. A -c configuration's start-up entries run before the
# wait and its runtime entries after framework_start_init.
#
# Usage: test_wait_for_rpc.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
# shellcheck disable=SC2034 # read by rpcpy_lib.sh
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
TMP=$(mktemp -d /tmp/spio-wait-test.XXXXXX)
SOCK=/tmp/spio-wait-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"
# shellcheck source=../compat/rpcpy_lib.sh
source "$(dirname "$0")/../compat/rpcpy_lib.sh"

[ -x "$TGT" ] || fail "$TGT not built"
if [ "$(nproc)" -ge 2 ]; then
	MASK=0x3
fi

# Start with --wait-for-rpc: the socket comes up, the ready line does not
# (spio_tgt prints it from start_fn, after framework_start_init).
start_waiting() {
	rm -f "$SOCK"
	"$TGT" -m "$MASK" -r "$SOCK" --no-huge --wait-for-rpc "$@" >"$TMP/out" 2>&1 &
	PID=$!
	for _ in $(seq 1 200); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$PID" 2>/dev/null || fail "spio_tgt --wait-for-rpc $* exited during start-up"
		sleep 0.05
	done
	fail "spio_tgt --wait-for-rpc $*: no socket in 10 s"
}

# SPDK's state errors are code -1 "Method may only be called before / after
# framework is initialized ..."; spio's lib/rpc words them its own way.
STATE_ERR='"code": -1'

# 1. The wait.
start_waiting
grep -q "waiting for the framework_start_init RPC" "$TMP/out" ||
	fail "no notice that spio_tgt waits for framework_start_init"
grep -q "ready" "$TMP/out" && fail "spio_tgt said ready before framework_start_init"
rpc framework_get_subsystems
check "any(s['subsystem'] == 'bdev' for s in d)"
rpc bdev_set_options --no-auto-examine -p 4095
rpc_refused "$STATE_ERR" bdev_malloc_create -b Malloc0 16 4096
rpc_refused "$STATE_ERR" thread_get_pollers
rpc_refused '"code": -32601' iobuf_set_options --small-pool-count 8192
echo "ok: waiting: bdev_set_options accepted, bdev_malloc_create and thread_get_pollers refused (-1)"

# framework_wait_init from a second client, sent during the wait.
python3 "$RPCPY" -s "$SOCK" -t 30 framework_wait_init >"$TMP/wait_init" 2>&1 &
WAITER=$!
sleep 0.5
kill -0 "$WAITER" 2>/dev/null || fail "framework_wait_init answered during the wait: $(cat "$TMP/wait_init")"

rpc framework_start_init
# rpc.py prints nothing for a true result: its exit status says it.
wait "$WAITER" || fail "framework_wait_init failed: $(cat "$TMP/wait_init")"
for _ in $(seq 1 100); do
	grep -q "ready" "$TMP/out" && break
	sleep 0.05
done
grep -q "^spio_tgt: ready on cores" "$TMP/out" || fail "no ready line after framework_start_init"
echo "ok: framework_start_init -> true; framework_wait_init sent during the wait -> true"

# 2. Runtime.
rpc bdev_malloc_create -b Malloc0 16 4096
rpc bdev_get_bdevs -b Malloc0
check "d[0]['name'] == 'Malloc0' and d[0]['num_blocks'] == 4096"
rpc_refused "$STATE_ERR" bdev_set_options -p 8191
rpc_refused "$STATE_ERR" framework_start_init
rpc framework_get_config bdev
check "any(e['method'] == 'bdev_set_options' and e['params']['bdev_io_pool_size'] == 4095 and e['params']['bdev_auto_examine'] is False for e in d)"
echo "ok: runtime: bdev ops work; bdev_set_options and framework_start_init refused; the options set during the wait hold"

# 3. Introspection, as SPDK's tools read it.
rpc thread_get_pollers
check "d['tick_rate'] > 0 and len(d['threads']) >= 1 and all(set(t) == {'name', 'id', 'active_pollers', 'timed_pollers', 'paused_pollers'} for t in d['threads'])"
check "all(set(p) - {'period_ticks'} == {'name', 'id', 'state', 'run_count', 'busy_count'} and p['state'] in ('waiting', 'running', 'paused') and p['busy_count'] <= p['run_count'] for t in d['threads'] for l in ('active_pollers', 'timed_pollers', 'paused_pollers') for p in t[l])"
check "all(p['period_ticks'] > 0 for t in d['threads'] for p in t['timed_pollers']) and not any('period_ticks' in p for t in d['threads'] for p in t['active_pollers'])"
check "any(t['name'] == 'app_thread' and len(t['active_pollers']) + len(t['timed_pollers']) >= 1 for t in d['threads'])"
rpc thread_get_io_channels
check "d['tick_rate'] > 0 and all(set(t) == {'name', 'io_channels'} for t in d['threads']) and all(set(c) == {'name', 'ref'} and c['ref'] >= 1 for t in d['threads'] for c in t['io_channels'])"
rpc framework_get_reactors
check "d['tick_rate'] > 0 and d['pid'] > 0 and len(d['reactors']) == bin($MASK).count('1')"
check "all({'lcore', 'busy', 'idle', 'irq', 'sys', 'usr', 'in_interrupt', 'lw_threads'} <= set(r) for r in d['reactors'])"
check "all({'name', 'id', 'cpumask', 'elapsed'} <= set(t) for r in d['reactors'] for t in r['lw_threads']) and any(t['name'] == 'app_thread' for r in d['reactors'] for t in r['lw_threads'])"
# The thread ids of thread_get_pollers are those of framework_get_reactors.
python3 "$RPCPY" -s "$SOCK" thread_get_pollers >"$TMP/pollers.json" || fail "thread_get_pollers"
check "sorted(t['id'] for r in d['reactors'] for t in r['lw_threads']) == sorted(t['id'] for t in json.load(open('$TMP/pollers.json'))['threads'])"
echo "ok: thread_get_pollers, thread_get_io_channels, framework_get_reactors: SPDK's fields"
stop_tgt
echo "ok: SIGTERM -> exit 0"

# 4. Stop during the wait.
start_waiting
stop_tgt
grep -q "ready" "$TMP/out" && fail "stopped during the wait, yet start_fn ran"
echo "ok: SIGTERM during the wait -> exit 0, start-up never ran"

# 5. A configuration around the wait: start-up entries before, runtime after.
cat >"$TMP/cfg.json" <<'EOF'
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_set_options", "params": {"bdev_io_pool_size": 2047}},
  {"method": "bdev_malloc_create", "params": {"name": "CfgMalloc", "num_blocks": 256, "block_size": 512}}
]}]}
EOF
start_waiting -c "$TMP/cfg.json"
rpc_refused "$STATE_ERR" bdev_get_bdevs -b CfgMalloc
rpc framework_start_init
rpc bdev_get_bdevs -b CfgMalloc
check "d[0]['num_blocks'] == 256"
rpc framework_get_config bdev
check "any(e['method'] == 'bdev_set_options' and e['params']['bdev_io_pool_size'] == 2047 for e in d)"
stop_tgt
echo "ok: -c with --wait-for-rpc: start-up entries before the wait, runtime ones after framework_start_init"

# 6. --wait-for-rpc without an RPC server: SPDK's refusal.
"$TGT" -m "$MASK" --no-huge --no-rpc-server --wait-for-rpc >"$TMP/out" 2>&1 &&
	fail "--wait-for-rpc --no-rpc-server: exit 0, expected a refusal"
grep -q "Cannot use '--wait-for-rpc' if no RPC server is going to be started" "$TMP/out" ||
	fail "--wait-for-rpc --no-rpc-server: SPDK's message missing"
echo "ok: --wait-for-rpc without an RPC server refused"

echo "test_wait_for_rpc: all checks passed"
