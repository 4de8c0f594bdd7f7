#!/usr/bin/env bash
# spio_dd end to end: file -> bdev -> file round trip (cmp), the malloc bdev
# in and out, --skip/--seek/--count byte-exact on bdevs and files, a partial
# last output block (its old bytes kept), O_DIRECT files, --sparse, a 64 MiB
# copy reporting its rate, and the failures: bad option combinations and a
# --bs the bdev cannot take (exit 2), a missing file or bdev, an output too
# small, a short read, a write error, SIGINT (exit 1, never a hang).
#
# Usage: test_spio_dd.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
DD=$BUILD/spio_dd
# On disk, not tmpfs: the uring bdev opens its file with O_DIRECT.
TMP=$(mktemp -d /var/tmp/spio-dd-test.XXXXXX)
PID=
MiB=$((1024 * 1024))

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/err" ] && sed 's/^/  stderr: /' "$TMP/err" >&2
	exit 1
}

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$DD" ] || fail "$DD not built"

# A uring bdev over an 8 MiB image (512-byte blocks), an 8 MiB and a 1 MiB
# malloc bdev (4096-byte blocks; Malloc0 also by UUID), a 1 GiB and a 1 TiB
# null bdev.
UUID=6a1d5c3e-2b7f-4e21-9c0d-3f5e8a7b9c10
write_conf() {
	cat >"$TMP/conf.json" <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_uring_create",
   "params": {"name": "File0", "filename": "$TMP/back.img", "block_size": 512}},
  {"method": "bdev_malloc_create",
   "params": {"name": "Malloc0", "num_blocks": 2048, "block_size": 4096, "uuid": "$UUID"}},
  {"method": "bdev_malloc_create",
   "params": {"name": "Small0", "num_blocks": 256, "block_size": 4096}},
  {"method": "bdev_null_create",
   "params": {"name": "Null0", "num_blocks": 262144, "block_size": 4096}},
  {"method": "bdev_null_create",
   "params": {"name": "Huge0", "num_blocks": 268435456, "block_size": 4096}}
]}]}
EOF
}
write_conf
head -c $((8 * MiB)) /dev/zero >"$TMP/back.img"

# dd_ok ARGS...: spio_dd with the configuration must exit 0.
dd_ok() {
	"$DD" --json "$TMP/conf.json" --no-huge "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ "$rc" -eq 0 ] || fail "spio_dd $*: exit $rc, expected 0"
}

# dd_fails RC TEXT ARGS...: exit RC with TEXT on stderr.
dd_fails() {
	local want=$1 text=$2
	shift 2
	timeout 60 "$DD" --json "$TMP/conf.json" --no-huge "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ "$rc" -eq "$want" ] || fail "spio_dd $*: exit $rc, expected $want"
	grep -q -- "$text" "$TMP/err" || fail "spio_dd $*: stderr should mention '$text'"
}

# same FILE1 OFF1 FILE2 OFF2 LEN WHAT: LEN bytes equal.
same() {
	cmp -s -i "$2:$4" -n "$5" "$1" "$3" ||
		fail "$6: $5 bytes at $1+$2 and $3+$4 differ: $(cmp -i "$2:$4" -n "$5" "$1" "$3" 2>&1)"
}

head -c $((4 * MiB)) /dev/urandom >"$TMP/in.bin"

# 1. Round trip file -> uring bdev -> file, then the malloc bdev both ways.
dd_ok --if "$TMP/in.bin" --ob File0 --bs 64k --qd 8
grep -q "copied 4194304 bytes" "$TMP/err" || fail "file -> File0: no 'copied 4194304 bytes' summary"
dd_ok --ib File0 --of "$TMP/rt.bin" --bs 64k --qd 8 --count 64
cmp "$TMP/in.bin" "$TMP/rt.bin" || fail "round trip file -> File0 -> file differs"
# the whole bdev: the copied 4 MiB, then the image's zeros
dd_ok --ib File0 --of "$TMP/all.bin"
[ "$(stat -c %s "$TMP/all.bin")" -eq $((8 * MiB)) ] ||
	fail "File0 -> file without --count: $(stat -c %s "$TMP/all.bin") bytes, expected 8 MiB"
