#!/usr/bin/env bash
# spio_blobcli end to end over an aio bdev on a temp file: init (y and n),
# thick and thin blobs, xattrs set and removed, fill, import of a random file
# and dump back (cmp), show, list, super blob, -D, -R, delete; the shell (-S)
# and scripts (-T, $B0, ignore); bad input (unknown blob id, missing file,
# no -b, garbage ids, bad values, two commands, missing config, a bdev with
# no blobstore) exits 1 with a message and never crashes. Then SPDK's own
# blobcli image (blobcli-basic): -D is SPDK's dump text, -s bs is SPDK's
# output, -l blobs lists the manifest's ids and -d of each blob has the
# manifest's sha256.
#
# Usage: test_spio_blobcli.sh BUILD_DIR SOURCE_DIR
# Test data: $SPIO_TESTDATA, else /work/shared/testdata/spdk (that part
# skips, saying so, without it).
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
NAME=test_spio_blobcli
CLI=$BUILD/spio_blobcli
DATA=${SPIO_TESTDATA:-/work/shared/testdata/spdk}
# On disk, not tmpfs: the aio bdev may open its file with O_DIRECT.
TMP=$(mktemp -d /var/tmp/spio-blobcli-test.XXXXXX)
MiB=$((1024 * 1024))

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/out" ] && sed 's/^/  stdout: /' "$TMP/out" | tail -n 40 >&2
	[ -f "$TMP/err" ] && sed 's/^/  stderr: /' "$TMP/err" | tail -n 40 >&2
	exit 1
}

cleanup() {
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$CLI" ] || fail "$CLI not built"

# aio0: 64 MiB image with 4096-byte blocks (as SPDK's test image); Malloc0
# holds no blobstore.
write_conf() { # FILE IMAGE
	cat >"$1" <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_aio_create",
   "params": {"name": "aio0", "filename": "$2", "block_size": 4096}},
  {"method": "bdev_malloc_create",
   "params": {"name": "Malloc0", "num_blocks": 2048, "block_size": 4096}}
]}]}
EOF
}
write_conf "$TMP/conf.json" "$TMP/disk.img"
truncate -s $((64 * MiB)) "$TMP/disk.img"
CONF=$TMP/conf.json

# Sanitizer reports exit 1 too: a run is only good without them.
check_clean() {
	if grep -q -e "AddressSanitizer" -e "runtime error:" -e "LeakSanitizer" "$TMP/err"; then
		fail "spio_blobcli $*: sanitizer report"
	fi
}

# cli_ok ARGS...: exit 0 (stdin from /dev/null unless CLI_IN is set).
cli_ok() {
	timeout 120 "$CLI" -j "$CONF" --no-huge "$@" <"${CLI_IN:-/dev/null}" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	check_clean "$@"
	[ "$rc" -eq 0 ] || fail "spio_blobcli $*: exit $rc, expected 0"
}

# cli_fails TEXT ARGS...: exit 1 with TEXT on stderr.
cli_fails() {
	local text=$1
	shift
	timeout 120 "$CLI" "$@" <"${CLI_IN:-/dev/null}" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	check_clean "$@"
	[ "$rc" -eq 1 ] || fail "spio_blobcli $*: exit $rc, expected 1"
	grep -q -- "$text" "$TMP/err" || fail "spio_blobcli $*: stderr should mention '$text'"
}

# has TEXT WHAT: stdout of the last run holds the line TEXT (fixed string).
has() {
	grep -q -F -x -- "$1" "$TMP/out" || fail "$2: no line '$1' in the output"
}

# The id in "New blob id 0x..." of the last run.
new_id() {
	sed -n 's/^New blob id \(0x[0-9a-f]*\)$/\1/p' "$TMP/out"
}

