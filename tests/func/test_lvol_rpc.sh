#!/usr/bin/env bash
# Logical volumes in spio_tgt, driven by SPDK's own rpc.py: an lvstore on a
# malloc bdev and one on an aio file; thick and thin lvols; snapshot, clone,
# resize, rename (lvol and lvstore), inflate, decouple, read-only; the
# fields of bdev_lvol_get_lvstores, bdev_lvol_get_lvols and bdev_get_bdevs'
# driver_specific.lvol; refusals with SPDK's error codes (duplicate names,
# unknown lvstore, too large, claimed bdev, a snapshot with two clones) and
# the target alive after each; deletes. Then the lvols come back by examine
# in a target whose configuration holds only bdev_aio_create, data written
# with spio_dd to lvs0/thick0 reads back, and SPDK's lvol-basic image is
# found and read back byte for byte (skipped, saying so, without test data).
#
# Usage: test_lvol_rpc.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
DD=$BUILD/spio_dd
# On disk, not tmpfs: aio files.
TMP=$(mktemp -d /var/tmp/spio-lvol-test.XXXXXX)
SOCK=/tmp/spio-lvol-$$.sock
MiB=$((1024 * 1024))
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"
# shellcheck source=../compat/rpcpy_lib.sh
source "$(dirname "$0")/../compat/rpcpy_lib.sh"

for bin in "$TGT" "$DD"; do
	[ -x "$bin" ] || fail "$bin not built"
done

# alive WHAT: the target still runs (a refusal must never crash it).
alive() {
	kill -0 "$PID" 2>/dev/null || fail "spio_tgt died after $1"
}

# refused CODE ARGS...: rpc.py must fail with JSON-RPC error code CODE.
refused() {
	local code=$1
	shift
	rpc_refused "\"code\": $code" "$@"
	alive "$*"
}

# value EXPR: print a Python expression over the last reply `d`.
value() {
	python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$TMP/reply" "$1"
}

UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

# mkpat TAG SIZE OUT: SPDK's test pattern (mkpat.py of the test data).
mkpat() {
	python3 - "$1" "$2" "$3" <<'EOF'
import sys
tag, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, 'wb') as f:
    for o in range(0, size, 4096):
        line = ('%s off=%012d' % (tag, o)).ljust(63, '.')[:63] + '\n'
        f.write((line * 64).encode())
EOF
}

# 1. An lvstore on a malloc bdev.
start_tgt
rpc bdev_malloc_create -b Malloc0 64 4096
rpc bdev_lvol_create_lvstore Malloc0 lvs_m -c 1048576
LVS_M=$(tr -d '"\n' <"$TMP/reply")
[[ $LVS_M =~ $UUID_RE ]] || fail "bdev_lvol_create_lvstore: expected a uuid, got '$LVS_M'"
rpc bdev_lvol_get_lvstores
check "len(d) == 1 and d[0]['uuid'] == '$LVS_M' and d[0]['name'] == 'lvs_m' and d[0]['base_bdev'] == 'Malloc0' and d[0]['cluster_size'] == 1048576 and d[0]['block_size'] == 4096 and d[0]['total_data_clusters'] == d[0]['free_clusters'] and 55 <= d[0]['total_data_clusters'] < 64 and d[0]['max_growable_size'] > 0"
rpc bdev_lvol_get_lvstores -l lvs_m
check "len(d) == 1 and d[0]['uuid'] == '$LVS_M'"
rpc bdev_lvol_get_lvstores -u "$LVS_M"
check "len(d) == 1 and d[0]['name'] == 'lvs_m'"
rpc bdev_get_bdevs -b Malloc0
check "d[0]['claimed'] is True"
echo "ok: lvstore on Malloc0 ($LVS_M), get_lvstores fields and filters"

