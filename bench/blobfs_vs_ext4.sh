#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and the mount helpers are called through a trap and variables
# BlobFS against ext4 on the same file, in the same run.
#
# Usage: bench/blobfs_vs_ext4.sh BUILD_DIR [SIZE]
#
# SIZE (default 1G; k/M/G suffixes, a whole number of MiB) is the size of
# the test file written and read. The image under it, in $TMPDIR (default
# /tmp), is SIZE + SIZE/8 + 64 MiB, room for either file system's metadata.
# Both sides reach the image with O_DIRECT (the uring bdev's default; the
# loop device with --direct-io=on), so neither gets the host page cache of
# the image for free.
#
#  (a) blobfs_fuse: a uring bdev over the image, spio_mkfs, spio_fuse
#      mounted; fio on a file in the mount with --direct=0 (FUSE serves the
#      kernel's page cache; O_DIRECT is not what a FUSE user gets).
#  (b) ext4: the image as a loop device, mkfs.ext4 -F, mounted; the same
#      fio jobs twice: ext4_buffered (--direct=0, the fair comparison with
#      (a): both through the kernel's page cache) and ext4_direct
#      (--direct=1, what the device gives through ext4).
#  (c) bench_blobfs on the same image: the BlobFS API against the raw uring
#      bdev (its own JSON lines, "bench":"blobfs").
#
# fio cases (ioengine io_uring, iodepth 32, one job): seq_write (128 KiB,
# whole file, fsync at the end; mib_s counts the fsync: wall-clock time of
# the run), seq_read (128 KiB, whole file), randread_4k and randread_128k
# (time-based). Before every read case the file system is unmounted and
# mounted again and the kernel's caches dropped, so every read starts cold.
# One JSON line per fio run, then one "summary" line per case with the
# MiB/s of every side and the ratio blobfs_fuse / ext4_buffered.
#
# Environment: SPIO_BLOBFS_BENCH_SECONDS (per random case, default 10).
# Needs root, fio, losetup, mkfs.ext4, /dev/fuse, fusermount3 and a build
# with spio_fuse, spio_mkfs and bench_blobfs: without one it prints a
# "skipped" line and exits 77. Exit 0, 1 if a run failed, 2 for bad usage.
# Mounts, the loop device and the image are removed on exit (trap).
set -u

say() { echo "blobfs_vs_ext4: $*" >&2; }

skip() {
	printf '{"bench":"blobfs_vs_ext4","skipped":true,"reason":"%s"}\n' "$1"
	say "SKIP: $1"
	exit 77
}

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR [SIZE]  (SIZE default 1G)" >&2
	exit 2
fi
build_dir=$(cd "$1" && pwd)
size=$(numfmt --from=iec "${2:-1G}" 2>/dev/null) || size=
mib=$((1024 * 1024))
if [ -z "$size" ] || [ "$size" -le 0 ] || [ $((size % mib)) -ne 0 ]; then
	echo "$0: SIZE ${2:-}: expected a whole number of MiB (64M, 1G)" >&2
	exit 2
fi
seconds=${SPIO_BLOBFS_BENCH_SECONDS:-10}

[ "$(id -u)" -eq 0 ] || skip "needs root (losetup, mount, drop_caches)"
for tool in fio losetup mkfs.ext4 fusermount3 mountpoint python3 numfmt; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
done
[ -c /dev/fuse ] || skip "no /dev/fuse"
for prog in spio_fuse spio_mkfs bench_blobfs; do
	[ -x "$build_dir/$prog" ] || skip "$build_dir/$prog not built"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/blobfs_vs_ext4.XXXXXX")
img=$tmp/image
mnt=$tmp/mnt
results=$tmp/results.jsonl
fuse_pid=
loop=
ext4_mounted=0
failed=0