# 1. Init: "n" keeps the device as it is, "y" makes a blobstore.
echo n >"$TMP/no.in"
echo y >"$TMP/yes.in"
CLI_IN=$TMP/no.in cli_ok -b aio0 -i
has "Blobstore not initialized." "-i answered n"
cli_fails "no blobstore there" -j "$CONF" --no-huge -b aio0 -l blobs
CLI_IN=$TMP/yes.in cli_ok -b aio0 -i
has "Init blobstore using bdev Name: aio0" "-i"
grep -q "^blobstore init'd: (0x" "$TMP/out" || fail "-i: no \"blobstore init'd\" line"
cli_ok -b aio0 -s bs
has "Blobstore Public Info:" "-s bs"
has "	Using bdev Product Name: AIO disk" "-s bs"
has "	API Version: 3" "-s bs"
has "	super blob ID: none assigned" "-s bs"
has "	md page size: 4096" "-s bs"
has "	io unit size: 4096" "-s bs"
has "	cluster size: 1048576" "-s bs"
has "	# free clusters: 63" "-s bs of a new 64 MiB store"
has "	Metadata start (pages): 4" "-s bs"
echo "ok: init (n and y), -s bs of a new store"

# 2. A thick blob of 4 clusters and a thin one of 8.
cli_ok -b aio0 -n 4
THICK=$(new_id)
[ -n "$THICK" ] || fail "-n 4: no 'New blob id' line"
has "blob now has USED clusters of 4" "-n 4"
cli_ok -b aio0 -n 8 --thin
THIN=$(new_id)
if [ -z "$THIN" ] || [ "$THIN" = "$THICK" ]; then
	fail "-n 8 --thin: id '$THIN' (thick is $THICK)"
fi
cli_ok -b aio0 -s "$THIN"
has "blob ID: $THIN" "-s thin"
has "# of clusters: 8" "-s thin"
has "# of bytes: $((8 * MiB))" "-s thin"
has "# of io units: $((8 * MiB / 4096))" "-s thin"
has "# of allocated clusters: 0" "-s thin before any write"
has "thin provisioned: yes" "-s thin"
cli_ok -b aio0 -s "$THICK"
has "# of allocated clusters: 4" "-s thick"
has "thin provisioned: no" "-s thick"
cli_ok -b aio0 -s bs
has "	# free clusters: 59" "-s bs after 4 thick clusters"
echo "ok: thick and thin blobs created and shown"

# 3. Xattrs: set two, remove one; the value is shown without its NUL.
cli_ok -b aio0 -x "$THICK" name alpha
has "Xattr has been set." "-x"
cli_ok -b aio0 -x "$((THICK))" scratch value
cli_ok -b aio0 -r "$THICK" scratch
has "Xattr has been removed." "-r"
cli_ok -b aio0 -s "$THICK"
has "# of xattrs: 1" "-s after set, set, remove"
has "(0) Name:name" "-s xattr name"
has "00000000  61 6c 70 68 61                                     alpha" "-s xattr value dump"
cli_fails "no such xattr" -j "$CONF" --no-huge -b aio0 -r "$THICK" scratch
echo "ok: xattrs set, removed, shown"

# 4. Fill and dump back; import a random file into the thin blob and dump it.
cli_ok -b aio0 -f "$THICK" 90
has "Blob fill complete (with 0x5a)." "-f"
cli_ok -b aio0 -d "$THICK" "$TMP/thick.bin"
grep -q "^File write complete (to $TMP/thick.bin).$" "$TMP/out" || fail "-d: no completion line"
head -c $((4 * MiB)) /dev/zero | tr '\0' 'Z' >"$TMP/want.bin"
cmp "$TMP/thick.bin" "$TMP/want.bin" || fail "-d after -f 90: not 4 MiB of 0x5a"
head -c $((3 * MiB + 1000)) /dev/urandom >"$TMP/rnd.bin"
cli_ok -b aio0 -m "$THIN" "$TMP/rnd.bin"
grep -q "^Blob import complete (from $TMP/rnd.bin).$" "$TMP/out" || fail "-m: no completion line"
cli_ok -b aio0 -d "$THIN" "$TMP/thin.bin"
[ "$(stat -c %s "$TMP/thin.bin")" -eq $((8 * MiB)) ] ||
	fail "-d thin: $(stat -c %s "$TMP/thin.bin") bytes, expected the whole blob, 8 MiB"