# 2. Thick and thin lvols, bdev_get_bdevs and get_lvols fields.
rpc bdev_lvol_create -l lvs_m thick0 8
THICK=$(tr -d '"\n' <"$TMP/reply")
[[ $THICK =~ $UUID_RE ]] || fail "bdev_lvol_create: expected the bdev name (a uuid), got '$THICK'"
rpc bdev_lvol_create -u "$LVS_M" -t thin0 32
THIN=$(tr -d '"\n' <"$TMP/reply")
rpc bdev_lvol_create -l lvs_m -c write_zeroes odd0 3
rpc bdev_get_bdevs -b lvs_m/thick0
check "d[0]['name'] == '$THICK' and d[0]['uuid'] == '$THICK' and d[0]['aliases'] == ['lvs_m/thick0'] and d[0]['product_name'] == 'Logical Volume' and d[0]['block_size'] == 4096 and d[0]['num_blocks'] == 2048"
check "d[0]['driver_specific']['lvol'] == {'lvol_store_uuid': '$LVS_M', 'base_bdev': 'Malloc0', 'thin_provision': False, 'num_allocated_clusters': 8, 'snapshot': False, 'clone': False, 'esnap_clone': False}"
check "d[0]['supported_io_types']['write'] and d[0]['supported_io_types']['unmap'] and d[0]['supported_io_types']['write_zeroes'] and not d[0]['supported_io_types']['flush']"
rpc bdev_get_bdevs -b "$THIN"
check "d[0]['num_blocks'] == 8192 and d[0]['driver_specific']['lvol']['thin_provision'] is True and d[0]['driver_specific']['lvol']['num_allocated_clusters'] == 0"
rpc bdev_lvol_get_lvols
check "sorted(l['name'] for l in d) == ['odd0', 'thick0', 'thin0']"
check "[l for l in d if l['name'] == 'thin0'][0] == {'alias': 'lvs_m/thin0', 'uuid': '$THIN', 'name': 'thin0', 'is_thin_provisioned': True, 'is_snapshot': False, 'is_clone': False, 'is_esnap_clone': False, 'is_degraded': False, 'num_allocated_clusters': 0, 'lvs': {'name': 'lvs_m', 'uuid': '$LVS_M'}}"
rpc bdev_lvol_get_lvols -l lvs_m
check "len(d) == 3"
rpc bdev_lvol_get_lvstores -l lvs_m
check "d[0]['free_clusters'] == d[0]['total_data_clusters'] - 11"
echo "ok: thick and thin lvols ($THICK, $THIN), bdev_get_bdevs and get_lvols fields"

# 3. Refusals, with SPDK's codes; the target stays up.
refused -17 bdev_lvol_create -l lvs_m thick0 4
refused -19 bdev_lvol_create -l nosuch x 4
refused -19 bdev_lvol_create -u 00000000-1111-2222-3333-444444444444 x 4
refused -22 bdev_lvol_create x 4
refused -32602 bdev_lvol_create -l lvs_m big 1024
refused -1 bdev_lvol_create_lvstore Malloc0 other
refused -19 bdev_lvol_create_lvstore NoSuchBdev other
rpc bdev_malloc_create -b Malloc1 16 4096
refused -17 bdev_lvol_create_lvstore Malloc1 lvs_m
refused -22 bdev_lvol_create_lvstore Malloc1 ""
refused -19 bdev_lvol_delete_lvstore -l nosuch
refused -22 bdev_lvol_delete_lvstore
refused -19 bdev_lvol_get_lvstores -l nosuch
refused -19 bdev_lvol_get_lvols -l nosuch
refused -19 bdev_lvol_snapshot lvs_m/nosuch s
refused -19 bdev_lvol_snapshot Malloc1 s
refused -19 bdev_lvol_delete lvs_m/nosuch
refused -19 bdev_lvol_resize lvs_m/nosuch 4
refused -32602 bdev_lvol_resize lvs_m/thick0 1024
refused -2 bdev_lvol_rename_lvstore nosuch x
rpc bdev_get_bdevs -b Malloc1
check "d[0]['claimed'] is False"
echo "ok: duplicate, unknown, too large and claimed refused with SPDK's codes"

