#!/usr/bin/env bash
# bench/pcie_vs_spdk.sh SPDK_DIR [ROUNDS] [SECONDS]
#
# spio_nvme_perf against SPDK's spdk_nvme_perf over PCIe, same run, same
# device: one boot of the interop guest (tests/interop/vm: QEMU q35 with an
# emulated intel-iommu, TCG unless /dev/kvm is usable), QEMU's emulated NVMe
# controller at 0000:00:05.0 (one 256 MiB namespace of random data) bound to
# vfio-pci by our scripts/setup.sh (HUGEMEM=512), then inside the guest both
# programs alternately on that namespace: 4 KiB randread at queue depth 32
# and 1, one core (-c 0x1), SECONDS each (default 10), a 2 s warm-up of each
# per case, then ROUNDS rounds (default 3). Prints a JSON line for the set-up,
# one per round (IOPS, mean latency in µs, CPU per I/O of each) and one per
# case with the medians and the median ratios spio/SPDK.
#
# CPU per I/O: the program's user+sys time (the guest kernel's accounting, all
# its threads), sampled every 0.2 s, over the middle of its I/O phase (from
# SECONDS - 1 to 1 s before it exits), as a share of a core (cpu_share; the
# kernel's part of it: sys_share), divided by its IOPS. Start-up (EAL,
# hugepages, controller init) and teardown are left out. Both programs poll,
# so cpu_share is about 1 and this is about 1e6 / IOPS: it shows that each used
# one core and no more, not a driver's cost, which the emulation hides. A
# sys_share far from 0 means system calls in the polling loop (see the guest
# clock below). (SPDK prints nothing while it runs when stdout is not a
# terminal, hence sampling towards the exit rather than from a start line.)
#
# The guest's clock (PCIE_VS_SPDK_GUEST_CLOCK): "tsc" by default, the kernel
# booted with clocksource=tsc tsc=reliable as on real hardware; "hpet" leaves
# the TCG guest's own choice, under which clock_gettime is a system call and
# spio, unlike SPDK, calls it in its polling loop (see below).
#
# Under TCG the emulation (the guest's instructions translated, every doorbell
# write an MMIO exit into QEMU's NVMe model, each read a host pread) dominates:
# the figures are a same-run ratio, not a device's or a native driver's, and
# they follow the host's load (other processes share QEMU's cores): run it on a
# quiet machine and compare the ratios, not the IOPS.
#
# SPDK_DIR: an SPDK tree built by ../shared/tools/build-spdk.sh (its
# build/bin/spdk_nvme_perf and build/lib). Its code must run on QEMU's
# `-cpu max`: QEMU 7.2's TCG has AVX2 and BMI2 but no AVX-512. The
# -march=native build of that script on an AVX-512 host ran (gcc 12 emitted no
# AVX-512 in spdk_nvme_perf's code); if one dies with SIGILL in the guest, build
# a copy with CONFIG_ARCH=x86-64-v2 in mk/config.mk for it.
# spio_nvme_perf comes from build/release unless SPIO_BUILD is set (the set-up
# line's source_head is the source tree's HEAD: that build may be older).
# Without SPDK_DIR, QEMU or a guest kernel: a skip line, exit 0.
# PCIE_VS_SPDK_KEEP=1 keeps the guest's program outputs in
# BUILD/interop/pcie-vs-spdk/logs.
# PCIE_VS_SPDK_TRACE=1 also counts the MMIO doorbell writes per I/O of each
# program (QEMU's pci_nvme_mmio_doorbell_sq/cq trace events, logged to a file:
# this slows the device model, so its timings are not the untraced ones).
set -uo pipefail

SPDK_DIR=${1:-}
ROUNDS=${2:-3}
SECS=${3:-10}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SPIO_BUILD:-$SRC/build/release}
BDF=0000:00:05.0
NS_MIB=256
WARMUP=2

skip() {
	python3 -c 'import json,sys; print(json.dumps({"bench": "pcie_vs_spdk", "skipped": True, "reason": sys.argv[1]}))' "$1"
	exit 0
}
die() {
	echo "pcie_vs_spdk: $*" >&2
	exit 2
}

[ -n "$SPDK_DIR" ] || skip "no SPDK_DIR given (an SPDK tree built by ../shared/tools/build-spdk.sh)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
reason=$(bash "$SRC/tests/interop/vm/build-initramfs.sh" --check) || skip "$reason"
SPDK_PERF=$SPDK_DIR/build/bin/spdk_nvme_perf
SPIO_PERF=$BUILD/spio_nvme_perf
for f in "$SPDK_PERF" "$SPIO_PERF"; do
	[ -x "$f" ] || die "$f not found"
done
[ -x /bin/bash ] || skip "/bin/bash not found (scripts/setup.sh runs in the guest under bash)"

