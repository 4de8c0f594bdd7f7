# shellcheck shell=dash
# Helpers inside the interop test guest (busybox ash), sourced by init before it serves the
# host's commands, so every vm_run script can call them. Each returns non-zero with a message
# on stderr naming what failed. State lives in configfs (and /run for a disabled port), not in
# shell variables: every vm_run script runs in its own subshell.
#
# Target side (Linux nvmet, NVMe/TCP on 0.0.0.0, any host allowed):
#   nvmet_setup NQN SIZE_MIB [PORT [BLOCK_SIZE]]   subsystem NQN, namespace 1 on a new
#                          memory-backed null_blk disk (reads return what was written;
#                          unwritten blocks read as zeros)
#   nvmet_port_disable [PORT]  unlink every subsystem from the port: the listener closes and
#                          connected hosts are dropped (reconnect tests)
#   nvmet_port_enable [PORT]   link them again
#   nvmet_teardown         remove all ports, subsystems and their null_blk disks
# Host side (Linux nvme-tcp initiator, through nvme-cli):
#   nvmf_connect NQN [TRADDR [TRSVCID [nvme connect options...]]]  prints the block device
#   nvmf_dev NQN [TIMEOUT_S]   prints the block device of a connected subsystem
#   nvmf_disconnect NQN
# Local PCIe NVMe controllers (QEMU's emulated ones, kernel nvme driver):
#   pci_nvme_disks BDF COUNT [TIMEOUT_S]  once the kernel's nvme driver has the controller at
#                          BDF and COUNT namespaces' block devices exist, prints them (nvme0n1
#                          ...), one a line, sorted

NVMET_CFS=/sys/kernel/config/nvmet
NULLB_CFS=/sys/kernel/config/nullb

# cfs_write FILE VALUE: a configfs attribute write whose failure names the attribute.
cfs_write() {
	if ! printf '%s\n' "$2" >"$1"; then
		echo "cannot write '$2' to $1" >&2
		return 1
	fi
}