same "$TMP/all.bin" 0 "$TMP/in.bin" 0 $((4 * MiB)) "whole File0"
same "$TMP/all.bin" $((4 * MiB)) /dev/zero 0 $((4 * MiB)) "whole File0 tail"
# Malloc0 starts zeroed; by UUID as well as by name
dd_ok --if "$TMP/in.bin" --ob Malloc0 --bs 128k --qd 4
dd_ok --ib "$UUID" --of "$TMP/m.bin" --count 16
[ "$(stat -c %s "$TMP/m.bin")" -eq 65536 ] || fail "Malloc0 by UUID --count 16: wrong size"
same "$TMP/m.bin" 0 /dev/zero 0 65536 "Malloc0 read"
echo "ok: round trip file -> File0 -> file; malloc in and out; bdev by UUID"

# 2. --skip / --seek / --count, bdev output: units 5..11 of File0 get units 3..9 of the input.
head -c $((8 * MiB)) /dev/zero >"$TMP/back.img"
dd_ok --if "$TMP/in.bin" --ob File0 --bs 4096 --skip 3 --seek 5 --count 7 --qd 3
dd_ok --ib File0 --of "$TMP/b.bin" --bs 4096 --count 20
same "$TMP/b.bin" $((5 * 4096)) "$TMP/in.bin" $((3 * 4096)) $((7 * 4096)) "--skip 3 --seek 5 --count 7"
same "$TMP/b.bin" 0 /dev/zero 0 $((5 * 4096)) "before --seek"
same "$TMP/b.bin" $((12 * 4096)) /dev/zero 0 $((8 * 4096)) "after --count"
# bdev input, file output: --skip on the bdev, --seek leaves a zeroed gap in the file
dd_ok --ib File0 --of "$TMP/c.bin" --bs 4096 --skip 6 --seek 2 --count 4
[ "$(stat -c %s "$TMP/c.bin")" -eq $((6 * 4096)) ] ||
	fail "--seek 2 --count 4 to a file: $(stat -c %s "$TMP/c.bin") bytes, expected $((6 * 4096))"
same "$TMP/c.bin" $((2 * 4096)) "$TMP/in.bin" $((4 * 4096)) $((4 * 4096)) "bdev --skip 6 -> file --seek 2"
same "$TMP/c.bin" 0 /dev/zero 0 $((2 * 4096)) "file gap before --seek"
# file to file, a --bs of no block size at all
dd_ok --if "$TMP/in.bin" --of "$TMP/d.bin" --bs 1000 --skip 2 --seek 3 --count 5 --qd 4
[ "$(stat -c %s "$TMP/d.bin")" -eq 8000 ] || fail "file -> file --bs 1000: wrong size"
same "$TMP/d.bin" 3000 "$TMP/in.bin" 2000 5000 "file -> file --bs 1000 --skip 2 --seek 3"
echo "ok: --skip/--seek/--count byte-exact (bdev and file sides)"

# 3. A partial last output block: the block's other bytes keep their old content.
head -c $((8 * MiB)) /dev/urandom >"$TMP/back.img"
cp "$TMP/back.img" "$TMP/old.img"
head -c 5000 "$TMP/in.bin" >"$TMP/p.bin"
dd_ok --if "$TMP/p.bin" --ob File0 --bs 4096 --seek 1
dd_ok --ib File0 --of "$TMP/e.bin" --bs 4096 --count 4
same "$TMP/e.bin" 4096 "$TMP/p.bin" 0 5000 "partial block: the 5000 bytes"
same "$TMP/e.bin" 9096 "$TMP/old.img" 9096 $((9216 - 9096)) "partial block: the block's old tail"
same "$TMP/e.bin" 0 "$TMP/old.img" 0 4096 "partial block: before --seek"
echo "ok: a partial output block keeps its old bytes"

