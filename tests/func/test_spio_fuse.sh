#!/usr/bin/env bash
# spio_mkfs and spio_fuse end to end over an aio bdev on a 256 MiB temp file:
# mkfs, mount, cp ~30 files of random sizes in, ls, cat, mv, rm, dd at an
# offset (conv=notrunc), truncate down and up, `sync FILE`, df, mkdir (EPERM);
# fusermount3 -u (exit 0), mount again and compare every file's sha256 with
# the expected copies; threads writing one file through their own fds while
# others list and read; a bounded fsx-style run (tests/func/fsx_blobfs.py,
# seeded, the seed printed), SIGTERM (exit 0), mount again and compare with
# fsx's model; then SPDK's own BlobFS image (tests/data/spdk), whose files
# must read back as SPDK's manifest says. Also: a bdev without a BlobFS, a missing bdev, a busy mount
# point fail with a message. The mount is always undone on exit.
#
# Usage: test_spio_fuse.sh BUILD_DIR SOURCE_DIR
# Skips (exit 77) without /dev/fuse, fusermount3, python3 or the permission
# to mount. SPIO_FSX_SEED picks the fsx seed.
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
NAME=test_spio_fuse
FUSE=$BUILD/spio_fuse
MKFS=$BUILD/spio_mkfs
FSX=$SRC/tests/func/fsx_blobfs.py
MiB=$((1024 * 1024))

skip() {
	echo "$NAME: SKIP: $*"
	exit 77
}

[ -e /dev/fuse ] || skip "no /dev/fuse"
command -v fusermount3 >/dev/null || skip "fusermount3 not installed (Debian package fuse3)"
command -v python3 >/dev/null || skip "python3 not found"
[ -x "$FUSE" ] || skip "spio_fuse not built (libfuse3 missing at configure time)"
[ -x "$MKFS" ] || { echo "FAIL: $MKFS not built" >&2; exit 1; }

# On disk, not tmpfs: the aio bdev may open its file with O_DIRECT.
TMP=$(mktemp -d /var/tmp/spio-fuse-test.XXXXXX)
MNT=$TMP/mnt
FUSE_PID=

cleanup() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
	if [ -n "$FUSE_PID" ] && kill -0 "$FUSE_PID" 2>/dev/null; then
		kill -KILL "$FUSE_PID" 2>/dev/null
		wait "$FUSE_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$TMP"/fuse*.err "$TMP/out" "$TMP/err"; do
		[ -s "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" | tail -n 30 >&2
	done
	exit 1
}

no_sanitizer_report() { # FILE WHAT
	if grep -q -e "AddressSanitizer" -e "runtime error:" -e "LeakSanitizer" \
		-e "ThreadSanitizer" "$1"; then
		fail "$2: sanitizer report"
	fi
}

mkdir -p "$MNT" "$TMP/src" "$TMP/expect"
cat >"$TMP/conf.json" <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_aio_create",
   "params": {"name": "aio0", "filename": "$TMP/disk.img", "block_size": 4096}},
  {"method": "bdev_malloc_create",
   "params": {"name": "Malloc0", "num_blocks": 4096, "block_size": 4096}}
]}]}
EOF
CONF=$TMP/conf.json
truncate -s $((256 * MiB)) "$TMP/disk.img"

# --- spio_mkfs ---
timeout 120 "$MKFS" "$CONF" aio0 --no-huge >"$TMP/out" 2>"$TMP/err" || fail "spio_mkfs: exit $?"
no_sanitizer_report "$TMP/err" spio_mkfs
grep -Eq "^spio_mkfs: aio0: BlobFS with [0-9]+ clusters of 1048576 bytes$" "$TMP/out" ||
	fail "spio_mkfs: unexpected output"
timeout 120 "$MKFS" "$CONF" nosuch --no-huge >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "spio_mkfs on a missing bdev: expected exit 1"
grep -q "nosuch: no such bdev" "$TMP/err" || fail "spio_mkfs nosuch: no message"
timeout 120 "$MKFS" "$CONF" aio0 -C 3000 --no-huge >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "spio_mkfs -C 3000: expected exit 1"
grep -q "cannot make the filesystem" "$TMP/err" || fail "spio_mkfs -C 3000: no message"
# That failed before writing anything: make it again to be sure.
timeout 120 "$MKFS" "$CONF" aio0 --no-huge >"$TMP/out" 2>"$TMP/err" || fail "spio_mkfs again"

