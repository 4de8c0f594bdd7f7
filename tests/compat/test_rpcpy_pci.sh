#!/usr/bin/env bash
# test_rpcpy_pci: SPDK's PCI options and framework_get_pci_devices on a live
# spio_tgt, driven by SPDK's own rpc.py, without PCI hardware: no device
# attached answers [] (and nothing with --format-lspci); -B reaches the PCI
# layer (a PCIe controller at a blocked address is refused with the reason in
# the log) and -u refuses every address; -A with -B, a bad address and
# --iova-mode pa with --no-huge stop start-up with SPDK's messages;
# --iova-mode va with --no-huge is what spio uses and starts. Attached devices are listed in the QEMU guest test and
# in tests/unit/env/test_pci.c against a fake VFIO.
# rpc.py comes from SPIO_SPDK_RPC, else ../shared/clients/spdk-rpc next to
# the source tree; without it (or python3) the test skips (exit 77).
# Usage (from CTest): test_rpcpy_pci.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=$1
SRC=$2
TGT=$BUILD/spio_tgt
TMP=$(mktemp -d)
SOCK=$TMP/spio.sock
# shellcheck source=../func/spio_tgt_lib.sh
. "$SRC/tests/func/spio_tgt_lib.sh"

# shellcheck source=rpcpy_lib.sh
. "$SRC/tests/compat/rpcpy_lib.sh"

# spio_tgt ARGS must exit non-zero at start-up with $1 in its output.
start_refused() {
	local want=$1
	shift
	if timeout 20 "$TGT" -m "$MASK" -r "$SOCK" --no-huge "$@" >"$TMP/out" 2>&1; then
		fail "spio_tgt $* started, expected a refusal"
	fi
	grep -q -- "$want" "$TMP/out" || fail "spio_tgt $*: expected '$want' in its output"
}

# 1. Nothing attached: an empty list, and nothing for lspci.
start_tgt --iova-mode va
rpc framework_get_pci_devices
check 'd == []'
rpc framework_get_pci_devices --format-lspci
[ ! -s "$TMP/reply" ] || fail "--format-lspci of no device: expected no output, got: $(cat "$TMP/reply")"
# rpc.py sends no params; spio_rpc can, and gets SPDK's refusal.
if "$BUILD/spio_rpc" -s "$SOCK" call framework_get_pci_devices '{"x": 1}' >"$TMP/reply" 2>&1; then
	fail "framework_get_pci_devices with params: expected a refusal"
fi
grep -q '"message": "framework_get_pci_devices doesn.t accept any parameters.\\n"' "$TMP/reply" ||
	fail "framework_get_pci_devices with params: not SPDK's message: $(cat "$TMP/reply")"
stop_tgt

# 2. -B reaches the PCI layer: attaching the blocked address is refused, the
# log says why (before any look at sysfs: the address need not exist).
start_tgt -B 0000:00:04.0 --pci-blocked 0000:00:05.0
rpc_refused '"code": -19' bdev_nvme_attach_controller -b nvme0 -t PCIe -a 0000:00:05.0
grep -q "pci 0000:00:05.0: blocked by -B (--pci-blocked)" "$TMP/out" ||
	fail "-B 0000:00:05.0: no 'blocked by -B' line in the target's log"
rpc framework_get_pci_devices
check 'd == []'
stop_tgt

# -u (--no-pci) refuses every address.
start_tgt -u
rpc_refused '"code": -19' bdev_nvme_attach_controller -b nvme0 -t PCIe -a 0000:00:04.0
grep -q "pci 0000:00:04.0: PCI access disabled (-u, --no-pci)" "$TMP/out" ||
	fail "-u: no 'PCI access disabled' line in the target's log"
stop_tgt

# 3. Refusals at start-up, SPDK's words where SPDK has them.
start_refused "-B and -A cannot be used at the same time" -A 0000:00:04.0 -B 0000:00:05.0
start_refused "-A 00:20.0: expected a PCI address" -A 00:20.0
start_refused "iova-mode=pa is incompatible with specified no-huge parameter" --iova-mode pa
start_refused "--iova-mode auto: expected pa or va" --iova-mode auto

echo "test_rpcpy_pci: OK (rpc.py: $RPCPY)"
