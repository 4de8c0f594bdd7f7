#!/usr/bin/env bash
# The thread scheduler in spio_tgt, driven by SPDK's own rpc.py: the default
# (static, period 0); framework_set_scheduler dynamic with options and
# framework_get_scheduler's fields; an idle NVMe-oF poll group gathered on the
# main core and reactor 1 left empty; back to static, the thread back on its
# first core; thread_set_cpumask moving it both ways; static's mappings; the
# refusals (the app thread, an unknown thread, a mask outside the app, bad
# mappings, scheduler names and options); save_config's scheduler section and
# a restart with it; framework_set_scheduler before init with --wait-for-rpc.
#
# Usage: test_scheduler_rpc.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
# shellcheck disable=SC2034 # used by rpcpy_lib.sh
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
TMP=$(mktemp -d /tmp/spio-sched-test.XXXXXX)
SOCK=/tmp/spio-sched-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"
# shellcheck source=../compat/rpcpy_lib.sh
source "$(dirname "$0")/../compat/rpcpy_lib.sh"

[ -x "$TGT" ] || fail "$TGT not built"
if ! python3 -c 'import os, sys; sys.exit(0 if {0, 1} <= os.sched_getaffinity(0) else 1)'; then
	echo "test_scheduler_rpc: SKIP: needs cores 0 and 1"
	exit 77
fi
MASK=0x3

# refused CODE ARGS...: rpc.py must fail with JSON-RPC error code CODE.
refused() {
	local code=$1
	shift
	rpc_refused "\"code\": $code" "$@"
	kill -0 "$PID" 2>/dev/null || fail "spio_tgt died after $*"
}

# value EXPR: print a Python expression over the last reply `d`.
value() {
	python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$TMP/reply" "$1"
}

# core_of ID: the lcore whose reactor runs thread ID (empty if none).
core_of() {
	rpc framework_get_reactors
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(" ".join(str(r["lcore"]) for r in d["reactors"] for t in r["lw_threads"] if t["id"] == int(sys.argv[2])))' \
		"$TMP/reply" "$1"
}

# wait_core ID CORE WHAT: up to 20 s for thread ID to run on CORE.
wait_core() {
	local got=
	for _ in $(seq 1 200); do
		got=$(core_of "$1")
		[ "$got" = "$2" ] && return 0
		sleep 0.1
	done
	fail "$3: thread $1 on core '$got', expected $2"
}

# 1. The default, and two pinned poll groups.
start_tgt
rpc framework_get_scheduler
check "d['scheduler_name'] == 'static' and d['scheduler_period'] == 0 and d['scheduling_core'] == 0 and d['isolated_core_mask'] == '0' and 'load_limit' not in d"
rpc nvmf_create_transport -t TCP
rpc framework_get_reactors
PG1=$(value "[t['id'] for r in d['reactors'] if r['lcore'] == 1 for t in r['lw_threads']][0]")
APP=$(value "[t['id'] for r in d['reactors'] for t in r['lw_threads'] if t['name'] == 'app_thread'][0]")
if [ -z "$PG1" ] || [ -z "$APP" ]; then
	fail "no thread on core 1 or no app thread"
fi
echo "ok: default static scheduler; poll group thread $PG1 on core 1, app thread $APP"

# 2. dynamic: options, then the idle poll group gathered on the main core.
rpc framework_set_scheduler dynamic -p 100000 --core-limit 70
rpc framework_get_scheduler
check "d['scheduler_name'] == 'dynamic' and d['scheduler_period'] == 100000 and d['load_limit'] == 20 and d['core_limit'] == 70 and d['core_busy'] == 95"
wait_core "$PG1" 0 "dynamic"
rpc framework_get_reactors
check "[r['lw_threads'] for r in d['reactors'] if r['lcore'] == 1] == [[]]"
echo "ok: dynamic (period 100000, core_limit 70): idle thread $PG1 gathered on core 0, reactor 1 empty"

# 3. save_config holds the scheduler; a restart with it restores it.
rpc save_config
cp "$TMP/reply" "$TMP/saved.json"
check "[s['config'] for s in d['subsystems'] if s['subsystem'] == 'scheduler'] == [[{'method': 'framework_set_scheduler', 'params': {'name': 'dynamic', 'period': 100000, 'load_limit': 20, 'core_limit': 70, 'core_busy': 95}}]]"

