#!/usr/bin/env bash
# test_vm_pcie: spdk-io's user-space NVMe over PCIe through VFIO, against QEMU's emulated NVMe
# controllers in a guest with an emulated IOMMU (tests/interop/vm, --iommu intel). Controller
# A (two namespaces, 32 and 16 MiB) is free; controller B holds a mounted file system. In one
# boot, inside the guest:
#   1. scripts/setup.sh status lists both; config binds A to vfio-pci (loading vfio-pci,
#      reserving HUGEMEM, chowning the VFIO group to TARGET_USER) and refuses B saying why.
#   2. pci_vfio_check reads A's CAP and VS registers through VFIO.
#   3. spio_identify over 'trtype:PCIe traddr:A' shows QEMU's controller and both namespaces.
#   4. nvme_check writes, reads back with verification and deallocates 16 MiB on each
#      namespace; spio_nvme_perf --verify runs 16 deep on both.
#   5. nvme_check --reset-test resets the controller while I/O is outstanding; I/O works after.
#      nvme_check --interrupts verifies 4 MiB of namespace 2 in interrupt mode: MSI-X granted, and the
#      thread sleeps and is woken by the device's eventfds.
#      spio_tgt -B A refuses bdev_nvme_attach_controller -t PCIe -a A; spio_tgt -A A attaches
#      it and framework_get_pci_devices lists it (type nvme, QEMU's ids); after the detach, [].
#   6. setup.sh reset gives A back to the kernel's nvme driver (its disks appear again); B's
#      file system was never touched; the guest kernel logged no warning; the block the reset
#      test wrote is in A's disk file on the host.
# About 20 s on a lightly loaded machine under TCG (one boot).
# The programs come from BUILD_DIR (any build type: none uses instructions the emulated CPU
# lacks with -cpu max). Skips (exit 77) where the harness cannot run.
#
# Usage: test_vm_pcie.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=vm/vm.sh
source "$here/vm/vm.sh"

fail() {
	echo "test_vm_pcie: FAIL: $*" >&2
	exit 1
}

# Fixed slots, so that the addresses are known before boot.
A=0000:00:05.0
B=0000:00:06.0
TRID="trtype:PCIe traddr:$A"

CHECK=$BUILD/nvme_check
IDENTIFY=$BUILD/spio_identify
PERF=$BUILD/spio_nvme_perf
TGT=$BUILD/spio_tgt
RPC=$BUILD/spio_rpc
VFIOCHECK=
for f in "$BUILD/pci_vfio_check" "$BUILD/tests/pci_vfio_check"; do
	[ -x "$f" ] && VFIOCHECK=$f && break
done
[ -x "$CHECK" ] || fail "$CHECK not built"
[ -x "$IDENTIFY" ] || fail "$IDENTIFY not built"
[ -x "$PERF" ] || fail "$PERF not built"
[ -x "$TGT" ] || fail "$TGT not built"
[ -x "$RPC" ] || fail "$RPC not built"
[ -n "$VFIOCHECK" ] || fail "pci_vfio_check not built in $BUILD"
[ -x /bin/bash ] || vm_skip "/bin/bash not found (scripts/setup.sh runs in the guest under bash)"
vm_require
started=$SECONDS

work=$BUILD/interop/pcie
mkdir -p "$work"
# Fresh, sparse disks each run: the checks must not pass on an earlier run's data.
for d in a1:32 a2:16 b1:8; do
	rm -f "$work/${d%:*}.img"
	truncate -s "${d#*:}M" "$work/${d%:*}.img" || fail "cannot create $work/${d%:*}.img"
done

vm_build_image --module nvme --module ext4 --copy-module vfio-pci \
	--copy-module vfio_iommu_type1 --add-bin /bin/bash:/bin/bash \
	--add "$SRC/scripts/setup.sh:/usr/bin/setup.sh" --add-bin "$CHECK:/usr/bin/nvme_check" \
	--add-bin "$IDENTIFY:/usr/bin/spio_identify" --add-bin "$PERF:/usr/bin/spio_nvme_perf" \
	--add-bin "$VFIOCHECK:/usr/bin/pci_vfio_check" \
	--add-bin "$TGT:/usr/bin/spio_tgt" --add-bin "$RPC:/usr/bin/spio_rpc" \
	"$BUILD/interop/vm-image-pcie" || fail "cannot build the guest image"