cleanup() {
	if [ -n "$fuse_pid" ]; then
		fusermount3 -u "$mnt" 2>/dev/null || kill "$fuse_pid" 2>/dev/null
		for _ in $(seq 300); do
			kill -0 "$fuse_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$fuse_pid" 2>/dev/null
		wait "$fuse_pid" 2>/dev/null
		mountpoint -q "$mnt" && umount -l "$mnt" 2>/dev/null
	fi
	if [ "$ext4_mounted" -eq 1 ]; then
		umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	fi
	if [ -n "$loop" ]; then
		losetup -d "$loop" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$mnt"
truncate -s $((size + size / 8 + 64 * mib)) "$img" || {
	say "cannot create $img"
	exit 1
}
conf=$tmp/conf.json
printf '{"subsystems": [{"subsystem": "bdev", "config": [{"method": "bdev_uring_create", "params": {"name": "Uring0", "filename": "%s", "block_size": 4096}}]}]}\n' \
	"$img" >"$conf"

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

# FUSE mount of Uring0 on $mnt; waits up to 30 s for the mount.
fuse_mount() {
	"$build_dir/spio_fuse" "$conf" Uring0 "$mnt" >"$tmp/fuse.out" 2>"$tmp/fuse.err" &
	fuse_pid=$!
	for _ in $(seq 300); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$fuse_pid" 2>/dev/null || break
		sleep 0.1
	done
	say "spio_fuse did not mount: $(tail -n 3 "$tmp/fuse.err")"
	return 1
}

# Unmount and wait (up to 120 s) for spio_fuse to exit 0 (it syncs every file first).
fuse_umount() {
	local rc
	fusermount3 -u "$mnt" || return 1
	for _ in $(seq 1200); do
		kill -0 "$fuse_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$fuse_pid" 2>/dev/null; then
		say "spio_fuse did not exit after the unmount; killing it"
		kill -9 "$fuse_pid"
	fi
	wait "$fuse_pid"
	rc=$?
	fuse_pid=
	if [ "$rc" -ne 0 ]; then
		say "spio_fuse exited $rc: $(tail -n 3 "$tmp/fuse.err")"
		return 1
	fi
}

ext4_mount() {
	mount "$loop" "$mnt" && ext4_mounted=1
}

ext4_umount() {
	umount "$mnt" && ext4_mounted=0
}

# run_fio SIDE CASE DIRECT: one fio run on $mnt/fio.dat; appends its JSON line.
run_fio() {
	local side=$1 name=$2 direct=$3 rw bs extra=() t0 t1
	case $name in
	seq_write) rw=write bs=128k extra=(--end_fsync=1) ;;
	seq_read) rw=read bs=128k ;;
	randread_4k) rw=randread bs=4k extra=(--time_based --runtime="$seconds" --norandommap) ;;
	randread_128k) rw=randread bs=128k extra=(--time_based --runtime="$seconds" --norandommap) ;;
	esac
	t0=$(date +%s.%N)
	if ! fio --name="$name" --filename="$mnt/fio.dat" --rw="$rw" --bs="$bs" --size="$size" \
		--ioengine=io_uring --iodepth=32 --direct="$direct" --fallocate=none \
		--randrepeat=1 "${extra[@]}" --output-format=json >"$tmp/fio.json" 2>"$tmp/fio.err"; then
		say "fio $side $name failed: $(tail -n 3 "$tmp/fio.err")"
		return 1
	fi
	t1=$(date +%s.%N)
	python3 - "$tmp/fio.json" "$side" "$name" "$direct" "$bs" "$size" "$t0" "$t1" <<'EOF' | tee -a "$results"
import json, sys
path, side, name, direct, bs, size, t0, t1 = sys.argv[1:]
job = json.load(open(path))["jobs"][0]
d = job["write" if name == "seq_write" else "read"]
line = {"bench": "blobfs_vs_ext4", "fs": side, "case": name, "direct": int(direct),
        "io_size": int(bs[:-1]) * 1024, "iodepth": 32, "ioengine": "io_uring",
        "file_size": int(size), "iops": round(d["iops"]),
        "mib_s": round(d["bw_bytes"] / 1048576, 1)}
if name == "seq_write":
    # with the final fsync: what the write costs until it is durable
    line["fio_mib_s"] = line["mib_s"]
    line["mib_s"] = round(int(size) / 1048576 / (float(t1) - float(t0)), 1)
print(json.dumps(line))
EOF
}

# run_side SIDE DIRECT MOUNT UMOUNT: the four cases, remounting cold before each read.
run_side() {
	local side=$1 direct=$2 mount_fn=$3 umount_fn=$4 c
	$mount_fn || return 1
	rm -f "$mnt/fio.dat"
	run_fio "$side" seq_write "$direct" || {
		$umount_fn
		return 1
	}
	for c in seq_read randread_4k randread_128k; do
		$umount_fn || return 1
		drop_caches
		$mount_fn || return 1
		run_fio "$side" "$c" "$direct" || {
			$umount_fn
			return 1
		}
	done
	rm -f "$mnt/fio.dat"
	$umount_fn
}

# (a) BlobFS through FUSE
say "(a) spio_mkfs + spio_fuse on a $((size / mib)) MiB file"
if "$build_dir/spio_mkfs" "$conf" Uring0 >"$tmp/mkfs.out" 2>&1; then
	run_side blobfs_fuse 0 fuse_mount fuse_umount || failed=1
else
	say "spio_mkfs failed: $(tail -n 3 "$tmp/mkfs.out")"
	failed=1
fi

# (b) ext4 on a loop device over the same image
say "(b) ext4 on a loop device"
if loop=$(losetup -f --show --direct-io=on "$img") && mkfs.ext4 -F -q "$loop"; then
	run_side ext4_buffered 0 ext4_mount ext4_umount || failed=1
	run_side ext4_direct 1 ext4_mount ext4_umount || failed=1
else
	say "cannot set up ext4 on a loop device over $img"
	failed=1
fi
if [ -n "$loop" ]; then
	losetup -d "$loop" && loop=
fi

# (c) the API against the raw bdev, same image (the ext4 on it is overwritten)
say "(c) bench_blobfs"
drop_caches
if ! "$build_dir/bench_blobfs" -c "$conf" -b Uring0 -s "$size" -t "$seconds" --mkfs \
	>"$tmp/bench.out" 2>"$tmp/bench.err"; then
	say "bench_blobfs failed: $(tail -n 3 "$tmp/bench.err")"
	failed=1
fi
tee -a "$results" <"$tmp/bench.out"

python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for case in ("seq_write", "seq_read", "randread_4k", "randread_128k"):
    s = {"bench": "blobfs_vs_ext4", "summary": True, "case": case}
    for r in rows:
        if r.get("case") != case:
            continue
        if r["bench"] == "blobfs":
            s["api_mib_s"] = r["blobfs_mib_s"]
            s["raw_mib_s"] = r["raw_mib_s"]
        else:
            s[r["fs"] + "_mib_s"] = r["mib_s"]
    if s.get("ext4_buffered_mib_s") and "blobfs_fuse_mib_s" in s:
        s["fuse_vs_ext4_buffered"] = round(s["blobfs_fuse_mib_s"] / s["ext4_buffered_mib_s"], 3)
    print(json.dumps(s))
EOF
exit "$failed"