# 4. O_DIRECT files (the image's file system does O_DIRECT: the uring bdev needs it).
dd_ok --if "$TMP/in.bin" --iflag direct --of "$TMP/f.bin" --oflag direct,noatime --bs 64k --qd 4
cmp "$TMP/in.bin" "$TMP/f.bin" || fail "--iflag direct --oflag direct: copy differs"
dd_ok --if "$TMP/p.bin" --iflag direct --of "$TMP/g.bin" --oflag direct --bs 4096
cmp "$TMP/p.bin" "$TMP/g.bin" || fail "O_DIRECT copy of a 5000-byte file differs"
echo "ok: O_DIRECT input and output, also of a file that is not a whole number of blocks"

# 4b. A pipe as input: reads return what the pipe holds, the chunk is read on.
head -c $((1 * MiB)) "$TMP/in.bin" |
	"$DD" --json "$TMP/conf.json" --no-huge --if /dev/stdin --ob Malloc0 --bs 256k --count 4 --qd 8 \
		>"$TMP/out" 2>"$TMP/err" || fail "pipe -> Malloc0: non-zero exit"
grep -q "copied 1048576 bytes" "$TMP/err" || fail "pipe -> Malloc0: no 'copied 1048576 bytes'"
head -c $((1 * MiB)) "$TMP/in.bin" |
	"$DD" --json "$TMP/conf.json" --no-huge --if /dev/stdin --of "$TMP/pipe.bin" --bs 1M --count 1 \
		>"$TMP/out" 2>"$TMP/err" || fail "pipe -> file: non-zero exit"
same "$TMP/pipe.bin" 0 "$TMP/in.bin" 0 $((1 * MiB)) "pipe -> file"
echo "ok: a pipe as input"

# 5. --sparse: holes are skipped, the content is the same, the output keeps them.
rm -f "$TMP/s.bin"
truncate -s $((16 * MiB)) "$TMP/s.bin"
dd if="$TMP/in.bin" of="$TMP/s.bin" bs=1M count=1 seek=3 conv=notrunc status=none
dd if="$TMP/in.bin" of="$TMP/s.bin" bs=4096 count=3 seek=3000 conv=notrunc status=none
dd_ok --if "$TMP/s.bin" --of "$TMP/t.bin" --sparse --bs 1M --qd 4
cmp "$TMP/s.bin" "$TMP/t.bin" || fail "--sparse copy differs from its input"
used=$(($(stat -c %b "$TMP/t.bin") * $(stat -c %B "$TMP/t.bin")))
[ "$used" -lt $((4 * MiB)) ] || fail "--sparse: output uses $used bytes on disk, expected < 4 MiB of 16"
echo "ok: --sparse copies the data ($used bytes on disk) and keeps the holes"

# 6. A 64 MiB copy reports its rate.
head -c $((64 * MiB)) /dev/urandom >"$TMP/big.bin"
dd_ok --if "$TMP/big.bin" --ob Null0 --bs 1M --qd 8
grep -Eq "^Copying: 64/64 \[MB\] \(average [0-9]+ [kMG]?Bps\)$" "$TMP/err" ||
	fail "64 MiB to Null0: no final 'Copying: 64/64 [MB] (average N MBps)' line"
rate=$(sed -n 's/^spio_dd: copied 67108864 bytes in [0-9.]* s (\([0-9.]*\) MiB\/s)$/\1/p' "$TMP/err")
[ -n "$rate" ] || fail "64 MiB to Null0: no 'copied 67108864 bytes in T s (R MiB/s)' summary"
dd_ok --if "$TMP/big.bin" --of "$TMP/big2.bin" --bs 1M --qd 8
cmp "$TMP/big.bin" "$TMP/big2.bin" || fail "64 MiB file -> file differs"
rm -f "$TMP/big2.bin"
echo "ok: 64 MiB file -> Null0 at $rate MiB/s; file -> file identical"