# --- spio_fuse ---
N_MOUNT=0
# mount_fs: start spio_fuse in the background, wait until it is mounted.
mount_fs() {
	N_MOUNT=$((N_MOUNT + 1))
	local err=$TMP/fuse$N_MOUNT.err
	"$FUSE" "$CONF" aio0 "$MNT" --no-huge >"$TMP/fuse$N_MOUNT.out" 2>"$err" &
	FUSE_PID=$!
	for _ in $(seq 1 600); do
		if grep -q "^spio_fuse: mounted aio0 on $MNT$" "$TMP/fuse$N_MOUNT.out" 2>/dev/null &&
			mountpoint -q "$MNT"; then
			return 0
		fi
		if ! kill -0 "$FUSE_PID" 2>/dev/null; then
			wait "$FUSE_PID"
			local rc=$?
			FUSE_PID=
			if [ "$N_MOUNT" -eq 1 ] && grep -q "cannot mount" "$err"; then
				skip "mounting is not permitted here: $(head -n 1 "$err")"
			fi
			fail "spio_fuse exited ($rc) before mounting"
		fi
		sleep 0.1
	done
	fail "spio_fuse did not mount within 60 s"
}

# wait_exit: spio_fuse must exit 0 by itself, clean, and the mount be gone.
wait_exit() { # WHAT
	local rc
	for _ in $(seq 1 600); do
		kill -0 "$FUSE_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$FUSE_PID" 2>/dev/null && fail "$1: spio_fuse still running after 60 s"
	wait "$FUSE_PID"
	rc=$?
	FUSE_PID=
	[ "$rc" -eq 0 ] || fail "$1: spio_fuse exit $rc, expected 0"
	no_sanitizer_report "$TMP/fuse$N_MOUNT.err" "$1"
	grep -q "^spio_fuse: unmounted aio0 from $MNT$" "$TMP/fuse$N_MOUNT.out" ||
		fail "$1: no 'unmounted' line"
	mountpoint -q "$MNT" && fail "$1: still mounted"
	return 0
}

# compare_dir DIR WHAT: the mount holds exactly DIR's files, same sha256.
compare_dir() {
	(cd "$1" && ls | sort) >"$TMP/want.ls"
	ls "$MNT" | sort >"$TMP/got.ls"
	cmp -s "$TMP/want.ls" "$TMP/got.ls" || {
		diff "$TMP/want.ls" "$TMP/got.ls" >&2
		fail "$2: file list differs"
	}
	[ -s "$TMP/want.ls" ] || return 0
	(cd "$1" && sha256sum -- *) >"$TMP/want.sum"
	(cd "$MNT" && sha256sum -c --quiet "$TMP/want.sum") >"$TMP/out" 2>&1 ||
		fail "$2: contents differ"
}

python3 "$FSX" mkfiles "$TMP/src" 30 1234 || fail "mkfiles"

# A busy mount point and a bdev without a BlobFS fail with a message.
timeout 60 "$FUSE" "$CONF" Malloc0 "$MNT" --no-huge >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "spio_fuse on Malloc0 (no BlobFS): expected exit 1"
grep -q "not a BlobFS\|cannot load" "$TMP/err" || fail "spio_fuse Malloc0: no message"
timeout 60 "$FUSE" "$CONF" nosuch "$MNT" --no-huge >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "spio_fuse on a missing bdev: expected exit 1"
grep -q "no such bdev" "$TMP/err" || fail "spio_fuse nosuch: no message"

mount_fs
timeout 60 "$FUSE" "$CONF" aio0 "$MNT" --no-huge >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "second spio_fuse on the same mount point: expected exit 1"
grep -q "busy\|claimed" "$TMP/err" || fail "second spio_fuse: no message"

