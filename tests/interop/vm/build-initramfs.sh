#!/usr/bin/env bash
# Builds the guest image of the interop tests: the installed Debian kernel and
# a busybox initramfs holding the kernel modules the tests need (NVMe/TCP host
# and target, null_blk, configfs, virtio net/serial), nvme-cli with its shared
# libraries, the guest init (init) and the guest helpers (guest-lib.sh).
#
# Usage: build-initramfs.sh [options] OUT_DIR
#        build-initramfs.sh --check     (exit 77 with the reason when no image can be built)
#   --add SRC:DEST       copy file or directory SRC to DEST in the guest (e.g. a statically
#                        linked spdk-io target: --add build/x/spio_tgt:/usr/bin/spio_tgt)
#   --add-bin SRC[:DEST] copy executable SRC and the shared libraries ldd finds for it
#                        (DEST defaults to /usr/bin/<name>)
#   --module 'NAME [PARAM=VALUE...]'  one more kernel module to load at boot, with its deps
#   --copy-module NAME   one more kernel module (with its deps) in the image, not loaded: a
#                        test loads it with modprobe (e.g. scripts/setup.sh loading vfio-pci)
# Environment: VM_KERNEL_VERSION picks a kernel (default: the newest in /boot with modules).
#
# OUT_DIR receives vmlinuz, initramfs.cpio and stamp. The image is rebuilt only when an input
# changes: the kernel, a module, busybox, nvme-cli or its libraries, these scripts, the options
# or an added file (stamp holds the hash of all of them). Runs as root or not: ownership is
# set to root by cpio -R and /dev/console, which needs mknod, is written as a hand-made newc
# entry. Builds of the same OUT_DIR by concurrent tests are serialized by flock.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=build-initramfs

die() {
	echo "$me: $*" >&2
	exit 1
}

# Modules loaded at boot, in this order (each after its own dependencies). The crypto
# providers come first so that crc-t10dif, crc64-rocksoft and nvme-tcp's digests find
# them without the kernel calling modprobe. null_blk with nr_devices=0: namespaces are
# created through its configfs, memory-backed, by nvmet_setup.
modules=(crc32c_generic crct10dif_generic crc64_rocksoft_generic configfs virtio_pci
	virtio_net virtio_console 'null_blk nr_devices=0' nvme-core nvme-fabrics nvme-tcp nvmet
	nvmet-tcp)
copy_modules=()
adds=()
add_bins=()
check_only=0
out=

while [ $# -gt 0 ]; do
	case $1 in
	--add) adds+=("${2:?--add needs SRC:DEST}") && shift 2 ;;
	--add-bin) add_bins+=("${2:?--add-bin needs SRC[:DEST]}") && shift 2 ;;
	--module) modules+=("${2:?--module needs a name}") && shift 2 ;;
	--copy-module) copy_modules+=("${2:?--copy-module needs a name}") && shift 2 ;;
	--check) check_only=1 && shift ;;
	-*) die "unknown option $1" ;;
	*)
		[ -z "$out" ] || die "one OUT_DIR only, got $out and $1"
		out=$1
		shift
		;;
	esac
done

# pick_kernel: the newest version with both an image and modules.dep (or VM_KERNEL_VERSION).
pick_kernel() {
	local v best=
	if [ -n "${VM_KERNEL_VERSION-}" ]; then
		echo "$VM_KERNEL_VERSION"
		return
	fi
	for img in /boot/vmlinuz-*; do
		[ -e "$img" ] || continue
		v=${img#/boot/vmlinuz-}
		[ -f "/lib/modules/$v/modules.dep" ] || continue
		best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n 1)
	done
	echo "$best"
}

