#!/usr/bin/env bash
# bench/nvme_vm_nvmet.sh [SECONDS]
#
# spio_nvme_perf against the Linux kernel's NVMe/TCP target (nvmet-tcp, a RAM
# namespace) in a QEMU guest (tests/interop/vm): 4 KiB randread at queue
# depth 32 and 128. Under TCG (no KVM here) the guest is emulated, so the
# figures only show that the path works and its order of magnitude: the
# target, not the initiator, is the bottleneck. One JSON line per case.
# spio_nvme_perf comes from build/release unless SPIO_BUILD is set.
set -uo pipefail

SECS=${1:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SPIO_BUILD:-$SRC/build/release}
# shellcheck source=../tests/interop/vm/vm.sh
source "$SRC/tests/interop/vm/vm.sh"
NQN=nqn.2016-06.io.spdk-io:bench
vm_build_image "$BUILD/interop/vm-image" >/dev/null || exit 2
vm_start --fwd 4420 --smp 2 || exit 2
port=$(vm_port 4420)
vm_run nvmet_setup "$NQN" 256 >/dev/null || exit 2
trid="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$port subnqn:$NQN"
for qd in 32 128; do
	iops=$("$BUILD/spio_nvme_perf" -r "$trid" -q "$qd" -o 4096 -w randread -t "$SECS" -c 0x1 --json \
		2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["iops"])')
	echo "{\"bench\":\"nvme_vm_nvmet\",\"case\":\"4k_randread_qd$qd\",\"target\":\"linux nvmet-tcp under TCG\",\"secs\":$SECS,\"spio_iops\":${iops:-0}}"
done
vm_stop >/dev/null