# shellcheck source-path=SCRIPTDIR source=../tests/interop/vm/vm.sh
source "$SRC/tests/interop/vm/vm.sh"
work=$BUILD/interop/pcie-vs-spdk
mkdir -p "$work" || die "cannot create $work"

# The namespace: random data, so that every read returns real pages (from the
# host's page cache after the first touch), the same for both programs.
img=$work/ns1.img
if [ "$(stat -c %s "$img" 2>/dev/null)" != $((NS_MIB << 20)) ]; then
	dd if=/dev/urandom of="$img" bs=1M count="$NS_MIB" status=none || die "cannot write $img"
fi

# ldd (in build-initramfs.sh) finds SPDK's libraries through LD_LIBRARY_PATH; they keep
# their host paths in the guest. SPDK's env initializes OpenSSL, which wants its config file.
SPDK_LIB=$(cd "$SPDK_DIR/build/lib" && pwd)
LD_LIBRARY_PATH=$SPDK_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} vm_build_image \
	--module nvme --copy-module vfio-pci --copy-module vfio_iommu_type1 \
	--add-bin /bin/bash:/bin/bash --add "$SRC/scripts/setup.sh:/usr/bin/setup.sh" \
	--add /usr/lib/ssl/openssl.cnf:/usr/lib/ssl/openssl.cnf \
	--add-bin "$SPIO_PERF:/usr/bin/spio_nvme_perf" --add-bin "$SPDK_PERF:/usr/bin/spdk_nvme_perf" \
	"$work/image" >/dev/null || die "cannot build the guest image"

qemu=(--qemu-arg -drive --qemu-arg "file=$img,if=none,id=n1,format=raw"
	--qemu-arg -device --qemu-arg "nvme,id=nvme0,serial=spio0,addr=0x5"
	--qemu-arg -device --qemu-arg "nvme-ns,drive=n1,bus=nvme0,nsid=1")
trace=
if [ "${PCIE_VS_SPDK_TRACE-}" = 1 ]; then
	trace=$work/qemu-trace.log
	rm -f "$trace"
	qemu+=(--qemu-arg -trace --qemu-arg "enable=pci_nvme_mmio_doorbell_sq"
		--qemu-arg -trace --qemu-arg "enable=pci_nvme_mmio_doorbell_cq" --qemu-arg -D --qemu-arg "$trace")
fi
# The guest's clock: QEMU's TCG CPU has no invariant TSC flags and its kernel marks the TSC
# unstable, so by default it keeps time with the emulated HPET: every clock_gettime is then a
# system call and an emulated MMIO read. spio_get_ticks uses rdtsc only where /proc/cpuinfo
# shows constant_tsc and nonstop_tsc, clock_gettime otherwise (SPDK always uses rdtsc), so
# on HPET spio pays that per poll and the comparison measures the guest's clock. "tsc" (the
# default) boots with clocksource=tsc tsc=reliable, as on real hardware: clock_gettime is
# the vDSO's rdtsc. PCIE_VS_SPDK_GUEST_CLOCK=hpet keeps the kernel's choice.
clock=${PCIE_VS_SPDK_GUEST_CLOCK:-tsc}
append=()
case $clock in
tsc) append=(--append "clocksource=tsc tsc=reliable") ;;
hpet) ;;
*) die "PCIE_VS_SPDK_GUEST_CLOCK=$clock: expected tsc or hpet" ;;
esac
started=$SECONDS
vm_start --iommu intel --mem 2048 --smp 2 "${append[@]}" "${qemu[@]}" || die "the guest did not boot"
boot_s=$((SECONDS - started))

vm_run "pci_nvme_disks $BDF 1 >/dev/null" || die "the kernel's nvme driver did not find $BDF"
out=$(vm_run 'HUGEMEM=512 setup.sh config 2>&1') || die "setup.sh config: $out"
grep -qx "$BDF: nvme -> vfio-pci" <<<"$out" || die "setup.sh config did not bind $BDF: $out"
# DPDK keeps its run-time files under /var/run.
vm_run 'mkdir -p /var/run' || die "mkdir /var/run in the guest"
guest_clock=$(vm_run 'cat /sys/devices/system/clocksource/clocksource0/current_clocksource')
guest_cpu=$(vm_run "sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1")
guest_avx2=$(vm_run 'grep -qw avx2 /proc/cpuinfo && echo true || echo false')
guest_avx512=$(vm_run 'grep -qw avx512f /proc/cpuinfo && echo true || echo false')
accel_kind=tcg
[ -r /dev/kvm ] && [ -w /dev/kvm ] && accel_kind=kvm
python3 - "$boot_s" "$accel_kind" "$guest_cpu" "$guest_avx2" "$guest_avx512" "$(nproc)" \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(qemu-system-x86_64 --version | head -n 1)" \
	"$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')" \
	"$(cat "$SPDK_DIR/VERSION" 2>/dev/null || echo '?')" "$(sed -n 's/^CONFIG_ARCH=//p' "$SPDK_DIR/CONFIG" 2>/dev/null)" \
	"$guest_clock" "$(cut -d' ' -f1-3 /proc/loadavg)" "$NS_MIB" <<'PY'