qemu=()
qarg() {
	qemu+=(--qemu-arg "$1" --qemu-arg "$2")
}
qarg -drive "file=$work/a1.img,if=none,id=a1,format=raw"
qarg -drive "file=$work/a2.img,if=none,id=a2,format=raw"
qarg -drive "file=$work/b1.img,if=none,id=b1,format=raw"
qarg -device "nvme,id=nvme0,serial=spio0,addr=0x5"
qarg -device "nvme-ns,drive=a1,bus=nvme0,nsid=1"
qarg -device "nvme-ns,drive=a2,bus=nvme0,nsid=2"
qarg -device "nvme,id=nvme1,serial=spio1,drive=b1,addr=0x6"
vm_start --iommu intel --mem 1024 "${qemu[@]}" || fail "the guest did not boot"
echo "ok: guest up in $((SECONDS - started)) s"

# B gets a file system, mounted, with a file on it.
# shellcheck disable=SC2016 # expanded in the guest
vm_run "A=$A B=$B" '
pci_nvme_disks "$A" 2 >/dev/null || exit 1
b=$(pci_nvme_disks "$B" 1) || exit 1
mke2fs -q "/dev/$b" >/dev/null || { echo "mke2fs /dev/$b failed" >&2; exit 1; }
mkdir -p /mnt/b && mount -t ext4 "/dev/$b" /mnt/b || exit 1
echo spio-keep >/mnt/b/keep && sync
' || fail "controller B: no mounted file system"

# 1. setup.sh status / config / status.
out=$(vm_run setup.sh status) || fail "setup.sh status: $out"
echo "$out"
grep -Eq "^NVMe +$A +1b36 +0010 +[^ ]+ +nvme +nvme[0-9]+ +nvme[0-9]+n1 nvme[0-9]+n2$" <<<"$out" ||
	fail "setup.sh status: no line for A ($A) on nvme with two disks"
grep -Eq "^NVMe +$B +1b36 +0010 +[^ ]+ +nvme +nvme[0-9]+ +nvme[0-9]+n1$" <<<"$out" ||
	fail "setup.sh status: no line for B ($B) on nvme"

out=$(vm_run 'HUGEMEM=32 TARGET_USER=1000 setup.sh config 2>&1') ||
	fail "setup.sh config exited $?: $out"
echo "$out"
grep -qx "$A: nvme -> vfio-pci" <<<"$out" || fail "setup.sh config did not bind A: $out"
grep -Eqx "$B \(nvme[0-9]+\): has mounted filesystem /dev/nvme[0-9]+n1 on /mnt/b, skipping" \
	<<<"$out" || fail "setup.sh config did not refuse B with the reason: $out"
out=$(vm_run setup.sh status) || fail "setup.sh status after config: $out"
grep -Eq "^NVMe +$A +1b36 +0010 +[^ ]+ +vfio-pci +- +-$" <<<"$out" ||
	fail "setup.sh status after config: A not on vfio-pci: $out"
grep -Eq "^NVMe +$B .* nvme +nvme[0-9]+ +nvme[0-9]+n1$" <<<"$out" ||
	fail "setup.sh status after config: B not on nvme: $out"