cmp -n $((3 * MiB + 1000)) "$TMP/thin.bin" "$TMP/rnd.bin" || fail "-m then -d: data differs"
cmp -i $((3 * MiB + 1000)):0 -n $((5 * MiB - 1000)) "$TMP/thin.bin" /dev/zero ||
	fail "-m then -d: the blob after the file is not zeroes"
cli_ok -b aio0 -s "$THIN"
has "# of allocated clusters: 8" "-s thin after import (blobcli writes zeroes to the end)"
head -c $((5 * MiB)) /dev/urandom >"$TMP/big.bin"
cli_fails "do not fit" -j "$CONF" --no-huge -b aio0 -m "$THICK" "$TMP/big.bin"
cli_ok -b aio0 -d "$THICK" "$TMP/thick2.bin"
cmp "$TMP/thick2.bin" "$TMP/want.bin" || fail "a refused -m changed the blob"
echo "ok: fill, import, dump (cmp), an oversized import refused untouched"

# 5. List, super blob, -D, -R.
cli_ok -b aio0 -l blobs
has "List BLOBS:" "-l blobs"
has "Found blob with ID# $THICK" "-l blobs"
has "Found blob with ID# $THIN" "-l blobs"
[ "$(grep -c '^Found blob with ID#' "$TMP/out")" -eq 2 ] || fail "-l blobs: expected 2 blobs"
cli_ok -l bdevs
has "	bdev Name: aio0" "-l bdevs"
has "	bdev Name: Malloc0" "-l bdevs"
has "	bdev Product Name: Malloc disk" "-l bdevs"
cli_ok -b aio0 -p "$THICK"
has "Super Blob ID has been set." "-p"
cli_ok -b aio0 -s bs
has "	super blob ID: $THICK" "-s bs after -p"
cli_ok -b aio0 -D
head -n 1 "$TMP/out" | grep -qx "Init blobstore using bdev Name: aio0" || fail "-D: first line"
has "Signature: \"SPDKBLOB\" (OK)" "-D"
has "Super Blob ID: $THICK" "-D"
has "Blob ID: $THICK" "-D"
has "Blob ID: $THIN" "-D"
cli_ok -b aio0 -R
cli_ok -b aio0 -l blobs
[ "$(grep -c '^Found blob with ID#' "$TMP/out")" -eq 2 ] || fail "-l blobs after -R: expected 2"
echo "ok: list, super blob, -D, -R"

# 6. Delete.
cli_ok -b aio0 -w "$THIN"
has "Blob $THIN has been deleted." "-w"
cli_ok -b aio0 -l blobs
grep -q "Found blob with ID# $THIN\$" "$TMP/out" && fail "-l blobs: deleted blob $THIN listed"
cli_fails "no such blob" -j "$CONF" --no-huge -b aio0 -s "$THIN"
cli_ok -b aio0 -s bs
has "	# free clusters: 59" "-s bs after deleting the thin blob"
echo "ok: delete"