# 7. Bad combinations and options: exit 2 before anything is opened.
dd_fails 2 "either --if or --ib, but not both" --if "$TMP/in.bin" --ib Malloc0 --ob Null0
dd_fails 2 "either --of or --ob, but not both" --if "$TMP/in.bin" --of "$TMP/x" --ob Null0
dd_fails 2 "must specify either --if or --ib" --ob Null0
dd_fails 2 "must specify either --of or --ob" --if "$TMP/in.bin"
dd_fails 2 "oflag may be used only with --of" --if "$TMP/in.bin" --ob Null0 --oflag direct
dd_fails 2 "iflag may be used only with --if" --ib Malloc0 --of "$TMP/x" --iflag direct
dd_fails 2 "unknown file flag 'bogus'" --if "$TMP/in.bin" --of "$TMP/x" --iflag direct,bogus
dd_fails 2 "\-\-bs 0" --if "$TMP/in.bin" --ob Null0 --bs 0
dd_fails 2 "\-\-qd 0" --if "$TMP/in.bin" --ob Null0 --qd 0
dd_fails 2 "\-\-count -1" --if "$TMP/in.bin" --ob Null0 --count -1
dd_fails 2 "sparse needs --if" --ib Malloc0 --ob Null0 --sparse
dd_fails 2 "unexpected argument" --if "$TMP/in.bin" --ob Null0 extra
# --bs against the bdevs' block sizes
dd_fails 2 "multiple of output native block size (512)" --if "$TMP/in.bin" --ob File0 --bs 1000
dd_fails 2 "cannot be less than input (4096)" --ib Malloc0 --of "$TMP/x" --bs 2048
dd_fails 2 "multiple of input native block size (4096)" --ib Malloc0 --of "$TMP/x" --bs 6144
echo "ok: bad combinations, options and --bs refused with exit 2"

# 8. Failures during set-up or the copy: exit 1 with a clear message, no hang.
dd_fails 1 "cannot open: No such file or directory" --if "$TMP/missing.bin" --ob Null0
dd_fails 1 "no such bdev" --ib Nope0 --of "$TMP/x"
dd_fails 1 "no such bdev" --if "$TMP/in.bin" --ob lvs0/nope
dd_fails 1 "output too small: 4194304 bytes to copy" --if "$TMP/in.bin" --ob Small0
dd_fails 1 "\-\-count value too big (300) - only 256 blocks available in output" \
	--if "$TMP/big.bin" --ob Small0 --count 300
dd_fails 1 "\-\-seek value too big (300)" --if "$TMP/in.bin" --ob Small0 --seek 300 --count 1
dd_fails 1 "\-\-skip value too big (2000)" --if "$TMP/in.bin" --ob Null0 --skip 2000
dd_fails 1 "\-\-count value too big (2000) - only 1024 blocks available from input" \
	--if "$TMP/in.bin" --ob Null0 --count 2000
dd_fails 1 "short read at offset 0: got 0 of 4096 bytes" --if /dev/null --ob Malloc0 --count 4
dd_fails 1 "write of 4096 bytes at offset 0 failed: No space left on device" \
	--if "$TMP/in.bin" --of /dev/full --count 8 --qd 4
dd_fails 2 "size is unknown" --if /dev/zero --ob Null0
echo "ok: missing file and bdev, output too small, short read, write error -> exit 1"

# 9. SIGINT in the middle of a long copy: exit 1 with how far it got.
"$DD" --json "$TMP/conf.json" --no-huge --if /dev/zero --ob Huge0 --count 100000000 --qd 1 \
	>"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 1 100); do
	grep -q "^Copying: " "$TMP/err" && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
kill -INT "$PID" 2>/dev/null || fail "spio_dd exited before SIGINT"
for _ in $(seq 1 100); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$PID" 2>/dev/null && fail "spio_dd still running 10 s after SIGINT"
wait "$PID"
rc=$?
PID=
[ "$rc" -eq 1 ] || fail "SIGINT: exit $rc, expected 1"
grep -q "interrupted after [0-9]* of 409600000000 bytes" "$TMP/err" ||
	fail "SIGINT: no 'interrupted after N of M bytes' message"
grep -Eq "^Copying: [0-9]+/[0-9]+ \[GB\] \([0-9]+ [kMG]?Bps\)$" "$TMP/err" ||
	fail "SIGINT: no progress line 'Copying: N/381 [GB] (R MBps)'"
echo "ok: SIGINT -> exit 1 after a progress line"

# 10. --help
"$DD" --help >"$TMP/out" 2>"$TMP/err" || fail "--help: non-zero exit"
grep -q -- "--ob BDEV" "$TMP/out" || fail "--help: no --ob in the usage"
echo "PASS: test_spio_dd"