grep -Eq "^2048kB +16 / +16$" <<<"$out" || fail "HUGEMEM=32: expected 16 free / 16 hugepages: $out"
# shellcheck disable=SC2016 # expanded in the guest
vm_run "A=$A" '
g=$(readlink "/sys/bus/pci/devices/$A/iommu_group"); g=${g##*/}
[ -c "/dev/vfio/$g" ] || { echo "no /dev/vfio/$g" >&2; exit 1; }
[ "$(stat -c %u "/dev/vfio/$g")" = 1000 ] || { echo "/dev/vfio/$g not owned by 1000" >&2; exit 1; }
grep -q " /dev/hugepages hugetlbfs " /proc/mounts || { echo "hugetlbfs not mounted" >&2; exit 1; }
' || fail "after setup.sh config"
# Again: nothing to do, nothing undone.
out=$(vm_run 'setup.sh config 2>&1') || fail "setup.sh config, second time: $out"
grep -qx "$A: already bound to vfio-pci" <<<"$out" || fail "second setup.sh config: $out"
echo "ok: setup.sh bound A to vfio-pci and refused B (mounted file system)"

# 2. Registers through VFIO.
out=$(vm_run "pci_vfio_check -a $A 2>&1") || fail "pci_vfio_check -a $A: $out"
echo "$out"
# QEMU's controller: NVMe 1.4, and both DMA modes (hugepages from HUGEMEM, then plain pages).
[ "$(grep -c "CAP 0x[0-9a-f]\{16\} .*VS 1\.4\.0$" <<<"$out")" = 2 ] ||
	fail "pci_vfio_check: expected CAP and VS 1.4.0 twice: $out"
grep -qx "pci_vfio_check: $A OK" <<<"$out" || fail "pci_vfio_check: no OK line: $out"
echo "ok: pci_vfio_check read A's registers through VFIO"

# 3. Identify through the PCIe transport.
out=$(vm_run --timeout 60 "spio_identify -r '$TRID' 2>&1") || fail "spio_identify: $out"
grep -Eq "^Model Number: +QEMU NVMe Ctrl" <<<"$out" || fail "spio_identify: not QEMU's controller: $out"
grep -Eq "^Serial Number: +spio0" <<<"$out" || fail "spio_identify: serial is not spio0: $out"
[ "$(grep -c '^Namespace ID:' <<<"$out")" = 2 ] || fail "spio_identify: expected 2 namespaces: $out"
echo "ok: spio_identify shows QEMU NVMe Ctrl with 2 namespaces"

# 4. 16 MiB on each namespace: write, read back and verify, deallocate.
for ns in 1 2; do
	out=$(vm_run --timeout 150 "nvme_check -r '$TRID' -n $ns -s 16 2>&1") ||
		fail "nvme_check namespace $ns: $out"
	grep -q "wrote and verified 16 MiB" <<<"$out" || fail "namespace $ns: no verification: $out"
	grep -q "deallocated 16 MiB" <<<"$out" || fail "namespace $ns: no deallocation: $out"
	grep -q "^namespace $ns:" <<<"$out" || fail "namespace $ns: another namespace used: $out"
	echo "ok: namespace $ns: 16 MiB written, verified and deallocated"
done

# spio_nvme_perf: 16 deep on both namespaces, every write read back and compared.
# Its exit status is 1 on an I/O error or a miscompare.
out=$(vm_run --timeout 150 "spio_nvme_perf -r '$TRID' -q 16 -o 8k -w randwrite -t 60 -d 1000 \
	--verify --no-huge 2>&1") || fail "spio_nvme_perf --verify: $out"
for ns in 1 2; do
	grep -Eq "^PCIE \($A\) NSID $ns from core +0:( +[0-9]+\.[0-9]{2}){8}$" <<<"$out" ||
		fail "spio_nvme_perf: no result row for namespace $ns: $out"
done
echo "ok: spio_nvme_perf --verify: 1000 I/Os on each namespace, every write read back and compared"

# 5. Controller reset with I/O outstanding.
out=$(vm_run --timeout 150 "nvme_check -r '$TRID' -s 4 --no-deallocate --reset-test 2>&1") ||
	fail "nvme_check --reset-test: $out"
grep -q "^RESET_RECOVERED" <<<"$out" || fail "nvme_check --reset-test: $out"
echo "ok: $(grep '^RESET_DONE' <<<"$out")"

# 5b. Interrupt mode: MSI-X eventfds wake the sleeping thread.
out=$(vm_run --timeout 150 "nvme_check -r '$TRID' -n 2 -s 4 -o 4 --interrupts 2>&1") ||
	fail "nvme_check --interrupts: $out"
line=$(grep '^interrupts:' <<<"$out") || fail "nvme_check --interrupts: no summary: $out"
grep -q '^interrupts: on;' <<<"$line" || fail "interrupt mode not granted: $out"
woken=$(sed -n 's/.*woken \([0-9]*\) times.*/\1/p' <<<"$line")
[ "${woken:-0}" -gt 0 ] || fail "the device never woke the sleeping thread: $out"
echo "ok: $line"

# 5c. spio_tgt: -B keeps A away; with -A A, bdev_nvme attaches it and
# framework_get_pci_devices lists it; after the detach the list is empty again.
# shellcheck disable=SC2016 # expanded in the guest
out=$(vm_run --timeout 120 "A=$A" '
t() {
	rm -f /tmp/t.sock
	spio_tgt -m 0x1 -r /tmp/t.sock --no-huge "$@" >/tmp/tgt.log 2>&1 &
	p=$!
	for _ in $(seq 100); do [ -S /tmp/t.sock ] && return 0; sleep 0.1; done
	echo "spio_tgt $* did not start: $(cat /tmp/tgt.log)" >&2; return 1
}
r() { spio_rpc -s /tmp/t.sock "$@"; }
t -B "$A" || exit 1
r bdev_nvme_attach_controller --name nvme0 --trtype PCIe --traddr "$A" &&
	{ echo "-B $A: attached anyway" >&2; exit 1; }
grep -q "pci $A: blocked by -B (--pci-blocked)" /tmp/tgt.log || { echo "-B: no log line" >&2; exit 1; }
kill $p; wait $p
t -A "$A" || exit 1
r bdev_nvme_attach_controller --name nvme0 --trtype PCIe --traddr "$A" || exit 1
echo "== attached"; r framework_get_pci_devices || exit 1
r bdev_nvme_detach_controller --name nvme0 || exit 1
echo "== detached"; r framework_get_pci_devices || exit 1
kill $p; wait $p
' 2>&1) || fail "spio_tgt -A/-B, framework_get_pci_devices: $out"
att=$(sed -n '/^== attached/,/^== detached/p' <<<"$out")
grep -q "\"address\": \"$A\"" <<<"$att" || fail "framework_get_pci_devices: A not listed: $out"
grep -q '"type": "nvme"' <<<"$att" || fail "framework_get_pci_devices: type is not nvme: $out"
grep -Eq '"config_space": "361B1000[0-9A-F]{504}([0-9A-F]{7680})?"' <<<"$att" ||
	fail "framework_get_pci_devices: config space not QEMU's 1b36:0010, 256 or 4096 bytes: $out"
sed -n '/^== detached/,$p' <<<"$out" | grep -qx '\[\]' ||
	fail "framework_get_pci_devices after the detach: expected []: $out"
echo "ok: spio_tgt -B refused A, -A attached it, framework_get_pci_devices listed it"

# 6. Back to the kernel.
out=$(vm_run 'setup.sh reset 2>&1') || fail "setup.sh reset: $out"
echo "$out"
grep -qx "$A: vfio-pci -> nvme" <<<"$out" || fail "setup.sh reset did not give A back: $out"
# shellcheck disable=SC2016 # expanded in the guest
vm_run "A=$A" '
pci_nvme_disks "$A" 2 || exit 1
o=$(cat "/sys/bus/pci/devices/$A/driver_override")
[ -z "$o" ] || [ "$o" = "(null)" ] ||
	{ echo "driver_override still set" >&2; exit 1; }
[ "$(cat /mnt/b/keep)" = spio-keep ] || { echo "B: file changed" >&2; exit 1; }
umount /mnt/b
' || fail "after setup.sh reset"
echo "ok: setup.sh reset gave A back to nvme; B untouched"

vm_check_dmesg || fail "guest kernel log"
vm_stop || fail "the guest did not power off"
# The block the reset test wrote last reached the disk file: nvme_check's pattern, each
# 8-byte word its offset XOR the seed 11.
words=$(od -An -tx8 -N16 "$work/a1.img" | tr -s ' ')
[ "$words" = " 000000000000000b 0000000000000003" ] ||
	fail "$work/a1.img: block 0 holds '$words', not the reset test's pattern"
echo "ok: the data is in the namespace's disk file"
echo "test_vm_pcie: OK ($((SECONDS - started)) s)"
