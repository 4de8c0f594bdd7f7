#!/usr/bin/env bash
# Makes blobfs-basic.img.gz with the real SPDK's BlobFS (SPDK before v25.09,
# which removed it), as the blobfs tests' proof that a BlobFS made by SPDK
# loads here. Not run by the tests: its output is committed next to it.
#
#   make_blobfs_image.sh SPDK_BUILD_DIR OUT_DIR
#
# SPDK_BUILD_DIR: an SPDK tree built with --with-fuse at a commit that still
# has lib/blobfs (e.g. the parent of "blobfs: remove this deprecated
# library"), needing hugepages. Writes OUT_DIR/blobfs-basic.img.gz and
# OUT_DIR/blobfs-basic.manifest (name, size, sha256 per file, as SPDK's FUSE
# mount read them back).
set -euo pipefail
SPDK=${1:?usage: make_blobfs_image.sh SPDK_BUILD_DIR OUT_DIR}
OUT=${2:?usage: make_blobfs_image.sh SPDK_BUILD_DIR OUT_DIR}
export LD_LIBRARY_PATH=$SPDK/build/lib
work=$(mktemp -d)
mnt=$work/mnt
mkdir -p "$mnt" "$work/src"
cleanup() {
	mountpoint -q "$mnt" && fusermount3 -u "$mnt" || true
	[[ -n ${fuse_pid:-} ]] && kill "$fuse_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

img=$work/blobfs-basic.img
truncate -s 64M "$img"
cat >"$work/conf.json" <<JSON
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$img", "block_size": 4096}}]}]}
JSON

# Known content: text lines (compress well) and one seeded pseudo-random file.
python3 - "$work/src" <<'PY'
import os, random, sys
d = sys.argv[1]
def lines(name, n):
    with open(os.path.join(d, name), "w") as f:
        for i in range(n):
            f.write(f"{name} line {i:07d} of {n}\n")
lines("small.txt", 3)
lines("one-cluster.log", 40000)        # about 1.3 MiB: crosses a cluster
lines("000123.sst", 100000)            # about 3.2 MiB
open(os.path.join(d, "empty"), "wb").close()
with open(os.path.join(d, "exact-4096.bin"), "wb") as f:
    f.write(bytes((i * 7 + 3) & 0xff for i in range(4096)))
r = random.Random(20261203)
with open(os.path.join(d, "random-300k.bin"), "wb") as f:
    f.write(bytes(r.getrandbits(8) for _ in range(300 * 1024 + 17)))
name = "n" * 254  # SPDK's FUSE stores "/" + name: 255 bytes
with open(os.path.join(d, name), "w") as f:
    f.write("the longest name SPDK's FUSE allows\n")
with open(os.path.join(d, "to-delete"), "w") as f:
    f.write("deleted before unmount\n")
with open(os.path.join(d, "before-rename"), "w") as f:
    f.write("renamed by SPDK\n")
PY

"$SPDK/test/blobfs/mkfs/mkfs" "$work/conf.json" Aio0 >"$work/mkfs.log" 2>&1
"$SPDK/test/blobfs/fuse/fuse" "$work/conf.json" Aio0 "$mnt" >"$work/fuse.log" 2>&1 &
fuse_pid=$!
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.2; done
mountpoint -q "$mnt" || { cat "$work/fuse.log" >&2; exit 1; }
for f in "$work"/src/*; do cp "$f" "$mnt/"; done
rm "$mnt/to-delete"
mv "$mnt/before-rename" "$mnt/after-rename"
: >"$OUT/blobfs-basic.manifest.tmp"
for f in "$mnt"/*; do
	n=$(basename "$f")
	echo "$n $(stat -c %s "$f") $(sha256sum <"$f" | cut -d' ' -f1)" >>"$OUT/blobfs-basic.manifest.tmp"
done
fusermount3 -u "$mnt"
# SPDK's fuse program keeps running after an unmount: stop it.
kill -INT "$fuse_pid"
wait "$fuse_pid" || true
fuse_pid=
sort "$OUT/blobfs-basic.manifest.tmp" >"$OUT/blobfs-basic.manifest"
rm "$OUT/blobfs-basic.manifest.tmp"
gzip -9 -n -c "$img" >"$OUT/blobfs-basic.img.gz"
echo "make_blobfs_image: $OUT/blobfs-basic.img.gz ($(wc -l <"$OUT/blobfs-basic.manifest") files)"
