#!/usr/bin/env bash
# test_setup_sh: scripts/setup.sh on the host without NVMe devices: its commands and exit
# statuses, and config / reset / status against a made-up sysfs and procfs
# (SPIO_SETUP_ROOT): which controllers it binds, which it refuses and why (mounted partition,
# device-mapper holder, swap, PCI_BLOCKED, PCI_ALLOWED, no IOMMU), what it writes to sysfs,
# HUGEMEM and TARGET_USER. The real binding is tested in a guest by
# tests/interop/test_vm_pcie.sh.
#
# Usage: test_setup_sh.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
SETUP=$SRC/scripts/setup.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/spio-setup.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

fail() {
	echo "test_setup_sh: FAIL: $*" >&2
	exit 1
}

# run ARGS...: setup.sh against the fake root; output in $TMP/out (stdout + stderr), status in rc.
run() {
	SPIO_SETUP_ROOT=$R bash "$SETUP" "$@" >"$TMP/out" 2>&1
	rc=$?
}

expect() {
	grep -qx -- "$1" "$TMP/out" || fail "${2:-setup.sh}: no line '$1' in: $(cat "$TMP/out")"
}

# dev BDF CLASS DRIVER [CTRL [DISK...]]: a PCI function; DRIVER '-' for none.
dev() {
	local bdf=$1 class=$2 drv=$3 ctrl=${4-} d=$R/sys/bus/pci/devices/$1 disk
	mkdir -p "$d"
	echo "$class" >"$d/class"
	echo 0x1b36 >"$d/vendor"
	echo 0x0010 >"$d/device"
	echo -1 >"$d/numa_node"
	echo "(null)" >"$d/driver_override"
	ln -s ../../../../kernel/iommu_groups/"${bdf:5:2}" "$d/iommu_group"
	mkdir -p "$R/sys/kernel/iommu_groups/${bdf:5:2}" && : >"$R/dev/vfio/${bdf:5:2}"
	[ "$drv" = - ] || ln -s "../../drivers/$drv" "$d/driver"
	[ -n "$ctrl" ] || return 0
	mkdir -p "$d/nvme/$ctrl"
	shift 4
	for disk in "$@"; do
		mkdir -p "$d/nvme/$ctrl/$disk"
		[[ ! $disk =~ ^(nvme[0-9]+)c[0-9]+(n[0-9]+)$ ]] || disk=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
		mkdir -p "$R/sys/block/$disk/holders"
	done
}

R=$TMP/root
mkdir -p "$R"/sys/bus/pci/{devices,drivers/nvme,drivers/vfio-pci} "$R"/sys/module/{vfio,vfio_iommu_type1,nvme} \
	"$R"/proc/sys/vm "$R"/dev/vfio "$R"/sys/kernel/mm/hugepages/hugepages-2048kB
: >"$R/sys/bus/pci/drivers_probe"
echo 0 >"$R/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
echo 0 >"$R/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
echo 0 >"$R/proc/sys/vm/nr_hugepages"
echo "Hugepagesize:       2048 kB" >"$R/proc/meminfo"
# A free controller (native multipath names: path nvme0c0n1 of disk nvme0n1), one with a
# mounted partition, one under device-mapper, one with swap, one blocked, one unbound, a NIC.
dev 0000:01:00.0 0x010802 nvme nvme0 nvme0c0n1
dev 0000:02:00.0 0x010802 nvme nvme1 nvme1n1
mkdir -p "$R/sys/block/nvme1n1/nvme1n1p1/holders"
dev 0000:03:00.0 0x010802 nvme nvme2 nvme2n1 nvme2n2
mkdir -p "$R/sys/block/nvme2n2/holders/dm-0"
dev 0000:04:00.0 0x010802 nvme nvme3 nvme3n1
dev 0000:05:00.0 0x010802 nvme nvme4 nvme4n1
dev 0000:06:00.0 0x010802 -
dev 0000:07:00.0 0x020000 e1000e
# The fake kernel "binds" whatever is probed: setup.sh checks drivers/<driver>/<bdf>.
for b in 01 02 03 04 05 06; do
	: >"$R/sys/bus/pci/drivers/vfio-pci/0000:$b:00.0"