# 4. Snapshot, clone, rename, resize, inflate, decouple, read-only.
rpc bdev_lvol_snapshot lvs_m/thick0 snap0
SNAP=$(tr -d '"\n' <"$TMP/reply")
rpc bdev_get_bdevs -b lvs_m/snap0
check "d[0]['name'] == '$SNAP' and d[0]['driver_specific']['lvol']['snapshot'] is True and d[0]['driver_specific']['lvol']['clones'] == ['thick0'] and not d[0]['supported_io_types']['write']"
rpc bdev_get_bdevs -b lvs_m/thick0
check "d[0]['driver_specific']['lvol']['clone'] is True and d[0]['driver_specific']['lvol']['base_snapshot'] == 'snap0' and d[0]['driver_specific']['lvol']['num_allocated_clusters'] == 0"
rpc bdev_lvol_clone lvs_m/snap0 clone0
rpc bdev_get_bdevs -b lvs_m/snap0
check "sorted(d[0]['driver_specific']['lvol']['clones']) == ['clone0', 'thick0']"
refused -32602 bdev_lvol_clone lvs_m/thin0 c1
refused -32602 bdev_lvol_snapshot lvs_m/thin0 clone0
refused -32603 bdev_lvol_delete lvs_m/snap0
rpc bdev_lvol_rename lvs_m/clone0 clone1
rpc bdev_get_bdevs -b lvs_m/clone1
check "d[0]['aliases'] == ['lvs_m/clone1']"
refused -32602 bdev_lvol_rename lvs_m/clone1 thin0
rpc bdev_lvol_resize lvs_m/thin0 40
rpc bdev_get_bdevs -b lvs_m/thin0
check "d[0]['num_blocks'] == 40 * 256"
rpc bdev_lvol_inflate lvs_m/clone1
rpc bdev_get_bdevs -b lvs_m/clone1
check "d[0]['driver_specific']['lvol']['clone'] is False and d[0]['driver_specific']['lvol']['thin_provision'] is False and d[0]['driver_specific']['lvol']['num_allocated_clusters'] == 8"
rpc bdev_lvol_decouple_parent lvs_m/thick0
rpc bdev_get_bdevs -b lvs_m/thick0
check "d[0]['driver_specific']['lvol']['clone'] is False"
rpc bdev_lvol_set_read_only lvs_m/odd0
rpc bdev_get_bdevs -b lvs_m/odd0
check "d[0]['supported_io_types']['write'] is False and d[0]['supported_io_types']['read'] is True"
rpc bdev_lvol_rename_lvstore lvs_m lvs_n
rpc bdev_get_bdevs -b "$THIN"
check "d[0]['aliases'] == ['lvs_n/thin0']"
rpc bdev_lvol_get_lvols -l lvs_n
check "len(d) == 5 and all(l['alias'].startswith('lvs_n/') for l in d)"
echo "ok: snapshot, clone, rename, resize, inflate, decouple, read-only, lvstore rename"

# 5. Deletes: an lvol, then the whole lvstore (its base bdev free again).
rpc bdev_lvol_delete lvs_n/clone1
rpc bdev_lvol_delete "$SNAP"
rpc bdev_get_bdevs -b lvs_n/thick0
check "d[0]['driver_specific']['lvol']['clone'] is False"
refused -19 bdev_get_bdevs -b lvs_n/snap0
rpc bdev_lvol_delete_lvstore -l lvs_n
rpc bdev_lvol_get_lvstores
check "d == []"
refused -19 bdev_get_bdevs -b "$THICK"
rpc bdev_get_bdevs -b Malloc0
check "d[0]['claimed'] is False"
rpc bdev_lvol_create_lvstore Malloc0 again
rpc bdev_lvol_delete_lvstore -u "$(tr -d '"\n' <"$TMP/reply")"
echo "ok: bdev_lvol_delete, bdev_lvol_delete_lvstore by name and by uuid"

# 6. An lvstore on an aio file; save_config holds no lvol entry.
truncate -s 128M "$TMP/aio.img"
rpc bdev_aio_create "$TMP/aio.img" aio0 4096
rpc bdev_lvol_create_lvstore aio0 lvs0
LVS0=$(tr -d '"\n' <"$TMP/reply")
rpc bdev_lvol_create -l lvs0 thick0 16
THICK0=$(tr -d '"\n' <"$TMP/reply")
rpc bdev_lvol_create -l lvs0 -t thin0 32
rpc save_config
check "not any(e['method'].startswith('bdev_lvol') for s in d['subsystems'] if s['subsystem'] == 'bdev' for e in s['config'])"
stop_tgt
# The shutdown unloads the store before its base bdev goes: the super block says clean.
clean=$(od -A n -t u4 -j 16 -N 4 "$TMP/aio.img" | tr -d ' ')
[ "$clean" = 1 ] || fail "lvs0 not marked clean after the target stopped (clean=$clean)"
echo "ok: lvstore lvs0 on an aio file with thick0 and thin0, target stopped, store clean"