# 7. Bad input: exit 1 with a reason, never a crash.
B=(-j "$CONF" --no-huge)
cli_fails "no such blob" "${B[@]}" -b aio0 -s 0x1000000ff
cli_fails "no such blob" "${B[@]}" -b aio0 -d 0x1000000ff "$TMP/x.bin"
[ -e "$TMP/x.bin" ] && fail "-d of an unknown blob created its output file"
cli_fails "no such blob" "${B[@]}" -b aio0 -w 0x1000000ff
cli_fails "no such blob" "${B[@]}" -b aio0 -p 0x1000000ff
cli_fails "no such blob" "${B[@]}" -b aio0 -x 0x1000000ff a b
cli_fails "cannot open for reading" "${B[@]}" -b aio0 -m "$THICK" "$TMP/missing.bin"
cli_fails "missing parameter" "${B[@]}" -b aio0 -d "$THICK"
cli_fails "missing parameter" "${B[@]}" -b aio0 -x "$THICK" name
cli_fails "-b BDEV is required" "${B[@]}" -l blobs
cli_fails "expected a blob id" "${B[@]}" -b aio0 -s zz
cli_fails "expected a blob id" "${B[@]}" -b aio0 -d 12abc "$TMP/x.bin"
cli_fails "expected a blob id" "${B[@]}" -b aio0 -w -5
cli_fails "0 to 255" "${B[@]}" -b aio0 -f "$THICK" 300
cli_fails "expected a number of clusters" "${B[@]}" -b aio0 -n 0
cli_fails "expected a number of clusters" "${B[@]}" -b aio0 -n x
cli_fails "expected bdevs or blobs" "${B[@]}" -b aio0 -l trees
cli_fails "only one command" "${B[@]}" -b aio0 -l blobs -s bs
cli_fails "goes with -n" "${B[@]}" -b aio0 --thin -l blobs
cli_fails "unknown option" "${B[@]}" -b aio0 -q
cli_fails "unexpected argument" "${B[@]}" -b aio0 -l blobs extra
cli_fails "no command given" "${B[@]}" -b aio0
cli_fails "no command given"
cli_fails "nothing to leave" "${B[@]}" -b aio0 -X
cli_fails "no such bdev" "${B[@]}" -b nosuch -l blobs
cli_fails "no blobstore there" "${B[@]}" -b Malloc0 -l blobs
cli_fails "config file" -j "$TMP/missing.json" -b aio0 -l blobs
cli_fails "no answer on stdin" "${B[@]}" -b aio0 -i
cli_ok -b aio0 -l blobs
has "Found blob with ID# $THICK" "the store after the bad commands"
echo "ok: bad input exits 1 with a message"

# 8. Shell: commands until -X; a bad one is reported and the shell goes on.
printf -- '-l blobs\n\n-s bogus\n-s bs\n-X\n-l bdevs\n' >"$TMP/shell.in"
timeout 120 "$CLI" -j "$CONF" --no-huge -b aio0 -S <"$TMP/shell.in" >"$TMP/out" 2>"$TMP/err"
rc=$?
check_clean -S
[ "$rc" -eq 1 ] || fail "-S with one bad command: exit $rc, expected 1"
grep -q "expected a blob id" "$TMP/err" || fail "-S: the bad command was not reported"
grep -q "Found blob with ID# $THICK" "$TMP/out" || fail "-S: -l blobs did not run"
has "	cluster size: 1048576" "-S: -s bs after a bad command"
grep -q "bdev Name:" "$TMP/out" && fail "-S: a command after -X ran"
printf -- '-s bs\n' >"$TMP/shell.in"
timeout 120 "$CLI" -j "$CONF" --no-huge -b aio0 -S <"$TMP/shell.in" >"$TMP/out" 2>"$TMP/err"
rc=$?
check_clean -S
[ "$rc" -eq 0 ] || fail "-S ending at end of input: exit $rc, expected 0"
grep -q "^blob> Blobstore Public Info:" "$TMP/out" || fail "-S: no prompt before the output"
echo "ok: shell mode"

# 9. Scripts: $B0 is the first blob the script made; errors abort unless 'ignore'.
cat >"$TMP/ok.script" <<'EOF'
# make a blob, name it, show it, delete it
-n 2
-x $B0 name scripted
-s $B0

