#!/usr/bin/env bash
# Installs the Debian packages spdk-io needs, only those that are missing.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

required=(cmake gcc make pkg-config clang-format liburing-dev libaio-dev libjansson-dev
	  libisal-dev uuid-dev libfuse3-dev libcriterion-dev clang libclang-rt-14-dev)
# Used by benchmarks (fio), by the aarch64 task test (cross compiler, its
# C library headers, which apt counts as a mere recommendation, and
# qemu-user), by spio_top's test in a real terminal (tmux) and by spio_fuse's
# test (fuse3: fusermount3); their absence only skips those.
optional=(fio gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user tmux fuse3)
# Used by the interop tests (tests/interop): a QEMU guest running the Debian
# kernel's NVMe/TCP target and initiator, booted from a busybox initramfs that
# holds nvme-cli. Installed when possible; without them those tests skip.
interop=(qemu-system-x86 linux-image-amd64 busybox-static cpio nvme-cli)

missing_of() {
	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
			echo "$pkg"
		fi
	done
}

mapfile -t missing_required < <(missing_of "${required[@]}")
mapfile -t missing_optional < <(missing_of "${optional[@]}")
mapfile -t missing_interop < <(missing_of "${interop[@]}")
if [ ${#missing_required[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ] &&
	[ ${#missing_interop[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	if [ ${#missing_required[@]} -ne 0 ]; then
		echo "install-deps: missing packages: ${missing_required[*]}; run as root or install them" >&2
		exit 1
	fi
	missing_other=("${missing_optional[@]}" "${missing_interop[@]}")
	echo "install-deps: optional packages missing (tests using them will skip): ${missing_other[*]}" >&2
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing_required[@]} -ne 0 ]; then
	echo "install-deps: installing ${missing_required[*]}"
	apt-get install -y -qq --no-install-recommends "${missing_required[@]}"
fi
if [ ${#missing_optional[@]} -ne 0 ]; then
	echo "install-deps: installing optional ${missing_optional[*]}"
	apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" ||
		echo "install-deps: optional packages could not be installed; tests using them will skip" >&2
fi
if [ ${#missing_interop[@]} -ne 0 ]; then
	echo "install-deps: installing for the interop tests ${missing_interop[*]}"
	apt-get install -y -qq --no-install-recommends "${missing_interop[@]}" ||
		echo "install-deps: interop test packages could not be installed; tests/interop will skip" >&2
fi
