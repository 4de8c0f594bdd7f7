#!/usr/bin/env bash
# setup.sh: hands local NVMe controllers to spdk-io's user-space PCIe driver (vfio-pci) and
# back to the kernel, like SPDK's scripts/setup.sh (same commands and environment names).
#
#   setup.sh [config]   bind every usable NVMe controller (PCI class 0x010802) to vfio-pci
#   setup.sh reset      give them back to the kernel's nvme driver
#   setup.sh status     hugepages, and a table of the NVMe controllers and their drivers
#   setup.sh help
#
# Environment (as SPDK's):
#   PCI_ALLOWED="BDF ..."  only these controllers (all when unset or empty)
#   PCI_BLOCKED="BDF ..."  never these
#   TARGET_USER=user       chown /dev/vfio/<group> of each bound controller to this user,
#                          so that an unprivileged process can open it (it also needs
#                          RLIMIT_MEMLOCK for its DMA memory)
#   HUGEMEM=MiB            config reserves this much in hugepages and mounts hugetlbfs when
#                          none is mounted. Unset: hugepages are left alone. Unlike SPDK,
#                          spio does not need hugepages (its DMA memory may be plain locked
#                          pages, mapped into the IOMMU by address), so none are reserved
#                          unless asked.
#   SPIO_SETUP_ROOT=DIR    read sys/, proc/ and dev/ under DIR instead of / (tests only)
#
# config skips, saying why, a controller whose namespaces hold a mounted file system, an
# active swap area or a device-mapper / md / LVM member (a holder), and refuses to run at all
# without an IOMMU: the Linux kernel here offers VFIO only through one. Exit status: 0 when
# every controller is where it should be (skipped ones included), 1 on any failure.
set -euo pipefail
shopt -s nullglob

me=setup.sh
root=${SPIO_SETUP_ROOT-}
SYS=$root/sys
PROC=$root/proc
DEV=$root/dev
NVME_CLASS=0x010802
VFIO=vfio-pci

usage() {
	cat <<EOF
Usage: $me [config|reset|status|help]
  config  (default) bind NVMe controllers not in use to $VFIO for spdk-io
  reset   give them back to the kernel's nvme driver
  status  hugepages and the NVMe controllers with their drivers and block devices
  help    this text
Environment: PCI_ALLOWED, PCI_BLOCKED (space-separated PCI addresses), TARGET_USER,
HUGEMEM (MiB of hugepages to reserve; unset: hugepages are left alone, spio does
not need them). See the comment at the top of this script.
EOF
}

err() {
	echo "$me: $*" >&2
}

# write FILE VALUE: a sysfs write whose failure is reported, not fatal to the script.
write() {
	if ! printf '%s\n' "$2" 2>/dev/null >"$1"; then
		err "cannot write '$2' to ${1#"$root"}"
		return 1
	fi
}

# link_name PATH: the last component of a symlink's target ("" when there is none).
link_name() {
	local t
	t=$(readlink "$1" 2>/dev/null) || return 0
	echo "${t##*/}"
}

# nvme_bdfs: the PCI addresses of the NVMe controllers, sorted.
nvme_bdfs() {
	local d class
	for d in "$SYS"/bus/pci/devices/*; do
		class=$(cat "$d/class" 2>/dev/null) || continue
		if [ "$class" = "$NVME_CLASS" ]; then
			echo "${d##*/}"
		fi
	done | sort
}

# listed BDF LIST: BDF is a word of LIST.
listed() {
	[[ " $2 " == *" $1 "* ]]
}

# allowed BDF: not blocked, and allowed when PCI_ALLOWED is set.
allowed() {
	if listed "$1" "${PCI_BLOCKED-}"; then
		return 1
	fi
	[ -z "${PCI_ALLOWED-}" ] || listed "$1" "$PCI_ALLOWED"
}

# ctrl_name BDF: the kernel's controller name (nvme0) when the nvme driver has it.
ctrl_name() {
	local c
	for c in "$SYS/bus/pci/devices/$1"/nvme/nvme*; do
		echo "${c##*/}"
		return
	done
}

