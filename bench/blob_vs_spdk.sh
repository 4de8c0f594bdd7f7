#!/usr/bin/env bash
# bench/blob_vs_spdk.sh SPDK_BUILD_DIR [ROUNDS] [SECONDS]
#
# The blobstore under load, spio against SPDK: SPDK's bdevperf and our
# spio_perf run the same 4 KiB random workloads at queue depth 32 on one
# core, on a malloc bdev and on lvols (a blobstore, 1 MiB clusters) over
# such a bdev, created by the same JSON configuration in both programs:
#   malloc_*      the 1 GiB malloc bdev itself (no lvstore on it)
#   lvol_thick_*  a thick 448 MiB lvol
#   lvol_thin_randwrite  a thin 448 MiB lvol, new at each run: the writes
#                 allocate every cluster they touch first
#   lvol_thin_randread_unalloc  the same, never written: reads of clusters
#                 the lvol does not hold (zeroes, no device I/O)
# Every run starts a fresh process with a fresh store. For each case a 1 s
# warm-up of each program, then ROUNDS rounds (default 3) of SECONDS each
# (default 5); the two programs take turns, who goes first alternating per
# round. Prints one JSON line per round, one per case with the median IOPS
# of each and their ratio spio/SPDK (> 1: spio faster), then a table.
#
# SPDK_BUILD_DIR is an SPDK tree built by ../shared/tools/build-spdk.sh (its
# build/examples/bdevperf and build/lib, e.g. /work/spdk-build); without it:
# a skip line, exit 0. spio_perf comes from build/release unless SPIO_BUILD
# is set. Our lvol cases need the lvol module (bdev_lvol_create_lvstore in
# libspio): without it they are reported as skipped and only SPDK runs them.
# Both programs use 2 MiB hugepages: the script raises vm.nr_hugepages to
# 1024 if fewer are free (as root), else stops. BENCH_CORE (default 0) is the
# core both run on (taskset and their core mask). Run it on a quiet machine.
# Exit 0; 1 if a run failed; 2 for bad usage or a missing program.
set -uo pipefail

SPDK_DIR=${1:-}
ROUNDS=${2:-3}
SECS=${3:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SPIO_BUILD:-$SRC/build/release}
CORE=${BENCH_CORE:-0}
HUGE_NEED=640 # 1 GiB malloc bdev, buffers and the programs' own heaps, in 2 MiB pages

if [ -z "$SPDK_DIR" ]; then
	echo '{"bench":"blob_vs_spdk","skipped":true,"reason":"no SPDK_BUILD_DIR given (an SPDK tree built by ../shared/tools/build-spdk.sh)"}'
	exit 0
fi
for v in "$ROUNDS" "$SECS" "$CORE"; do
	case $v in
	'' | *[!0-9]*)
		echo "blob_vs_spdk: ROUNDS, SECONDS and BENCH_CORE must be numbers" >&2
		exit 2
		;;
	esac
done
if [ "$ROUNDS" -lt 1 ] || [ "$SECS" -lt 1 ] || [ "$CORE" -gt 62 ]; then
	echo "blob_vs_spdk: ROUNDS and SECONDS must be >= 1, BENCH_CORE <= 62" >&2
	exit 2
fi
BDEVPERF=$SPDK_DIR/build/examples/bdevperf
for f in "$BDEVPERF" "$BUILD/spio_perf"; do
	[ -x "$f" ] || {
		echo "blob_vs_spdk: $f not found" >&2
		exit 2
	}
done
MASK=$(printf '0x%x' $((1 << CORE)))

huge_free() {
	cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0
}
if [ "$(huge_free)" -lt "$HUGE_NEED" ]; then
	echo 1024 >/proc/sys/vm/nr_hugepages 2>/dev/null
	if [ "$(huge_free)" -lt "$HUGE_NEED" ]; then
		echo "blob_vs_spdk: $(huge_free) free 2 MiB hugepages, $HUGE_NEED needed" \
			"(echo 1024 > /proc/sys/vm/nr_hugepages as root)" >&2
		exit 2
	fi
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The plain bdev, and the same with an lvstore and two lvols on it (the
# lvstore claims Malloc0, so the malloc cases use the plain configuration).
MALLOC='{"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 262144, "block_size": 4096}}'
cat >"$TMP/malloc.json" <<JSON
{"subsystems": [{"subsystem": "bdev", "config": [
  $MALLOC,
  {"method": "bdev_wait_for_examine"}]}]}
JSON
cat >"$TMP/lvol.json" <<JSON
{"subsystems": [{"subsystem": "bdev", "config": [
  $MALLOC,
  {"method": "bdev_wait_for_examine"},
  {"method": "bdev_lvol_create_lvstore",
   "params": {"bdev_name": "Malloc0", "lvs_name": "lvs0", "cluster_sz": 1048576}},
  {"method": "bdev_lvol_create",
   "params": {"lvs_name": "lvs0", "lvol_name": "thick", "size_in_mib": 448}},
  {"method": "bdev_lvol_create",
   "params": {"lvs_name": "lvs0", "lvol_name": "thin", "size_in_mib": 448,
              "thin_provision": true}}]}]}
JSON

# Does our build know the lvol RPCs? Look in the libspio spio_perf loads.
spio_lvol_reason=""
libspio=$(ldd "$BUILD/spio_perf" 2>/dev/null | awk '/libspio/ { print $3; exit }')
if [ -z "$libspio" ] || ! grep -qa 'bdev_lvol_create_lvstore' "$libspio"; then
	spio_lvol_reason="spio has no bdev_lvol_create_lvstore yet (module/bdev/lvol)"
fi

run_spio() { # config bdev workload secs -> IOPS
	taskset -c "$CORE" "$BUILD/spio_perf" -c "$TMP/$1.json" -b "$2" -m "$MASK" -q 32 -o 4096 \
		-w "$3" -t "$4" --json 2>"$TMP/spio.err" >"$TMP/spio.out"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["iops"])' \
		"$TMP/spio.out" 2>/dev/null
}