# 4. Back to static: the thread returns to the core it was first placed on.
rpc framework_set_scheduler static
rpc framework_get_scheduler
check "d['scheduler_name'] == 'static' and d['scheduler_period'] == 0 and 'core_limit' not in d"
wait_core "$PG1" 1 "static after dynamic"
echo "ok: static again: thread $PG1 back on core 1"

# 5. thread_set_cpumask both ways; the mask shows in framework_get_reactors.
rpc thread_set_cpumask -i "$PG1" -m 0x1
wait_core "$PG1" 0 "thread_set_cpumask 0x1"
rpc framework_get_reactors
check "[t['cpumask'] for r in d['reactors'] for t in r['lw_threads'] if t['id'] == $PG1] == ['1']"
rpc thread_set_cpumask -i "$PG1" -m "[1]"
wait_core "$PG1" 1 "thread_set_cpumask [1]"
rpc thread_set_cpumask -i "$PG1" -m 0x3
sleep 0.2
[ "$(core_of "$PG1")" = 1 ] || fail "thread_set_cpumask 0x3 moved a thread already on a core of the mask"
echo "ok: thread_set_cpumask moves thread $PG1 to core 0 and back; a mask holding its core keeps it"

# 6. Static's mappings: the thread moves now and comes back there with static.
rpc framework_set_scheduler static --mappings "$PG1:0"
wait_core "$PG1" 0 "static --mappings $PG1:0"
rpc framework_set_scheduler dynamic -p 100000
rpc framework_set_scheduler static
wait_core "$PG1" 0 "static again after dynamic, with the mapping"
rpc framework_set_scheduler static --mappings "$PG1:1"
wait_core "$PG1" 1 "static --mappings $PG1:1"
refused -32603 framework_set_scheduler static --mappings "$APP:1"
refused -32603 framework_set_scheduler static --mappings "99999:0"
refused -32603 framework_set_scheduler static --mappings "$PG1:9"
echo "ok: static --mappings moves thread $PG1 and holds across a dynamic spell; bad mappings refused"

# 7. Refusals.
refused -32603 thread_set_cpumask -i "$APP" -m 0x2
grep -q "app thread" "$TMP/rpc.err" "$TMP/reply" || fail "app thread refusal: no reason given"
refused -32602 thread_set_cpumask -i 99999 -m 0x1
grep -q "Thread 99999 does not exist" "$TMP/rpc.err" "$TMP/reply" || fail "unknown thread: SPDK's message missing"
refused -32603 thread_set_cpumask -i "$PG1" -m 0x100
grep -q "No CPU is selected from reactor mask 3" "$TMP/rpc.err" "$TMP/reply" || fail "empty mask: SPDK's message missing"
refused -32603 thread_set_cpumask -i "$PG1" -m xyz
refused -32603 framework_set_scheduler nosuch
refused -32602 framework_set_scheduler dynamic --load-limit 300
rpc framework_get_scheduler
check "d['scheduler_name'] == 'static'"
echo "ok: refusals (app thread, unknown thread, masks, scheduler name, options)"
stop_tgt

# 8. A restart with the saved configuration.
start_tgt -c "$TMP/saved.json"
rpc framework_get_scheduler
check "d['scheduler_name'] == 'dynamic' and d['scheduler_period'] == 100000 and d['core_limit'] == 70"
stop_tgt
echo "ok: restart with the saved configuration: dynamic, period 100000, core_limit 70"

# 9. Before init (--wait-for-rpc), as SPDK allows.
rm -f "$SOCK"
"$TGT" -m "$MASK" -r "$SOCK" --no-huge --wait-for-rpc >"$TMP/out" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
	[ -S "$SOCK" ] && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.05
done
if ! kill -0 "$PID" 2>/dev/null; then
	wait "$PID"
	PID=
	echo "skip: --wait-for-rpc not available: $(head -n 2 "$TMP/out")"
else
	rpc framework_get_scheduler
	check "'scheduler_name' not in d"
	rpc framework_set_scheduler dynamic -p 424242
	rpc framework_start_init
	rpc framework_get_scheduler
	check "d['scheduler_name'] == 'dynamic' and d['scheduler_period'] == 424242"
	stop_tgt
	echo "ok: --wait-for-rpc: no scheduler before init; framework_set_scheduler dynamic kept by init"
fi
echo "test_scheduler_rpc: all passed"