# 7. Data through spio_dd, into and out of lvs0/thick0 and lvs0/thin0.
cat >"$TMP/dd.json" <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_aio_create", "params": {"name": "aio0", "filename": "$TMP/aio.img", "block_size": 4096}},
  {"method": "bdev_wait_for_examine"}
]}]}
EOF
dd_run() {
	timeout 120 "$DD" --json "$TMP/dd.json" --no-huge "$@" >"$TMP/dd.out" 2>"$TMP/dd.err" ||
		fail "spio_dd $*: $(cat "$TMP/dd.err")"
}
mkpat thick0 $((16 * MiB)) "$TMP/thick0.bin"
mkpat thin0 $((5 * MiB)) "$TMP/thin0.bin"
dd_run --if="$TMP/thick0.bin" --ob=lvs0/thick0 --bs=4096
dd_run --if="$TMP/thin0.bin" --ob=lvs0/thin0 --bs=4096 --seek=1536
dd_run --ib=lvs0/thick0 --of="$TMP/thick0.out" --bs=4096
cmp "$TMP/thick0.bin" "$TMP/thick0.out" || fail "lvs0/thick0 read back differs from what was written"
# 1024 I/Os in flight: more than a store channel's 512 blob operations, so
# some wait in the lvol's channel and go again as others complete.
dd_run --if="$TMP/thick0.bin" --ob=lvs0/thick0 --bs=4096 --qd=1024
dd_run --ib=lvs0/thick0 --of="$TMP/thick0.out" --bs=4096 --qd=1024
cmp "$TMP/thick0.bin" "$TMP/thick0.out" || fail "lvs0/thick0 at queue depth 1024 differs"
dd_run --ib="$THICK0" --of="$TMP/thin0.out" --bs=4096 --count=1
cmp -n 4096 "$TMP/thick0.bin" "$TMP/thin0.out" || fail "thick0 by its uuid name differs"
dd_run --ib=lvs0/thin0 --of="$TMP/thin0.out" --bs=4096
cmp -i 0:$((6 * MiB)) -n $((5 * MiB)) "$TMP/thin0.bin" "$TMP/thin0.out" ||
	fail "lvs0/thin0 bytes 6 MiB.. differ"
cmp -n $((6 * MiB)) /dev/zero "$TMP/thin0.out" || fail "lvs0/thin0 before 6 MiB is not zero"
echo "ok: spio_dd wrote and read back lvs0/thick0 (16 MiB, also at queue depth 1024) and lvs0/thin0 (5 MiB at 6 MiB)"

# 8. A target with only bdev_aio_create: the lvols come back by examine.
cat >"$TMP/tgt.json" <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_aio_create", "params": {"name": "aio0", "filename": "$TMP/aio.img", "block_size": 4096}}
]}]}
EOF
start_tgt -c "$TMP/tgt.json"
rpc bdev_wait_for_examine
rpc bdev_lvol_get_lvstores
check "len(d) == 1 and d[0]['uuid'] == '$LVS0' and d[0]['name'] == 'lvs0' and d[0]['base_bdev'] == 'aio0' and d[0]['cluster_size'] == 4 << 20"
rpc bdev_get_bdevs
check "sorted(a for b in d if b['product_name'] == 'Logical Volume' for a in b['aliases']) == ['lvs0/thick0', 'lvs0/thin0']"
rpc bdev_get_bdevs -b lvs0/thick0
check "d[0]['name'] == '$THICK0' and d[0]['num_blocks'] == 4096"
rpc bdev_get_bdevs -b lvs0/thin0
check "d[0]['driver_specific']['lvol']['num_allocated_clusters'] == 2"
rpc bdev_lvol_get_lvols
check "len(d) == 2"
echo "ok: restarted with only bdev_aio_create, lvs0 and its lvols came back by examine"