run_spdk() { # config bdev workload secs -> IOPS
	LD_LIBRARY_PATH=$SPDK_DIR/build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		taskset -c "$CORE" "$BDEVPERF" --json "$TMP/$1.json" -T "$2" -m "$MASK" -q 32 -o 4096 \
		-w "$3" -t "$4" >"$TMP/spdk.out" 2>&1
	# bdevperf redraws its table with carriage returns: the result line is "\r Total : IOPS ..."
	tr '\r' '\n' <"$TMP/spdk.out" |
		awk '$1 == "Total" && $2 == ":" { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit } }'
}

# name config bdev workload
CASES="malloc_4k_randread_qd32 malloc Malloc0 randread
malloc_4k_randwrite_qd32 malloc Malloc0 randwrite
lvol_thick_4k_randread_qd32 lvol lvs0/thick randread
lvol_thick_4k_randwrite_qd32 lvol lvs0/thick randwrite
lvol_thin_4k_randwrite_qd32 lvol lvs0/thin randwrite
lvol_thin_4k_randread_unalloc_qd32 lvol lvs0/thin randread"

failed=0
: >"$TMP/summary.jsonl"
while read -r name cfg bdev wl; do
	skip=""
	[ "$cfg" = lvol ] && skip=$spio_lvol_reason
	[ -z "$skip" ] && run_spio "$cfg" "$bdev" "$wl" 1 >/dev/null
	run_spdk "$cfg" "$bdev" "$wl" 1 >/dev/null
	spio=() spdk=()
	for r in $(seq 1 "$ROUNDS"); do
		a=null b=
		for who in $([ $((r % 2)) -eq 1 ] && echo "spio spdk" || echo "spdk spio"); do
			if [ "$who" = spio ]; then
				[ -n "$skip" ] && continue
				a=$(run_spio "$cfg" "$bdev" "$wl" "$SECS")
				if [ -z "$a" ]; then
					echo "blob_vs_spdk: spio_perf failed on $name:" >&2
					tail -5 "$TMP/spio.err" >&2
					a=0 failed=1
				fi
				spio+=("$a")
			else
				b=$(run_spdk "$cfg" "$bdev" "$wl" "$SECS")
				if [ -z "$b" ]; then
					echo "blob_vs_spdk: bdevperf failed on $name:" >&2
					tail -5 "$TMP/spdk.out" >&2
					b=0 failed=1
				fi
				spdk+=("$b")
			fi
		done
		printf '{"bench":"blob_vs_spdk","case":"%s","round":%d,"spio_iops":%s,"spdk_iops":%s}\n' \
			"$name" "$r" "$a" "$b"
	done
	python3 - "$name" "$ROUNDS" "$SECS" "${spio[*]:-}" "${spdk[*]}" "$skip" <<'PY' | tee -a "$TMP/summary.jsonl"
import json, statistics, sys
name, rounds, secs, a, b, skip = sys.argv[1:7]
a = [float(x) for x in a.split()]
b = [float(x) for x in b.split()]
out = {"bench": "blob_vs_spdk", "case": name, "rounds": int(rounds), "secs": int(secs),
       "qd": 32, "io_size": 4096, "cores": 1,
       "spio_iops": a or None, "spdk_iops": b,
       "spio_median_iops": round(statistics.median(a)) if a else None,
       "spdk_median_iops": round(statistics.median(b)) if b else None}
if a and b and statistics.median(b) > 0:
    out["ratio"] = round(statistics.median(a) / statistics.median(b), 3)
else:
    out["ratio"] = None
if skip:
    out["spio_skipped"] = True
    out["reason"] = skip
print(json.dumps(out, separators=(",", ":")))
PY
done <<<"$CASES"

python3 - "$TMP/summary.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fmt = "{:<36} {:>14} {:>14} {:>8}"
print(fmt.format("case", "spio IOPS", "SPDK IOPS", "ratio"))
for r in rows:
    s = "skipped" if r.get("spio_skipped") else str(r["spio_median_iops"])
    ratio = "-" if r["ratio"] is None else "%.3f" % r["ratio"]
    print(fmt.format(r["case"], s, str(r["spdk_median_iops"]), ratio))
PY
exit "$failed"
