#!/usr/bin/env bash
# test_vm_nvme_host: spdk-io's NVMe/TCP initiator against the Linux kernel's target (nvmet-tcp)
# in a QEMU guest (tests/interop/vm): connect, identify, write then read back 64 MiB with
# verification, deallocate, without and with header and data digests; then a target-side
# disconnect in the middle of I/O: the host sees errors, resets until the target is back,
# reconnects its queue and the next I/O succeeds. Runs examples/nvme_check on the host
# against the guest's forwarded port. Skips (exit 77) where the harness cannot run.
#
# Usage: test_vm_nvme_host.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=vm/vm.sh
source "$here/vm/vm.sh"

fail() {
	echo "test_vm_nvme_host: FAIL: $*" >&2
	exit 1
}

CHECK=$BUILD/nvme_check
[ -x "$CHECK" ] || fail "$CHECK not built"
vm_require
NQN=nqn.2016-06.io.spdk-io:interop-host
started=$SECONDS

vm_build_image "$BUILD/interop/vm-image" || fail "cannot build the guest image"
vm_start --fwd 4420 || fail "the guest did not boot"
port=$(vm_port 4420) || fail "no forwarded port"
vm_run nvmet_setup "$NQN" 64 || fail "nvmet_setup $NQN 64"
trid="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$port subnqn:$NQN"

# 1. 64 MiB written, read back and verified, then deallocated; plain, then with digests.
for digests in "" "-H -I"; do
	# shellcheck disable=SC2086 # the digest flags are two words
	out=$(timeout 300 "$CHECK" -r "$trid" -s 64 $digests 2>&1) ||
		fail "nvme_check ${digests:-without digests}: $out"
	grep -q "wrote and verified 64 MiB" <<<"$out" || fail "no verification line: $out"
	grep -q "controller: Linux" <<<"$out" || fail "not the Linux target: $out"
	echo "ok: 64 MiB verified and deallocated ${digests:+with digests $digests}"
done

# 2. The target drops the connection in the middle of I/O and comes back.
log=$VM_DIR/disconnect.log
timeout 300 "$CHECK" -r "$trid" -s 8 --no-deallocate --disconnect-test >"$log" 2>&1 &
pid=$!
wait_line() {
	for _ in $(seq 600); do
		grep -q "$1" "$log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "$1" "$log"
}
wait_line IO_RUNNING || fail "I/O never started: $(cat "$log")"
vm_run nvmet_port_disable || fail "nvmet_port_disable"
wait_line IO_ERRORS_SEEN || fail "the host saw no error after the port went away: $(cat "$log")"
vm_run nvmet_port_enable || fail "nvmet_port_enable"
wait "$pid"
rc=$?
[ "$rc" = 0 ] || fail "nvme_check --disconnect-test exited $rc: $(tail -20 "$log")"
grep -q RECOVERED "$log" || fail "no RECOVERED line: $(tail -20 "$log")"
echo "ok: target-side disconnect: errors seen, controller reset, queue reconnected, I/O works"

vm_run nvmet_teardown || fail "nvmet_teardown"
vm_check_dmesg || fail "guest kernel log"
vm_stop || fail "the guest did not power off"
echo "test_vm_nvme_host: OK ($((SECONDS - started)) s)"