[ -z "$(ls -A "$MNT")" ] || fail "a new filesystem is not empty"
cp "$TMP/src"/* "$MNT"/ || fail "cp into the mount"
cp "$TMP/src"/* "$TMP/expect"/
compare_dir "$TMP/expect" "after cp"
[ "$(ls "$MNT" | wc -l)" -eq 30 ] || fail "ls: expected 30 files"
cat "$MNT/file03.bin" | cmp -s - "$TMP/src/file03.bin" || fail "cat file03.bin"
[ "$(stat -c %s "$MNT/file05.bin")" -eq "$(stat -c %s "$TMP/src/file05.bin")" ] ||
	fail "stat size of file05.bin"

mv "$MNT/file01.bin" "$MNT/renamed.bin" || fail "mv"
mv "$TMP/expect/file01.bin" "$TMP/expect/renamed.bin"
mv "$MNT/file06.bin" "$MNT/file07.bin" || fail "mv over an existing file"
mv "$TMP/expect/file06.bin" "$TMP/expect/file07.bin"
rm "$MNT/file02.bin" || fail "rm"
rm "$TMP/expect/file02.bin"
head -c 100000 /dev/urandom >"$TMP/patch"
for f in file04.bin file08.bin; do
	dd if="$TMP/patch" of="$MNT/$f" bs=1000 seek=777 conv=notrunc status=none || fail "dd $f"
	dd if="$TMP/patch" of="$TMP/expect/$f" bs=1000 seek=777 conv=notrunc status=none
done
truncate -s 12345 "$MNT/file09.bin" || fail "truncate down"
truncate -s 12345 "$TMP/expect/file09.bin"
truncate -s 2500001 "$MNT/file10.bin" || fail "truncate up"
truncate -s 2500001 "$TMP/expect/file10.bin"
sync "$MNT/file08.bin" || fail "sync FILE (fsync)"
echo "appended" >>"$MNT/file11.bin" || fail "append"
echo "appended" >>"$TMP/expect/file11.bin"
printf 'short' >"$MNT/file13.bin" || fail "overwrite (O_TRUNC)"
printf 'short' >"$TMP/expect/file13.bin"
touch "$MNT/empty.bin" || fail "touch a new file"
touch "$TMP/expect/empty.bin"
touch "$MNT/file12.bin" || fail "touch an existing file"
chmod 600 "$MNT/file12.bin" || fail "chmod (accepted, no effect)"
compare_dir "$TMP/expect" "after mv, rm, dd, truncate"

df -B1 "$MNT" >"$TMP/out" 2>&1 || fail "df"
grep -q "$MNT" "$TMP/out" || fail "df does not list the mount"
size=$(stat -f -c '%b*%S' "$MNT")
[ $((size)) -gt $((200 * MiB)) ] && [ $((size)) -le $((256 * MiB)) ] ||
	fail "statfs size $((size)), expected about 256 MiB"
mkdir "$MNT/dir" 2>"$TMP/err" && fail "mkdir succeeded"
grep -q "Operation not permitted" "$TMP/err" || fail "mkdir: expected EPERM"
ln -s x "$MNT/link" 2>/dev/null && fail "symlink succeeded"
cat "$MNT/no/such" 2>/dev/null && fail "a path below the root opened"
long=$(printf 'n%.0s' $(seq 1 256))
touch "$MNT/$long" 2>"$TMP/err" && fail "a 256-byte name was created"

fusermount3 -u "$MNT" || fail "fusermount3 -u"
wait_exit "fusermount3 -u"

mount_fs
compare_dir "$TMP/expect" "after a remount"
rm -f "$MNT"/* || fail "rm everything"
timeout 120 python3 "$FSX" stress "$MNT" 7 || fail "concurrent writers and readers"
[ -z "$(ls -A "$MNT")" ] || fail "files left after rm"

SEED=${SPIO_FSX_SEED:-$(( $(date +%s) % 100000 ))}
echo "$NAME: fsx seed $SEED (SPIO_FSX_SEED=$SEED repeats it)"
timeout 120 python3 "$FSX" fsx "$MNT" "$TMP/model" "$SEED" 1500 15 ||
	fail "fsx (seed $SEED)"
mkdir -p "$TMP/model"

kill -TERM "$FUSE_PID"
wait_exit "SIGTERM"

mount_fs
compare_dir "$TMP/model" "fsx files after SIGTERM and a remount (seed $SEED)"
fusermount3 -u "$MNT" || fail "fusermount3 -u after fsx"
wait_exit "unmount after fsx"

# A BlobFS made by SPDK's own FUSE module (tests/data/spdk) shows its files
# under the same names, with the content SPDK read back.
gzip -dc "$SRC/tests/data/spdk/blobfs-basic.img.gz" >"$TMP/disk.img" || fail "gunzip SPDK's image"
mount_fs
awk '{print $1}' "$SRC/tests/data/spdk/blobfs-basic.manifest" | sort >"$TMP/want.ls"
ls "$MNT" | sort >"$TMP/got.ls"
cmp -s "$TMP/want.ls" "$TMP/got.ls" || fail "SPDK's image: file list differs"
awk '{print $3 "  " $1}' "$SRC/tests/data/spdk/blobfs-basic.manifest" >"$TMP/want.sum"
(cd "$MNT" && sha256sum -c --quiet "$TMP/want.sum") >"$TMP/out" 2>&1 ||
	fail "SPDK's image: contents differ"
fusermount3 -u "$MNT" || fail "last fusermount3 -u"
wait_exit "last unmount"

echo "$NAME: PASS"
exit 0