-w $B0
EOF
cli_ok -b aio0 -T "$TMP/ok.script"
has "SCRIPT NOW PROCESSING: -x \$B0 name scripted" "-T"
has "(0) Name:name" "-T: -s \$B0"
grep -q "^Blob 0x[0-9a-f]* has been deleted.$" "$TMP/out" || fail "-T: -w \$B0 did not run"
# shellcheck disable=SC2016 # $B3 is for the script, not for bash
printf -- '-s $B3\n-l blobs\n' >"$TMP/bad.script"
cli_fails "created 0 blob" "${B[@]}" -b aio0 -T "$TMP/bad.script"
grep -q "Found blob" "$TMP/out" && fail "-T: went on after a failed line without 'ignore'"
cli_fails "skipping" "${B[@]}" -b aio0 -T "$TMP/bad.script" ignore
grep -q "Found blob with ID# $THICK" "$TMP/out" || fail "-T ignore: did not go on"
cli_fails "cannot open" "${B[@]}" -b aio0 -T "$TMP/missing.script"
echo "ok: script mode"

# 10. SPDK's image: dump, -s bs, ids and data as the manifest says.
IMG=$DATA/blobcli-basic.img.gz
MAN=$DATA/blobcli-basic.json
DUMP=$DATA/blobcli-basic.bsdump.txt
if [ ! -r "$IMG" ] || [ ! -r "$MAN" ] || [ ! -r "$DUMP" ]; then
	echo "$NAME: SKIP (part): no SPDK image in $DATA (set SPIO_TESTDATA)"
	echo "PASS (without the SPDK image)"
	exit 0
fi
if ! command -v python3 >/dev/null; then
	echo "$NAME: SKIP (part): python3 not found to read the image's manifest"
	echo "PASS (without the SPDK image)"
	exit 0
fi
gunzip -c "$IMG" >"$TMP/spdk.img" || fail "cannot gunzip $IMG"
write_conf "$TMP/spdk.json" "$TMP/spdk.img"
CONF=$TMP/spdk.json

manifest() { # PYTHON_EXPR over m (the manifest)
	python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print($1)" "$MAN"
}
# -D first, before any load rewrites the super block.
cli_ok -b aio0 -D
diff -u "$DUMP" "$TMP/out" >"$TMP/diff" || {
	sed 's/^/  /' "$TMP/diff" | head -n 40 >&2
	fail "-D of SPDK's image differs from SPDK's dump"
}
cli_ok -b aio0 -s bs
manifest "m['blobstore_as_reported_by_spdk']['blobcli -s bs']" >"$TMP/want.txt"
sed -i '$ d' "$TMP/want.txt" # print() added a newline after SPDK's last one
diff -u "$TMP/want.txt" "$TMP/out" >"$TMP/diff" || {
	sed 's/^/  /' "$TMP/diff" >&2
	fail "-s bs of SPDK's image differs from SPDK's blobcli"
}
cli_ok -b aio0 -l blobs
sed -n 's/^Found blob with ID# //p' "$TMP/out" | sort >"$TMP/got_ids"
manifest "'\n'.join(sorted(b['blob_id'] for b in m['blobs']))" >"$TMP/want_ids"
diff -u "$TMP/want_ids" "$TMP/got_ids" || fail "-l blobs of SPDK's image: ids differ from the manifest"
while read -r id; do
	cli_ok -b aio0 -d "$id" "$TMP/blob.bin"
	want=$(manifest "[b['sha256'] for b in m['blobs'] if b['blob_id'] == '$id'][0]")
	got=$(sha256sum "$TMP/blob.bin" | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "-d $id of SPDK's image: sha256 $got, manifest says $want"
	cli_ok -b aio0 -s "$id"
	n=$(manifest "[b['num_clusters'] for b in m['blobs'] if b['blob_id'] == '$id'][0]")
	has "# of clusters: $n" "-s $id of SPDK's image"
	for x in $(manifest "' '.join(x['name'] for b in m['blobs'] if b['blob_id'] == '$id' for x in b['xattrs'])"); do
		grep -q "^([0-9]*) Name:$x\$" "$TMP/out" || fail "-s $id of SPDK's image: no xattr $x"
	done
done <"$TMP/want_ids"
echo "ok: SPDK's blobcli image: -D, -s bs, -l blobs, -d (sha256), -s"
echo PASS