# Hot remove of the base bdev takes the lvol bdevs and the lvstore with it;
# the same file again brings them back.
rpc bdev_aio_delete aio0
rpc bdev_get_bdevs
check "d == []"
rpc bdev_lvol_get_lvstores
check "d == []"
rpc bdev_aio_create "$TMP/aio.img" aio0 4096
rpc bdev_wait_for_examine
rpc bdev_get_bdevs -b lvs0/thin0
check "d[0]['driver_specific']['lvol']['num_allocated_clusters'] == 2"
echo "ok: bdev_aio_delete of the base removed lvs0 and its lvol bdevs; examine brought them back"
stop_tgt
dd_run --ib=lvs0/thick0 --of="$TMP/thick0.out" --bs=4096
cmp "$TMP/thick0.bin" "$TMP/thick0.out" || fail "lvs0/thick0 differs after the restarts"

# 9. SPDK's lvol-basic image.
DATA=${SPIO_TESTDATA:-$(sed -n 's/^SPIO_TESTDATA_DIR:PATH=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)}
DATA=${DATA:-/work/shared/testdata/spdk}
if [ ! -f "$DATA/lvol-basic.img.gz" ] || [ ! -f "$DATA/lvol-basic.json" ]; then
	echo "test_lvol_rpc: SKIP (part 9): SPDK's lvol-basic image not in '$DATA' (set SPIO_TESTDATA)"
	echo "PASS: test_lvol_rpc (without the SPDK image)"
	exit 0
fi
gzip -dc "$DATA/lvol-basic.img.gz" >"$TMP/lvol-basic.img" || fail "cannot unpack lvol-basic.img.gz"
sha() {
	python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
print([b for b in m["blobs"] if b.get("lvol", {}).get("name") == sys.argv[2]][0]["sha256"])' \
		"$DATA/lvol-basic.json" "$1"
}
sed "s|$TMP/aio.img|$TMP/lvol-basic.img|" "$TMP/dd.json" >"$TMP/img.json"
for lvol in thick0 thin0; do
	timeout 120 "$DD" --json "$TMP/img.json" --no-huge --ib=lvs0/$lvol --of="$TMP/$lvol.img.out" \
		--bs=4096 >"$TMP/dd.out" 2>"$TMP/dd.err" || fail "spio_dd --ib=lvs0/$lvol: $(cat "$TMP/dd.err")"
	got=$(sha256sum <"$TMP/$lvol.img.out" | cut -d' ' -f1)
	want=$(sha "$lvol")
	[ "$got" = "$want" ] || fail "SPDK image lvs0/$lvol: sha256 $got, manifest says $want"
done
# spio_perf's random reads (no verify) over both lvols, found by examine in the SPDK image.
for lvol in thick0 thin0; do
	timeout 60 "$BUILD/spio_perf" -c "$TMP/img.json" --no-huge -b lvs0/$lvol -q 16 -o 4096 \
		-w randread -t 1 --json >"$TMP/perf.out" 2>"$TMP/perf.err" ||
		fail "spio_perf randread on lvs0/$lvol: $(cat "$TMP/perf.err")"
	python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["total"]; sys.exit(0 if t["ios"] > 0 and t["io_errors"] == 0 else 1)' \
		"$TMP/perf.out" || fail "spio_perf on lvs0/$lvol: no I/O or errors: $(cat "$TMP/perf.out")"
done
sed "s|$TMP/aio.img|$TMP/lvol-basic.img|" "$TMP/tgt.json" >"$TMP/tgt-img.json"
start_tgt -c "$TMP/tgt-img.json"
rpc bdev_wait_for_examine
rpc bdev_lvol_get_lvstores
check "d[0]['uuid'] == 'ab735d52-5a68-451f-b2ca-74179c190846' and d[0]['name'] == 'lvs0' and d[0]['total_data_clusters'] == 31 and d[0]['free_clusters'] == 25 and d[0]['max_growable_size'] == 137271181312"
rpc bdev_lvol_get_lvols
check "sorted((l['name'], l['uuid'], l['num_allocated_clusters']) for l in d) == [('thick0', 'd282c260-048f-45c0-816a-dc408ed58790', 4), ('thin0', '25cea2bd-a247-42aa-9d0a-3e6fa87662cc', 2)]"
stop_tgt
echo "ok: SPDK's lvol-basic image: lvs0 with thick0 and thin0, sha256 of both as the manifest says"
echo "PASS: test_lvol_rpc"