# block_devs BDF: the namespaces' block devices of the controller (nvme0n1 ...). With native
# multipath the controller holds hidden path devices (nvme0c0n1) of a head (nvme0n1).
block_devs() {
	local n name
	for n in "$SYS/bus/pci/devices/$1"/nvme/nvme*/nvme*n*; do
		name=${n##*/}
		if [[ $name =~ ^(nvme[0-9]+)c[0-9]+(n[0-9]+)$ ]]; then
			name=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
		fi
		echo "$name"
	done | sort -u
}

# in_use BDF: prints why the controller must not be taken (one line per reason), or nothing.
in_use() {
	local blk b dev mnt rest h
	for blk in $(block_devs "$1"); do
		# The disk itself and its partitions.
		for b in "$SYS/block/$blk" "$SYS/block/$blk/$blk"p*; do
			[ -e "$b" ] || continue
			for h in "$b"/holders/*; do
				echo "${b##*/} is held by ${h##*/} (device-mapper, md or LVM)"
			done
		done
		if [ -r "$PROC/mounts" ]; then
			while read -r dev mnt rest; do
				if [[ $dev =~ ^/dev/${blk}(p[0-9]+)?$ ]]; then
					echo "has mounted filesystem $dev on $mnt"
				fi
			done <"$PROC/mounts"
		fi
		if [ -r "$PROC/swaps" ]; then
			while read -r dev rest; do
				if [[ $dev =~ ^/dev/${blk}(p[0-9]+)?$ ]]; then
					echo "has active swap $dev"
				fi
			done <"$PROC/swaps"
		fi
		# lsblk also sees mounts in other namespaces' views; only on the real system.
		if [ -z "$root" ] && command -v lsblk >/dev/null; then
			while read -r dev mnt; do
				if [ -n "$mnt" ]; then
					echo "has mounted filesystem $dev on $mnt"
				fi
			done < <(lsblk -nrpo NAME,MOUNTPOINT "/dev/$blk" 2>/dev/null)
		fi
	done | sort -u
}

# load_module NAME: loads it unless its driver or module is present already.
load_module() {
	if [ -d "$SYS/module/${1//-/_}" ] || [ -d "$SYS/bus/pci/drivers/$1" ]; then
		return 0
	fi
	if [ -n "$root" ]; then
		err "module $1 is not loaded (not loading modules under SPIO_SETUP_ROOT)"
		return 1
	fi
	if ! modprobe "$1"; then
		err "cannot load kernel module $1"
		return 1
	fi
}

# has_iommu: the kernel has IOMMU groups (none without an IOMMU, or with it disabled).
has_iommu() {
	local groups=("$SYS"/kernel/iommu_groups/*)
	[ ${#groups[@]} -gt 0 ]
}

# bind BDF DRIVER: unbinds the controller from its driver and probes it with DRIVER forced
# through driver_override (kept, so that a rescan does not hand it to another driver).
bind() {
	local bdf=$1 drv=$2 d=$SYS/bus/pci/devices/$1 old
	old=$(link_name "$d/driver")
	write "$d/driver_override" "$drv" || return 1
	if [ -n "$old" ]; then
		write "$d/driver/unbind" "$bdf" || return 1
	fi
	# The probe can fail while the old driver is still letting go: retry a few times.
	for _ in 1 2 3 4 5; do
		write "$SYS/bus/pci/drivers_probe" "$bdf" 2>/dev/null && break
		sleep 0.2
	done
	if [ ! -e "$SYS/bus/pci/drivers/$drv/$bdf" ]; then
		err "$bdf: ${old:-no driver} -> $drv failed (the kernel log says why)"
		return 1
	fi
	echo "$bdf: ${old:-no driver} -> $drv"
}

# hugemem MIB: reserves that much in default-size hugepages and mounts hugetlbfs if needed.
hugemem() {
	local mib=$1 kb pages got
	if ! [[ $mib =~ ^[0-9]+$ ]]; then
		err "HUGEMEM='$mib': expected a size in MiB"
		return 1
	fi
	kb=$(awk '/^Hugepagesize:/ { print $2 }' "$PROC/meminfo" 2>/dev/null || true)
	if [ -z "$kb" ]; then
		err "HUGEMEM=$mib: the kernel has no hugepages ($PROC/meminfo has no Hugepagesize)"
		return 1
	fi
	pages=$(((mib * 1024 + kb - 1) / kb))
	write "$PROC/sys/vm/nr_hugepages" "$pages" || return 1
	got=$(cat "$PROC/sys/vm/nr_hugepages")
	if [ "$got" -lt "$pages" ]; then
		err "HUGEMEM=$mib: asked for $pages hugepages of $kb kB, the kernel gave $got"
		return 1
	fi
	echo "hugepages: $got of $kb kB reserved"
	if ! awk '$3 == "hugetlbfs" { found = 1 } END { exit !found }' "$PROC/mounts"; then
		mkdir -p "$DEV/hugepages"
		if ! mount -t hugetlbfs nodev "$DEV/hugepages"; then
			err "cannot mount hugetlbfs on $DEV/hugepages"
			return 1
		fi
		echo "hugetlbfs mounted on $DEV/hugepages"
	fi
}

config() {
	local bdf d drv group name why line rc=0
	if ! has_iommu; then
		err "no IOMMU: ${SYS#"$root"}/kernel/iommu_groups is empty. VFIO needs one: enable" \
			"VT-d / AMD-Vi in the firmware and boot Linux with intel_iommu=on (or amd_iommu=on)"
		return 1
	fi
	load_module vfio || return 1
	load_module vfio_iommu_type1 || return 1
	load_module "$VFIO" || return 1
	for bdf in $(nvme_bdfs); do
		d=$SYS/bus/pci/devices/$bdf
		name=$(ctrl_name "$bdf")
		if ! allowed "$bdf"; then
			echo "$bdf${name:+ ($name)}: not allowed by PCI_ALLOWED / PCI_BLOCKED, skipping"
			continue
		fi
		drv=$(link_name "$d/driver")
		if [ "$drv" != "$VFIO" ]; then
			why=$(in_use "$bdf")
			if [ -n "$why" ]; then
				while IFS= read -r line; do
					echo "$bdf${name:+ ($name)}: $line, skipping"
				done <<<"$why"
				continue
			fi
			if [ -z "$(link_name "$d/iommu_group")" ]; then
				err "$bdf: in no IOMMU group, cannot be used through VFIO"
				rc=1
				continue
			fi
			bind "$bdf" "$VFIO" || {
				rc=1
				continue
			}
		else
			echo "$bdf: already bound to $VFIO"
		fi
		group=$(link_name "$d/iommu_group")
		if [ -n "${TARGET_USER-}" ] && [ -e "$DEV/vfio/$group" ]; then
			chown "$TARGET_USER" "$DEV/vfio/$group" || {
				err "cannot chown $DEV/vfio/$group to $TARGET_USER"
				rc=1
			}
		fi
	done
	if [ -n "${HUGEMEM-}" ]; then
		hugemem "$HUGEMEM" || rc=1
	fi
	return $rc
}

reset() {
	local bdf d drv rc=0
	load_module nvme || return 1
	for bdf in $(nvme_bdfs); do
		allowed "$bdf" || continue
		d=$SYS/bus/pci/devices/$bdf
		drv=$(link_name "$d/driver")
		if [ "$drv" = nvme ]; then
			echo "$bdf: already bound to nvme"
			continue
		fi
		bind "$bdf" nvme || rc=1
		# An empty override lets the kernel match drivers by ID again.
		write "$d/driver_override" "" || rc=1
	done
	return $rc
}

status() {
	local f size total free bdf d drv node name blks fmt
	echo "Hugepages"
	printf '%-10s %8s / %6s\n' hugesize free total
	for f in "$SYS"/kernel/mm/hugepages/hugepages-*; do
		size=${f##*hugepages-}
		total=$(cat "$f/nr_hugepages")
		free=$(cat "$f/free_hugepages")
		printf '%-10s %8s / %6s\n' "$size" "$free" "$total"
	done
	fmt='%-6s %-15s %-6s %-6s %-7s %-16s %-10s %s\n'
	echo
	# shellcheck disable=SC2059 # the format is the variable
	printf "$fmt" Type BDF Vendor Device NUMA Driver "Device" "Block devices"
	for bdf in $(nvme_bdfs); do
		d=$SYS/bus/pci/devices/$bdf
		drv=$(link_name "$d/driver")
		node=$(cat "$d/numa_node" 2>/dev/null || echo -)
		[ "$node" != -1 ] || node=-
		name=$(ctrl_name "$bdf")
		blks=$(block_devs "$bdf" | tr '\n' ' ')
		blks=${blks% }
		# shellcheck disable=SC2059
		printf "$fmt" NVMe "$bdf" "$(sed 's/^0x//' "$d/vendor")" "$(sed 's/^0x//' "$d/device")" \
			"$node" "${drv:--}" "${name:--}" "${blks:--}"
	done
}

cmd=${1:-config}
if [ $# -gt 1 ]; then
	err "too many arguments: $*"
	usage >&2
	exit 1
fi
case $cmd in
config | reset)
	if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
		err "$cmd needs root (it writes to /sys/bus/pci)"
		exit 1
	fi
	"$cmd" || exit 1
	;;
status) status ;;
help | -h | --help) usage ;;
*)
	err "unknown command '$cmd'"
	usage >&2
	exit 1
	;;
esac
