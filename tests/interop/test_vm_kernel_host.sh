#!/usr/bin/env bash
# test_vm_kernel_host: the Linux kernel's NVMe/TCP initiator (nvme-cli, nvme-tcp) against
# spio_tgt, both inside one QEMU guest on its loopback (tests/interop/vm): spio_tgt exports a
# 64 MiB malloc bdev; `nvme discover` lists the subsystem, `nvme connect` makes /dev/nvmeXnY,
# 8 MiB of random data written with dd read back identical (with and without header and data
# digests), `nvme disconnect` removes it, and spio_tgt exits 0 on SIGTERM. Skips (exit 77)
# where the harness cannot run.
#
# Usage: test_vm_kernel_host.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=vm/vm.sh
source "$here/vm/vm.sh"

fail() {
	echo "test_vm_kernel_host: FAIL: $*" >&2
	exit 1
}

TGT=$BUILD/spio_tgt
[ -x "$TGT" ] || fail "$TGT not built"
vm_require
NQN=nqn.2016-06.io.spdk-io:kernel-host
started=$SECONDS

vm_build_image --add-bin "$TGT:/usr/bin/spio_tgt" "$BUILD/interop/vm-image-tgt" ||
	fail "cannot build the guest image"
vm_start --mem 1024 || fail "the guest did not boot"

# spio_tgt in the guest, configured the way SPDK's nvmf_tgt would be.
# shellcheck disable=SC2016 # expanded in the guest
vm_run "nqn=$NQN" '
cat >/tmp/tgt.json <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 131072, "block_size": 512}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$nqn", "allow_any_host": true, "serial_number": "SPIOKH01"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$nqn", "namespace": {"bdev_name": "Malloc0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$nqn", "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "4420"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "nqn.2014-08.org.nvmexpress.discovery", "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "4420"}}}]}]}
JSON
# A wrapper shell keeps the exit status: the vm_run shell that starts it is gone by then.
(spio_tgt --no-huge -m 0x1 -r /tmp/spio.sock -c /tmp/tgt.json >/tmp/tgt.log 2>&1 &
 echo $! >/tmp/tgt.pid; wait $!; echo $? >/tmp/tgt.rc) &
for i in $(seq 50); do [ -s /tmp/tgt.pid ] && break; sleep 0.1; done
for i in $(seq 300); do
	grep -q "nvme connect" /tmp/tgt.log && exit 0
	kill -0 "$(cat /tmp/tgt.pid)" 2>/dev/null || break
	sleep 0.1
done
cat /tmp/tgt.log >&2
exit 1
' || fail "spio_tgt did not start listening in the guest"
echo "ok: spio_tgt listens in the guest"

out=$(vm_run "nvme discover -t tcp -a 127.0.0.1 -s 4420") || fail "nvme discover: $out"
grep -q "subnqn: *$NQN" <<<"$out" || fail "nvme discover does not list $NQN: $out"
echo "ok: nvme discover lists $NQN"

for opts in "" "--hdr-digest --data-digest"; do
	# shellcheck disable=SC2016 # expanded in the guest
	vm_run "nqn=$NQN" "opts='$opts'" '
die() { echo "$*" >&2; exit 1; }
# shellcheck disable=SC2086
dev=$(nvmf_connect "$nqn" 127.0.0.1 4420 $opts) || die "nvme connect $opts failed"
size=$(blockdev --getsize64 "$dev")
[ "$size" = $((64 << 20)) ] || die "$dev: expected 67108864 bytes, got $size"
dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null
dd if=/tmp/pat of="$dev" bs=1M seek=4 oflag=direct conv=fsync 2>/dev/null || die "write to $dev failed"
dd if="$dev" of=/tmp/back bs=1M skip=4 count=8 iflag=direct 2>/dev/null || die "read from $dev failed"
cmp /tmp/pat /tmp/back || die "$dev: data read back differs"
nvmf_disconnect "$nqn" || die "nvme disconnect failed"
[ ! -e "$dev" ] || die "$dev still there after disconnect"
' || fail "kernel initiator ${opts:-without digests} against spio_tgt"
	echo "ok: 8 MiB written with dd and read back identical ${opts:+($opts)}"
done

# shellcheck disable=SC2016 # expanded in the guest
vm_run '
pid=$(cat /tmp/tgt.pid)
kill -TERM "$pid"
for i in $(seq 300); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && { echo "spio_tgt still running after SIGTERM" >&2; exit 1; }
for i in $(seq 50); do [ -s /tmp/tgt.rc ] && break; sleep 0.1; done
rc=$(cat /tmp/tgt.rc 2>/dev/null)
[ "$rc" = 0 ] || { echo "spio_tgt exited with status ${rc:-unknown}" >&2; cat /tmp/tgt.log >&2; exit 1; }
' || fail "spio_tgt did not stop cleanly on SIGTERM"
echo "ok: spio_tgt stopped on SIGTERM"

vm_check_dmesg || fail "guest kernel log"
vm_stop || fail "the guest did not power off"
echo "test_vm_kernel_host: OK ($((SECONDS - started)) s)"
