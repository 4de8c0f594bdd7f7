#!/usr/bin/env bash
# examples/nvme_check against the fake NVMe/TCP target (build/tests/fake_nvmf_tgt), on the
# host: -n picks the namespace (an inactive one is an error), the write / read-back /
# deallocate run, and --reset-test (the controller reset while writer tasks keep commands
# outstanding, then a block written after the reset reads back). The same program drives
# QEMU's emulated controller over PCIe in tests/interop/test_vm_pcie.sh.
#
# Usage: test_nvme_check.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
NAME=test_nvme_check
CHECK=$BUILD/nvme_check
FAKE=$BUILD/tests/fake_nvmf_tgt
TMP=$(mktemp -d /tmp/spio-nvme-check-test.XXXXXX)
FAKE_PID=

fail() {
	echo "$NAME: FAIL: $*" >&2
	[ -f "$TMP/out" ] && sed 's/^/  output: /' "$TMP/out" >&2
	exit 1
}

cleanup() {
	if [ -n "$FAKE_PID" ] && kill -0 "$FAKE_PID" 2>/dev/null; then
		kill -KILL "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -x "$FAKE" ]; then
	echo "$NAME: SKIP: $FAKE not built (the fake NVMe/TCP target)"
	exit 77
fi
[ -x "$CHECK" ] || fail "$CHECK not built"

"$FAKE" --port 0 --namespaces 2 --ns-size 8 >"$TMP/fake.out" 2>"$TMP/fake.err" &
FAKE_PID=$!
for _ in $(seq 100); do
	grep -q '^port ' "$TMP/fake.out" && break
	kill -0 "$FAKE_PID" 2>/dev/null || fail "fake_nvmf_tgt exited: $(cat "$TMP/fake.err")"
	sleep 0.1
done
PORT=$(awk '/^port /{print $2; exit}' "$TMP/fake.out")
[ -n "$PORT" ] || fail "fake_nvmf_tgt printed no 'port N' in 10 s"
TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:nqn.2016-06.io.spio:fake"

# run ARGS...: nvme_check's stdout and stderr in $TMP/out, its status in rc.
run() {
	timeout 60 "$CHECK" "$@" >"$TMP/out" 2>&1
	rc=$?
}

run -r "$TRID" -n 2 -s 2
[ "$rc" = 0 ] || fail "-n 2: exit $rc"
grep -q '^namespace 2: 16384 blocks of 512 bytes$' "$TMP/out" || fail "-n 2: not namespace 2"
grep -qx 'wrote and verified 2 MiB' "$TMP/out" || fail "-n 2: no verification line"
grep -qx 'deallocated 2 MiB' "$TMP/out" || fail "-n 2: no deallocation line"
echo "ok: -n 2: 2 MiB written, verified and deallocated on namespace 2"

run -r "$TRID" -n 3 -s 2
[ "$rc" = 1 ] || fail "-n 3 (inactive): exit $rc, expected 1"
grep -q 'nvme_check: no active namespace 3' "$TMP/out" || fail "-n 3: no message"
echo "ok: -n 3: an inactive namespace is an error"

run -r "$TRID" --reset-test --disconnect-test
[ "$rc" = 1 ] || fail "--reset-test with --disconnect-test: exit $rc, expected 1"
grep -q '^usage: nvme_check' "$TMP/out" || fail "--reset-test with --disconnect-test: no usage"

run -r "$TRID" -s 1 --no-deallocate --reset-test
[ "$rc" = 0 ] || fail "--reset-test: exit $rc"
grep -qx 'IO_RUNNING' "$TMP/out" || fail "--reset-test: no IO_RUNNING"
grep -Eqx 'RESET_DONE: [0-9]+ writes before the reset, [0-9]+ in all, [0-9]+ failed around it' \
	"$TMP/out" || fail "--reset-test: no RESET_DONE line"
before=$(sed -n 's/^RESET_DONE: \([0-9]*\) writes before.*/\1/p' "$TMP/out")
[ "$before" -ge 64 ] || fail "--reset-test: only $before writes before the reset"
grep -qx 'RESET_RECOVERED' "$TMP/out" || fail "--reset-test: not recovered"
grep -q 'resetting controller' "$TMP/out" || fail "--reset-test: the controller was not reset"
echo "ok: --reset-test: $(grep '^RESET_DONE' "$TMP/out")"

echo "$NAME: OK"