# check_inputs: prints why no image can be built here, or nothing.
check_inputs() {
	local t
	for t in busybox nvme cpio ldd sha256sum; do
		if ! command -v "$t" >/dev/null; then
			echo "$t not found (apt-get install busybox-static nvme-cli cpio)"
			return
		fi
	done
	kver=$(pick_kernel)
	if [ -z "$kver" ]; then
		echo "no kernel with modules in /boot and /lib/modules (apt-get install linux-image-amd64)"
		return
	fi
	if [ ! -r "/boot/vmlinuz-$kver" ]; then
		echo "/boot/vmlinuz-$kver missing or not readable by $(id -un)"
		return
	fi
	if [ ! -f "/lib/modules/$kver/modules.dep" ]; then
		echo "/lib/modules/$kver/modules.dep missing"
		return
	fi
}

reason=$(check_inputs)
if [ "$check_only" = 1 ]; then
	[ -z "$reason" ] && exit 0
	echo "$reason"
	exit 77
fi
[ -n "$out" ] || die "usage: $0 [--add SRC:DEST] [--add-bin SRC[:DEST]] [--module M] OUT_DIR"
[ -z "$reason" ] || die "$reason"
kver=$(pick_kernel)
moddir=/lib/modules/$kver

# Module name -> its path in modules.dep ("kernel/.../x.ko[.xz]"); '-' and '_' are the same.
declare -A mod_path=() mod_deps=()
while IFS= read -r line; do
	p=${line%%:*}
	n=${p##*/}
	n=${n%%.ko*}
	n=${n//-/_}
	mod_path[$n]=$p
	mod_deps[$p]=${line#*:}
done <"$moddir/modules.dep"

# Topological load order: each module after the modules it needs.
declare -A mod_seen=()
load_order=()
visit() {
	local p=$1 d
	[ -z "${mod_seen[$p]-}" ] || return 0
	mod_seen[$p]=1
	for d in ${mod_deps[$p]}; do
		visit "$d"
	done
	load_order+=("$p")
}
declare -A mod_params=()
for spec in "${modules[@]}"; do
	read -r name params <<<"$spec"
	key=${name//-/_}
	[ -n "${mod_path[$key]-}" ] || die "module $name not in $moddir/modules.dep"
	mod_params[${mod_path[$key]}]=$params
	visit "${mod_path[$key]}"
done
# The boot modules and their deps come first in load_order; the copied-only ones after.
n_boot=${#load_order[@]}
for name in "${copy_modules[@]}"; do
	key=${name//-/_}
	[ -n "${mod_path[$key]-}" ] || die "module $name not in $moddir/modules.dep"
	visit "${mod_path[$key]}"
done

# Files of the image: "SRC DEST" pairs (DEST relative to the image root).
files=()
add_file() {
	files+=("$1"$'\t'"${2#/}")
}
add_with_libs() {
	local bin=$1 dest=$2 lib
	add_file "$bin" "$dest"
	# A static binary has no libraries (ldd exits 1 and says so).
	while read -r lib; do
		add_file "$lib" "$lib"
	done < <(ldd "$bin" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
}

add_with_libs "$(command -v busybox)" /bin/busybox
add_with_libs "$(command -v nvme)" /usr/sbin/nvme
add_file "$here/init" /init
add_file "$here/guest-lib.sh" /lib/spio/guest-lib.sh
for p in "${load_order[@]}"; do
	add_file "$moddir/$p" "$moddir/${p%.ko*}.ko"
done
for a in "${adds[@]}"; do
	src=${a%%:*}
	[ "$src" != "$a" ] || die "--add $a: expected SRC:DEST"
	[ -e "$src" ] || die "--add $a: $src does not exist"
	add_file "$src" "${a#*:}"
done
for a in "${add_bins[@]}"; do
	src=${a%%:*}
	dest=/usr/bin/${src##*/}
	[ "$src" = "$a" ] || dest=${a#*:}
	[ -x "$src" ] || die "--add-bin $a: $src is not an executable file"
	add_with_libs "$src" "$dest"
done

# The stamp hashes every input's content, plus this script, the options and the kernel.
key=$({
	echo "$kver"
	printf '%s\n' "${modules[@]}" "copy: ${copy_modules[*]}" "${files[@]}"
	sha256sum "${BASH_SOURCE[0]}" "/boot/vmlinuz-$kver"
	for f in "${files[@]}"; do
		src=${f%%$'\t'*}
		if [ -d "$src" ]; then
			find "$src" -type f -print0 | sort -z | xargs -0r sha256sum
		else
			sha256sum "$src"
		fi
	done
} | sha256sum | cut -d' ' -f1)

mkdir -p "$out"
exec 9>"$out/.lock"
if command -v flock >/dev/null; then
	flock 9
fi
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$key" ] && [ -f "$out/initramfs.cpio" ] &&
	[ -f "$out/vmlinuz" ]; then
	exit 0
fi

stage=$(mktemp -d "$out/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
# var/tmp: where spio's PCI layer keeps its per-device lock files, as SPDK does.
mkdir -p "$root"/{proc,sys,tmp,var/tmp,run,etc/nvme,bin,sbin,usr/bin,usr/sbin}
for f in "${files[@]}"; do
	src=${f%%$'\t'*}
	dest=$root/${f#*$'\t'}
	mkdir -p "$(dirname "$dest")"
	case $src in
	*.ko.xz) xz -dc "$src" >"$dest" ;;
	*.ko.zst) zstd -qdc "$src" >"$dest" ;;
	*.ko.gz) gzip -dc "$src" >"$dest" ;;
	*) cp -rL "$src" "$dest" ;;
	esac
done
chmod 0755 "$root/init"

# modules.dep for the copied modules (busybox modprobe and kernel autoloading use it), and
# the boot list: "path params" lines, dependencies first.
for p in "${load_order[@]}"; do
	deps=
	for d in ${mod_deps[$p]}; do
		deps+=" ${d%.ko*}.ko"
	done
	echo "${p%.ko*}.ko:$deps"
done >"$root/$moddir/modules.dep"
names=$(printf '%s\n' "${load_order[@]##*/}" | sed 's/\.ko.*$//; s/-/_/g')
awk 'NR == FNR { want[$1] = 1; next } $1 == "alias" && want[$3]' <(echo "$names") \
	"$moddir/modules.alias" >"$root/$moddir/modules.alias"
for p in "${load_order[@]:0:n_boot}"; do
	echo "${p%.ko*}.ko ${mod_params[$p]-}"
done >"$root/$moddir/boot.list"
echo "$kver" >"$root/etc/kernel-version"
# A fixed host identity for nvme-cli (it would otherwise derive one from DMI data).
echo "nqn.2014-08.org.nvmexpress:uuid:5350494f-0000-4000-8000-000000000001" >"$root/etc/nvme/hostnqn"
echo "5350494f-0000-4000-8000-000000000001" >"$root/etc/nvme/hostid"

# newc_entry NAME MODE RDEV_MAJOR RDEV_MINOR: one header + name of an empty file/dir/node.
newc_entry() {
	local name=$1 mode=$2 major=$3 minor=$4 n pad
	n=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		0 "$mode" 0 0 1 0 0 0 0 "$major" "$minor" "$n" 0
	printf '%s\0' "$name"
	pad=$(((4 - (110 + n) % 4) % 4))
	head -c "$pad" /dev/zero
}
{
	newc_entry dev $((0040755)) 0 0
	newc_entry dev/console $((0020600)) 5 1
	newc_entry TRAILER!!! 0 0 0
} >"$stage/initramfs.cpio"
(cd "$root" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --quiet) >>"$stage/initramfs.cpio"

cp "/boot/vmlinuz-$kver" "$stage/vmlinuz"
rm -f "$out/stamp"
mv -f "$stage/vmlinuz" "$out/vmlinuz"
mv -f "$stage/initramfs.cpio" "$out/initramfs.cpio"
echo "$key" >"$out/stamp"
echo "$me: $out/initramfs.cpio: kernel $kver, $(du -k "$out/initramfs.cpio" | cut -f1) KiB"