done
cat >"$R/proc/mounts" <<EOF
/dev/sda1 / ext4 rw 0 0
/dev/nvme1n1p1 /data xfs rw 0 0
nodev /dev/hugepages hugetlbfs rw 0 0
EOF
printf 'Filename\tType\tSize\tUsed\tPriority\n/dev/nvme3n1 partition 1024 0 -2\n' >"$R/proc/swaps"

# Commands and their exit statuses.
run help
[ "$rc" = 0 ] || fail "help exited $rc"
grep -q '^Usage: setup.sh \[config|reset|status|help\]' "$TMP/out" || fail "help: $(cat "$TMP/out")"
run frobnicate
[ "$rc" = 1 ] || fail "an unknown command exited $rc, expected 1"
expect "setup.sh: unknown command 'frobnicate'"
grep -q '^Usage:' "$TMP/out" || fail "an unknown command printed no usage"
run status extra
[ "$rc" = 1 ] || fail "two arguments exited $rc, expected 1"
echo "ok: help, unknown command, too many arguments"

run status
[ "$rc" = 0 ] || fail "status exited $rc: $(cat "$TMP/out")"
grep -Eqx '2048kB +0 / +0' "$TMP/out" || fail "status: no hugepage line: $(cat "$TMP/out")"
grep -Eqx 'Type +BDF +Vendor +Device +NUMA +Driver +Device +Block devices' "$TMP/out" ||
	fail "status: no table header: $(cat "$TMP/out")"
grep -Eqx 'NVMe +0000:01:00.0 +1b36 +0010 +- +nvme +nvme0 +nvme0n1' "$TMP/out" ||
	fail "status: 0000:01:00.0: $(cat "$TMP/out")"
grep -Eqx 'NVMe +0000:03:00.0 +1b36 +0010 +- +nvme +nvme2 +nvme2n1 nvme2n2' "$TMP/out" ||
	fail "status: 0000:03:00.0: $(cat "$TMP/out")"
grep -Eqx 'NVMe +0000:06:00.0 +1b36 +0010 +- +- +- +-' "$TMP/out" ||
	fail "status: 0000:06:00.0: $(cat "$TMP/out")"
[ "$(grep -c '^NVMe ' "$TMP/out")" = 6 ] || fail "status: expected 6 NVMe lines (not the NIC)"
echo "ok: status"

# No IOMMU: config refuses to run and touches nothing.
mv "$R/sys/kernel/iommu_groups" "$R/sys/kernel/iommu_groups.off"
mkdir "$R/sys/kernel/iommu_groups"
run config
[ "$rc" = 1 ] || fail "config without an IOMMU exited $rc"
grep -q "setup.sh: no IOMMU: /sys/kernel/iommu_groups is empty" "$TMP/out" ||
	fail "config without an IOMMU: $(cat "$TMP/out")"
[ ! -s "$R/sys/bus/pci/drivers_probe" ] || fail "config without an IOMMU probed a device"
rmdir "$R/sys/kernel/iommu_groups"
mv "$R/sys/kernel/iommu_groups.off" "$R/sys/kernel/iommu_groups"
echo "ok: config refuses to run without an IOMMU"

