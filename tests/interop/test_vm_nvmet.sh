#!/usr/bin/env bash
# test_vm_nvmet: the QEMU guest harness of the interop tests (tests/interop/vm), proven on
# Linux's own NVMe/TCP stack: boots the guest, checks the control channel (output, errors,
# exit status, a timed-out command), exports a 64 MiB RAM namespace through nvmet-tcp and
# checks from the host that the forwarded port answers an ICReq, that disabling the port
# closes it and enabling it reopens it; then, inside the guest, the kernel initiator writes
# 1 MiB at an 8 MiB offset, reads it back, finds it on the target's disk too, and that the
# blocks around it are still zeros. Powers the guest off cleanly. About 20 s on an idle machine.
# Skips (exit 77) without QEMU, a kernel image, busybox-static, nvme-cli or python3
# (scripts/install-deps.sh installs them).
#
# Usage: test_vm_nvmet.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=vm/vm.sh
source "$here/vm/vm.sh"

fail() {
	echo "test_vm_nvmet: FAIL: $*" >&2
	exit 1
}

vm_require
command -v python3 >/dev/null || vm_skip "python3 not found"
PROBE=$here/nvme_tcp_probe.py
NQN=nqn.2016-06.io.spdk-io:interop-vm
started=$SECONDS

vm_build_image "$BUILD/interop/vm-image" || fail "cannot build the guest image"
vm_start --fwd 4420 || fail "the guest did not boot"
port=$(vm_port 4420) || fail "no forwarded port"
echo "ok: guest up in $((SECONDS - started)) s, guest port 4420 on 127.0.0.1:$port"

# 1. The control channel: stdout, stderr and the exit status come back apart.
out=$(vm_run 'echo "to stdout"; echo "to stderr" >&2; exit 7' 2>"$VM_DIR/err")
rc=$?
[ "$rc" = 7 ] || fail "vm_run: expected exit status 7, got $rc"
[ "$out" = "to stdout" ] || fail "vm_run: expected stdout 'to stdout', got '$out'"
[ "$(cat "$VM_DIR/err")" = "to stderr" ] ||
	fail "vm_run: expected stderr 'to stderr', got '$(cat "$VM_DIR/err")'"
# A command that times out fails at once, and its late answer does not leak into the next one.
vm_run --timeout 2 'sleep 4; echo late' >/dev/null 2>&1
rc=$?
[ "$rc" = 255 ] || fail "vm_run --timeout 2 'sleep 4': expected 255, got $rc"
out=$(vm_run 'echo now') || fail "vm_run after a timed-out command failed"
[ "$out" = now ] || fail "vm_run after a timed-out command: expected 'now', got '$out'"
echo "ok: control channel (stdout, stderr, exit status, timeout)"

# 2. nvmet-tcp answers an ICReq through the port forward.
vm_run nvmet_setup "$NQN" 64 || fail "nvmet_setup $NQN 64"
python3 "$PROBE" 127.0.0.1 "$port" || fail "ICReq to the guest's nvmet-tcp"
echo "ok: nvmet-tcp answers from the host"

# 3. Port disable/enable (how reconnect tests will drop their connection).
vm_run nvmet_port_disable || fail "nvmet_port_disable"
python3 "$PROBE" 127.0.0.1 "$port" --expect-closed || fail "port still answers after nvmet_port_disable"
vm_run nvmet_port_enable || fail "nvmet_port_enable"
python3 "$PROBE" 127.0.0.1 "$port" || fail "port does not answer after nvmet_port_enable"
echo "ok: nvmet_port_disable / nvmet_port_enable"

# 4. The guest kernel's initiator over loopback: data written is read back, and lands on the
# target's disk. Unwritten blocks of a memory-backed null_blk read as zeros.
# shellcheck disable=SC2016 # expanded in the guest
vm_run "nqn=$NQN" '
die() { echo "$*" >&2; exit 1; }
dev=$(nvmf_connect "$nqn" 127.0.0.1 4420) || die "nvme connect to $nqn failed"
size=$(blockdev --getsize64 "$dev")
[ "$size" = $((64 << 20)) ] || die "$dev: expected 67108864 bytes, got $size"
disk=$(cat "/sys/kernel/config/nvmet/subsystems/$nqn/namespaces/1/device_path")
dd if=/dev/urandom of=/tmp/pat bs=64k count=16 2>/dev/null
head -c 65536 /dev/zero >/tmp/zero
dd if=/tmp/pat of="$dev" bs=64k seek=128 oflag=direct conv=fsync 2>/dev/null ||
	die "write 1 MiB at 8 MiB to $dev failed"
dd if="$dev" of=/tmp/back bs=64k skip=128 count=16 iflag=direct 2>/dev/null ||
	die "read back from $dev failed"
cmp /tmp/pat /tmp/back || die "$dev: 1 MiB read back at 8 MiB differs from what was written"
dd if="$disk" of=/tmp/disk bs=64k skip=128 count=16 iflag=direct 2>/dev/null ||
	die "read of the target disk $disk failed"
cmp /tmp/pat /tmp/disk || die "target disk $disk: 1 MiB at 8 MiB differs from what was written"
for blk in 127 144; do
	dd if="$dev" of=/tmp/around bs=64k skip=$blk count=1 iflag=direct 2>/dev/null ||
		die "read of 64 KiB block $blk from $dev failed"
	cmp /tmp/around /tmp/zero || die "$dev: 64 KiB block $blk should still be zeros"
done
nvmf_disconnect "$nqn" || die "nvme disconnect -n $nqn failed"
[ ! -e "$dev" ] || die "$dev still present after disconnect"
echo "$dev ($size bytes) on $disk: 1 MiB written, read back, zeros around it"
' || fail "kernel initiator against nvmet over loopback in the guest"
echo "ok: kernel initiator reads back what it wrote"

# 5. Teardown leaves nothing behind: the port is closed, configfs is empty.
vm_run nvmet_teardown || fail "nvmet_teardown"
python3 "$PROBE" 127.0.0.1 "$port" --expect-closed || fail "port still answers after nvmet_teardown"
left=$(vm_run 'ls /sys/kernel/config/nvmet/subsystems /sys/kernel/config/nvmet/ports \
	/sys/kernel/config/nullb | grep -v -e "^/" -e "^$" -e "^features$"')
[ -z "$left" ] || fail "after nvmet_teardown, configfs still holds: $left"
echo "ok: nvmet_teardown"

vm_check_dmesg || fail "guest kernel log"
pid=$VM_PID
dir=$VM_DIR
vm_stop || fail "the guest did not power off"
[ ! -e "/proc/$pid" ] || fail "qemu (pid $pid) still running after vm_stop"
[ ! -e "$dir" ] || fail "vm_stop left $dir behind"
echo "test_vm_nvmet: OK ($((SECONDS - started)) s)"