# wait_path PATH TIMEOUT_S: until PATH exists (device nodes appear asynchronously).
wait_path() {
	local i=0
	while [ ! -e "$1" ]; do
		[ $i -lt $(($2 * 10)) ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# nullb_create SIZE_MIB BLOCK_SIZE: a memory-backed null_blk disk; prints its /dev path.
nullb_create() {
	local n=0 d idx name
	while [ -e "$NULLB_CFS/spio$n" ]; do
		n=$((n + 1))
	done
	d=$NULLB_CFS/spio$n
	mkdir "$d" || return 1
	cfs_write "$d/size" "$1" && cfs_write "$d/blocksize" "$2" &&
		cfs_write "$d/memory_backed" 1 && cfs_write "$d/power" 1 || return 1
	# Newer kernels name the disk after the configfs directory, older ones nullb<index>.
	name=${d##*/}
	if [ ! -e "/sys/block/$name" ]; then
		idx=$(cat "$d/index") || return 1
		name=nullb$idx
	fi
	if ! wait_path "/dev/$name" 10; then
		echo "null_blk $d: /dev/$name did not appear" >&2
		return 1
	fi
	echo "/dev/$name"
}

nvmet_setup() {
	local nqn="${1-}" size="${2-}" port="${3:-4420}" bs="${4:-512}" sub dev p
	case $size in
	'' | *[!0-9]* | 0)
		echo "usage: nvmet_setup NQN SIZE_MIB [PORT [BLOCK_SIZE]] (size '$size')" >&2
		return 2
		;;
	esac
	[ -n "$nqn" ] || return 2
	sub=$NVMET_CFS/subsystems/$nqn
	if [ -e "$sub" ]; then
		echo "nvmet_setup: subsystem $nqn already exists" >&2
		return 1
	fi
	dev=$(nullb_create "$size" "$bs") || return 1
	mkdir "$sub" && cfs_write "$sub/attr_allow_any_host" 1 && mkdir "$sub/namespaces/1" &&
		cfs_write "$sub/namespaces/1/device_path" "$dev" &&
		cfs_write "$sub/namespaces/1/enable" 1 || return 1

	p=$NVMET_CFS/ports/$port
	if [ ! -d "$p" ]; then
		mkdir "$p" && cfs_write "$p/addr_trtype" tcp && cfs_write "$p/addr_adrfam" ipv4 &&
			cfs_write "$p/addr_traddr" 0.0.0.0 && cfs_write "$p/addr_trsvcid" "$port" ||
			return 1
	fi
	# The first link enables the port: nvmet-tcp starts listening here.
	ln -s "$sub" "$p/subsystems/$nqn" || return 1
	echo "nvmet: $nqn namespace 1 = $dev ($size MiB, $bs-byte blocks) on tcp 0.0.0.0:$port"
}

nvmet_port_disable() {
	local port="${1:-4420}" p l
	p=$NVMET_CFS/ports/$port
	if [ ! -d "$p" ]; then
		echo "nvmet_port_disable: no port $port" >&2
		return 1
	fi
	: >"/run/nvmet-port-$port.off"
	for l in "$p"/subsystems/*; do
		[ -L "$l" ] || continue
		echo "${l##*/}" >>"/run/nvmet-port-$port.off"
		rm "$l" || return 1
	done
}

nvmet_port_enable() {
	local port="${1:-4420}" nqn
	if [ ! -f "/run/nvmet-port-$port.off" ]; then
		echo "nvmet_port_enable: port $port was not disabled by nvmet_port_disable" >&2
		return 1
	fi
	while read -r nqn; do
		ln -s "$NVMET_CFS/subsystems/$nqn" "$NVMET_CFS/ports/$port/subsystems/$nqn" || return 1
	done <"/run/nvmet-port-$port.off"
	rm "/run/nvmet-port-$port.off"
}

nvmet_teardown() {
	local p s ns d rc=0
	for p in "$NVMET_CFS"/ports/*; do
		[ -d "$p" ] || continue
		for s in "$p"/subsystems/*; do
			[ -L "$s" ] && { rm "$s" || rc=1; }
		done
		rmdir "$p" || rc=1
	done
	for s in "$NVMET_CFS"/subsystems/*; do
		[ -d "$s" ] || continue
		for ns in "$s"/namespaces/*; do
			[ -d "$ns" ] || continue
			cfs_write "$ns/enable" 0 && rmdir "$ns" || rc=1
		done
		rmdir "$s" || rc=1
	done
	for d in "$NULLB_CFS"/spio*; do
		[ -d "$d" ] || continue
		cfs_write "$d/power" 0 && rmdir "$d" || rc=1
	done
	rm -f /run/nvmet-port-*.off
	return $rc
}

nvmf_dev() {
	local nqn="${1-}" t="${2:-10}" i=0 b n
	while :; do
		for b in /sys/block/nvme*; do
			n="${b##*/}"
			# nvmeXcYnZ are the hidden per-path disks of native multipath.
			case $n in nvme*c*) continue ;; esac
			if [ "$(cat "$b/device/subsysnqn" 2>/dev/null)" = "$nqn" ] && [ -b "/dev/$n" ]; then
				echo "/dev/$n"
				return 0
			fi
		done
		if [ $i -ge $((t * 10)) ]; then
			echo "nvmf_dev: no block device for $nqn after ${t}s" >&2
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

nvmf_connect() {
	local nqn="${1-}" addr="${2:-127.0.0.1}" port="${3:-4420}"
	if [ $# -gt 3 ]; then shift 3; else set --; fi
	nvme connect -t tcp -a "$addr" -s "$port" -n "$nqn" "$@" >/dev/null || return 1
	nvmf_dev "$nqn"
}

nvmf_disconnect() {
	nvme disconnect -n "${1-}" >/dev/null
}

pci_nvme_disks() {
	local bdf="${1-}" count="${2-}" t="${3:-20}" i=0 n name found
	while :; do
		found=$(for n in /sys/bus/pci/devices/"$bdf"/nvme/nvme*/nvme*n*; do
			[ -e "$n" ] || continue
			# With native multipath the controller holds nvmeXcYnZ, a path of disk nvmeXnZ.
			name=$(echo "${n##*/}" | sed 's/^\(nvme[0-9]*\)c[0-9]*\(n[0-9]*\)$/\1\2/')
			[ -b "/dev/$name" ] && echo "$name"
		done | sort -u)
		if [ -n "$found" ] && [ "$(echo "$found" | wc -l)" -ge "$count" ]; then
			echo "$found"
			return 0
		fi
		if [ $i -ge $((t * 10)) ]; then
			echo "pci_nvme_disks: $bdf: expected $count block devices after ${t}s, found:" \
				"${found:-none} (driver: $(readlink "/sys/bus/pci/devices/$bdf/driver"))" >&2
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}