PCI_BLOCKED="0000:05:00.0" TARGET_USER=$(id -u) HUGEMEM=5 run config
[ "$rc" = 0 ] || fail "config exited $rc: $(cat "$TMP/out")"
expect "0000:01:00.0: nvme -> vfio-pci"
expect "0000:02:00.0 (nvme1): has mounted filesystem /dev/nvme1n1p1 on /data, skipping"
expect "0000:03:00.0 (nvme2): nvme2n2 is held by dm-0 (device-mapper, md or LVM), skipping"
expect "0000:04:00.0 (nvme3): has active swap /dev/nvme3n1, skipping"
expect "0000:05:00.0 (nvme4): not allowed by PCI_ALLOWED / PCI_BLOCKED, skipping"
expect "0000:06:00.0: no driver -> vfio-pci"
expect "hugepages: 3 of 2048 kB reserved"
grep -q 0000:07:00.0 "$TMP/out" && fail "config looked at the NIC: $(cat "$TMP/out")"
# What the kernel was told: 01 unbound from nvme (06 had no driver), both probed for vfio-pci.
[ "$(cat "$R/sys/bus/pci/drivers/nvme/unbind")" = 0000:01:00.0 ] ||
	fail "config: drivers/nvme/unbind holds '$(cat "$R/sys/bus/pci/drivers/nvme/unbind")'"
[ "$(cat "$R/sys/bus/pci/drivers_probe")" = 0000:06:00.0 ] ||
	fail "config: the last probe was not 0000:06:00.0"
for b in 01 06; do
	[ "$(cat "$R/sys/bus/pci/devices/0000:$b:00.0/driver_override")" = vfio-pci ] ||
		fail "config: 0000:$b:00.0's driver_override is not vfio-pci"
done
for b in 02 03 04 05; do
	[ "$(cat "$R/sys/bus/pci/devices/0000:$b:00.0/driver_override")" = "(null)" ] ||
		fail "config: 0000:$b:00.0 (refused) has its driver_override changed"
done
[ "$(cat "$R/proc/sys/vm/nr_hugepages")" = 3 ] || fail "HUGEMEM=5: nr_hugepages is not 3"
echo "ok: config binds the free controllers and refuses the others with the reason"

HUGEMEM=lots run config
[ "$rc" = 1 ] || fail "HUGEMEM=lots exited $rc"
expect "setup.sh: HUGEMEM='lots': expected a size in MiB"
PCI_ALLOWED="0000:02:00.0 0000:04:00.0" run config
[ "$rc" = 0 ] || fail "config with PCI_ALLOWED exited $rc: $(cat "$TMP/out")"
expect "0000:01:00.0 (nvme0): not allowed by PCI_ALLOWED / PCI_BLOCKED, skipping"
expect "0000:02:00.0 (nvme1): has mounted filesystem /dev/nvme1n1p1 on /data, skipping"
expect "0000:04:00.0 (nvme3): has active swap /dev/nvme3n1, skipping"
echo "ok: PCI_ALLOWED, bad HUGEMEM"

# reset: a controller on vfio-pci goes back to nvme, its override cleared.
d=$R/sys/bus/pci/devices/0000:01:00.0
rm "$d/driver" && ln -s ../../drivers/vfio-pci "$d/driver"
: >"$R/sys/bus/pci/drivers/nvme/0000:01:00.0"
PCI_BLOCKED="0000:06:00.0" run reset
[ "$rc" = 0 ] || fail "reset exited $rc: $(cat "$TMP/out")"
expect "0000:01:00.0: vfio-pci -> nvme"
expect "0000:02:00.0: already bound to nvme"
grep -q 0000:06:00.0 "$TMP/out" && fail "reset touched the blocked 0000:06:00.0"
[ "$(cat "$R/sys/bus/pci/drivers/vfio-pci/unbind")" = 0000:01:00.0 ] || fail "reset: no unbind"
[ -z "$(cat "$d/driver_override")" ] || fail "reset: driver_override not cleared"
# A probe the kernel does not honour is an error.
rm "$R/sys/bus/pci/drivers/nvme/0000:01:00.0"
run reset
[ "$rc" = 1 ] || fail "reset with a failing probe exited $rc"
expect "setup.sh: 0000:01:00.0: vfio-pci -> nvme failed (the kernel log says why)"
echo "ok: reset"

echo "test_setup_sh: OK"