import json, sys
a = sys.argv[1:]
print(json.dumps({"bench": "pcie_vs_spdk", "setup": {
    "boot_s": int(a[0]), "accel": a[1], "guest_cpu": a[2], "guest_avx2": a[3] == "true",
    "guest_avx512": a[4] == "true", "host_cores": int(a[5]), "host_cpu": a[6], "qemu": a[7],
    "source_head": a[8], "spdk_version": a[9], "spdk_arch": a[10], "device": "QEMU NVMe 1b36:0010 at 0000:00:05.0",
    "namespace_mib": int(a[13]), "io": "4 KiB randread, one core (-c 0x1)", "guest_clocksource": a[11],
    "host_loadavg": a[12]}}))
PY

logs=$work/logs
rm -rf "$logs"
[ "${PCIE_VS_SPDK_KEEP-}" != 1 ] || mkdir -p "$logs" || die "cannot create $logs"

# The guest's answer (stdin) -> "IOPS MEAN_US CPU_US_PER_IO CPU_SHARE SYS_SHARE" (the share
# of a core spent, all of it and in the kernel); exit 1 when the program failed or printed
# no Total line. Both print spdk_nvme_perf's table: the Total row starts with IOPS, MiB/s,
# mean latency (µs). The CPU share comes from the samples of /proc/PID/stat between
# SECS - 1 s and 1 s before the exit: inside the I/O phase as long as the teardown (print,
# detach) takes under a second (SPDK's: about 0.15 s here); without 0.5 s of such samples
# (SECS under 2.5, as in the warm-up) the CPU fields are 0.
PARSE='
import re, sys
secs = float(sys.argv[1])
text = sys.stdin.read()
rc = re.search(r"^@@rc (\d+)", text, re.M)
end = re.search(r"^@@end ([\d.]+)", text, re.M)
tot = re.search(r"^Total\s+:\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text, re.M)
if not (rc and rc.group(1) == "0" and end and tot):
    sys.exit(1)
iops, mean = float(tot.group(1)), float(tot.group(3))
t_end = float(end.group(1))
lo, hi = t_end - secs + 1.0, t_end - 1.0
win = [(float(t), int(u), int(k)) for t, u, k in re.findall(r"^@@s ([\d.]+) (\d+) (\d+)", text, re.M)
       if lo <= float(t) <= hi]
share = sys_share = cpu_per_io = 0.0
if len(win) >= 2 and win[-1][0] - win[0][0] >= 0.5 and iops > 0:
    # /proc/PID/stat counts USER_HZ ticks: 100 on x86 Linux
    wall = win[-1][0] - win[0][0]
    sys_share = (win[-1][2] - win[0][2]) / 100.0 / wall
    share = (win[-1][1] - win[0][1]) / 100.0 / wall + sys_share
    cpu_per_io = share * 1e6 / iops
print("%.2f %.2f %.2f %.3f %.3f" % (iops, mean, cpu_per_io, share, sys_share))
'

# run_one WHICH QD SECS -> "IOPS MEAN_US CPU_US_PER_IO CPU_SHARE SYS_SHARE SQ_DB CQ_DB" (empty on
# failure, output on stderr); SQ_DB and CQ_DB are MMIO doorbell writes per I/O on the I/O
# queues (from QEMU's trace, -1 without PCIE_VS_SPDK_TRACE=1; I/Os counted as IOPS x SECS). In the guest the program runs in the background (exec: $! is its pid) while the
# script samples its user+sys ticks (all threads) and /proc/uptime every 0.2 s.
run_one() {
	local which=$1 qd=$2 secs=$3 cmd out res tsize=0 sq cq iops
	[ -z "$trace" ] || tsize=$(stat -c %s "$trace" 2>/dev/null || echo 0)
	case $which in
	spio) cmd="exec spio_nvme_perf -r 'trtype:PCIe traddr:$BDF' -q $qd -o 4096 -w randread -t $secs -c 0x1" ;;
	spdk) cmd="exec env LD_LIBRARY_PATH=$SPDK_LIB spdk_nvme_perf -r 'trtype:PCIe traddr:$BDF' -q $qd -o 4096 -w randread -t $secs -c 0x1" ;;
	esac
	# shellcheck disable=SC2016 # expanded in the guest
	out=$(vm_run --timeout $((secs + 180)) "CMD=\"$cmd\"" '
eval "$CMD" >/tmp/b.out 2>&1 &
p=$!
while read -r s 2>/dev/null <"/proc/$p/stat"; do
	read -r up _ </proc/uptime
	s=${s##*) }
	case $s in Z*) break ;; esac
	set -- $s
	echo "@@s $up ${12} ${13}"
	sleep 0.2
done
wait "$p"
echo "@@rc $?"
read -r up _ </proc/uptime
echo "@@end $up"
tr "\r" "\n" </tmp/b.out
' 2>&1)
	[ ! -d "$logs" ] || printf '%s\n' "$out" >>"$logs/$which-qd$qd.log"
	res=$(printf '%s' "$out" | python3 -c "$PARSE" "$secs") || {
		printf '%s\n' "$out" | tail -n 30 >&2
		return 1
	}
	if [ -n "$trace" ]; then
		read -r sq cq < <(tail -c +$((tsize + 1)) "$trace" |
			awk '/pci_nvme_mmio_doorbell_sq sqid [1-9]/ { s++ } /pci_nvme_mmio_doorbell_cq cqid [1-9]/ { c++ }
				END { print s + 0, c + 0 }')
		read -r iops _ <<<"$res"
		res+=$(python3 -c 'import sys; n = float(sys.argv[1]) * float(sys.argv[2]); print(" %.3f %.3f" % (int(sys.argv[3]) / n, int(sys.argv[4]) / n) if n > 0 else " -1 -1")' \
			"$iops" "$secs" "$sq" "$cq")
	else
		res+=" -1 -1"
	fi
	echo "$res"
}

# name queue-depth
CASES="4k_randread_qd32 32
4k_randread_qd1 1"

rc=0
while read -r name qd; do
	run_one spio "$qd" "$WARMUP" >/dev/null || die "$name: spio_nvme_perf failed (warm-up)"
	run_one spdk "$qd" "$WARMUP" >/dev/null || die "$name: spdk_nvme_perf failed (warm-up)"
	rows=()
	for r in $(seq 1 "$ROUNDS"); do
		a=$(run_one spio "$qd" "$SECS") || rc=1
		b=$(run_one spdk "$qd" "$SECS") || rc=1
		[ -n "$a" ] || a="0 0 0 0 0 -1 -1"
		[ -n "$b" ] || b="0 0 0 0 0 -1 -1"
		rows+=("$a $b")
		python3 - "$name" "$r" "$SECS" "$a $b" <<'PY'
import json, sys
v = [float(x) for x in sys.argv[4].split()]
row = {"bench": "pcie_vs_spdk", "case": sys.argv[1], "round": int(sys.argv[2]), "secs": float(sys.argv[3])}
for k, i in (("iops", 0), ("lat_us", 1), ("cpu_us_per_io", 2), ("cpu_share", 3), ("sys_share", 4),
             ("sq_doorbells_per_io", 5), ("cq_doorbells_per_io", 6)):
    if v[i] >= 0:
        row["spio_" + k], row["spdk_" + k] = v[i], v[i + 7]
print(json.dumps(row))
PY
	done
	python3 - "$name" "$SECS" "${rows[@]}" <<'PY'
import json, statistics, sys
name, secs, rows = sys.argv[1], float(sys.argv[2]), [[float(x) for x in r.split()] for r in sys.argv[3:]]
med = lambda xs: round(statistics.median(xs), 3) if xs else None
ratio = lambda i: med([r[i] / r[i + 7] for r in rows if r[i + 7] > 0])
out = {"bench": "pcie_vs_spdk", "case": name, "rounds": len(rows), "secs": secs}
for k, i in (("iops", 0), ("lat_us", 1), ("cpu_us_per_io", 2), ("sys_share", 4)):
    out["spio_" + k], out["spdk_" + k] = med([r[i] for r in rows]), med([r[i + 7] for r in rows])
for k, i in (("sq_doorbells_per_io", 5), ("cq_doorbells_per_io", 6)):
    if all(r[i] >= 0 for r in rows):
        out["spio_" + k], out["spdk_" + k] = med([r[i] for r in rows]), med([r[i + 7] for r in rows])
out.update({"ratio_iops_median": ratio(0), "ratio_lat_median": ratio(1), "ratio_cpu_per_io_median": ratio(2),
            "host_loadavg": open("/proc/loadavg").read().split()[0:3]})
print(json.dumps(out))
PY
done <<<"$CASES"

out=$(vm_run 'setup.sh reset 2>&1') || echo "pcie_vs_spdk: setup.sh reset: $out" >&2
vm_check_dmesg || rc=1
vm_stop || rc=1
exit "$rc"
