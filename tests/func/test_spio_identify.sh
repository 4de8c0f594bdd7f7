#!/usr/bin/env bash
# spio_identify against SPDK's own output: the raw Identify pages SPDK's
# spdk_nvme_identify read in a capture (tcp-nodigest.pcap) are extracted by
# identify_from_pcap.py, decoded by spio_identify's offline mode, and every
# identify section of the result is compared with the same section of SPDK's
# printout of that session (tcp-nodigest.identify.txt). The same again from
# the digest capture's perf admin connection (PDUs with header and data
# digests), then --json, bad input, and (when it is built) a live controller
# and discovery controller: the fake target build/tests/fake_nvmf_tgt.
#
# Usage: test_spio_identify.sh BUILD_DIR SOURCE_DIR
# Test data: $SPIO_TESTDATA, else /work/shared/testdata/spdk (skips without it).
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
NAME=test_spio_identify
IDENTIFY=$BUILD/spio_identify
EXTRACT=$SRC/tests/func/identify_from_pcap.py
DATA=${SPIO_TESTDATA:-/work/shared/testdata/spdk}/nvme-tcp
FAKE=$BUILD/tests/fake_nvmf_tgt
TMP=$(mktemp -d /tmp/spio-identify-test.XXXXXX)
FAKE_PID=

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/err" ] && sed 's/^/  stderr: /' "$TMP/err" >&2
	exit 1
}

cleanup() {
	if [ -n "$FAKE_PID" ] && kill -0 "$FAKE_PID" 2>/dev/null; then
		kill -KILL "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

skip() {
	echo "$NAME: SKIP: $*"
	exit 77
}

command -v python3 >/dev/null || skip "python3 not found"
for f in tcp-nodigest.pcap tcp-nodigest.identify.txt tcp-digest.pcap tcp-digest.identify.txt; do
	[ -r "$DATA/$f" ] || skip "no test data $DATA/$f (set SPIO_TESTDATA)"
done
[ -x "$IDENTIFY" ] || fail "$IDENTIFY not built"

# The sections spio_identify prints from saved pages, in SPDK's order.
SECTIONS=(
	"Controller Capabilities/Features"
	"Controller Memory Buffer Support"
	"Persistent Memory Region Support"
	"Admin Command Set Attributes"
	"NVM Command Set Attributes"
	"Active Namespaces"
)

# Print the section titled $2 of file $1: the title, its '=' underline and
# every line up to the next title (a line underlined by as many '=').
section() {
	awk -v want="$2" '
		{ line[NR] = $0 }
		END {
			for (i = 1; i <= NR; i++) {
				title[i] = (i < NR && line[i] !~ /^=+$/ && line[i + 1] ~ /^=+$/ &&
					    length(line[i]) == length(line[i + 1]))
			}
			on = 0
			for (i = 1; i <= NR; i++) {
				if (title[i]) {
					on = (line[i] == want)
				}
				if (on) {
					print line[i]
				}
			}
		}' "$1"
}

# Titles of the sections of file $1, one a line.
titles() {
	awk '{ line[NR] = $0 }
	     END { for (i = 1; i < NR; i++)
		     if (line[i] !~ /^=+$/ && line[i + 1] ~ /^=+$/ && length(line[i]) == length(line[i + 1]))
			     print line[i] }' "$1"
}

# Compare spio_identify's decoding of the pages of capture $1 (connection $2)
# with SPDK's printout $3.
compare_capture() {
	local pcap=$1 conn=$2 spdk=$3 tag=$4 s ours theirs

	python3 "$EXTRACT" "$DATA/$pcap" "$TMP/$tag" --connection "$conn" >"$TMP/$tag.args" 2>"$TMP/err" ||
		fail "$tag: identify_from_pcap.py $pcap --connection $conn failed"
	for opt in --ctrlr-data --ns-data --ns-desc --cap --vs --num-io-queues; do
		grep -q -- "^$opt " "$TMP/$tag.args" ||
			fail "$tag: identify_from_pcap.py found nothing for $opt in $pcap"
	done
	# shellcheck disable=SC2046 # one option or value per word
	"$IDENTIFY" $(cat "$TMP/$tag.args") >"$TMP/$tag.out" 2>"$TMP/err" ||
		fail "$tag: spio_identify on the extracted pages: exit $?"
	titles "$TMP/$tag.out" >"$TMP/$tag.titles"
	printf '%s\n' "${SECTIONS[@]}" | diff -u - "$TMP/$tag.titles" >"$TMP/$tag.diff" ||
		fail "$tag: sections printed (+) differ from the identify sections (-):
$(cat "$TMP/$tag.diff")"
	for s in "${SECTIONS[@]}"; do
		ours=$TMP/$tag.ours
		theirs=$TMP/$tag.theirs
		section "$TMP/$tag.out" "$s" >"$ours"
		section "$DATA/$spdk" "$s" >"$theirs"
		[ -s "$theirs" ] || fail "$tag: SPDK's $spdk has no section '$s'"
		if [ "$s" = "Active Namespaces" ]; then
			# SPDK reads this line with Get Features (Error Recovery) per
			# namespace; saved identify pages do not carry it.
			grep -v '^Error Recovery Timeout:' "$theirs" >"$theirs.tmp"
			mv "$theirs.tmp" "$theirs"
		fi
		diff -u "$theirs" "$ours" >"$TMP/$tag.diff" ||
			fail "$tag: section '$s' differs from SPDK's (-) in spio_identify's (+):
$(cat "$TMP/$tag.diff")"
	done
	echo "ok: $tag: ${#SECTIONS[@]} sections identical to SPDK's $spdk"
}

# 1. The identify session of the plain capture (connection 1).
compare_capture tcp-nodigest.pcap 1 tcp-nodigest.identify.txt nodigest

# 2. The perf admin connection of the digest capture (connection 2): the same
# controller, read through PDUs that carry header and data digests.
compare_capture tcp-digest.pcap 2 tcp-digest.identify.txt digest

# 3. JSON of the same pages: one object, fields as decoded.
# shellcheck disable=SC2046
"$IDENTIFY" --json $(cat "$TMP/nodigest.args") >"$TMP/json" 2>"$TMP/err" ||
	fail "--json: exit $?"
python3 - "$TMP/json" <<'PY' || fail "--json: unexpected content: $(head -c 600 "$TMP/json")"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["capabilities"]
ns = d["namespaces"]
checks = [
    (d["live"], False),
    (c["serial_number"], "SPDK00000000000001"),
    (c["model_number"], "SPDK_Controller1"),
    (c["vendor_id"], 0x8086),
    (c["max_queue_entries"], 128),
    (c["reset_timeout_ms"], 15000),
    (c["max_io_queues"], 127),
    (c["version_vs"], "2.0"),
    (c["multipath_io"]["multiple_ports"], True),
    (d["admin_command_set"]["subnqn"], "nqn.2016-06.io.spdk:cnode1"),
    (d["admin_command_set"]["firmware_slots"], None),
    (d["nvm_command_set"]["sgl"]["command_set"], "Supported"),
    (len(ns), 1),
    (ns[0]["nsid"], 1),
    (ns[0]["size_lbas"], 65536),
    (ns[0]["uuid"], "d78ee1fb-fd54-4747-b33a-ff479ad72cad"),
    (ns[0]["lba_formats"][0]["data_size"], 512),
]
bad = [(i, got, want) for i, (got, want) in enumerate(checks) if got != want]
for i, got, want in bad:
    print(f"check {i}: expected {want!r}, got {got!r}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
echo "ok: --json decodes the same pages"

# 4. Bad input: a clear message and exit 1, never a crash.
expect_fail() {
	local what=$1 pattern=$2 rc
	shift 2
	"$IDENTIFY" "$@" >/dev/null 2>"$TMP/err"
	rc=$?
	[ "$rc" -eq 1 ] || fail "$what: exit $rc, expected 1"
	grep -q -- "$pattern" "$TMP/err" || fail "$what: no message matching '$pattern'"
}
head -c 100 "$TMP/nodigest/ctrlr.bin" >"$TMP/short.bin"
expect_fail "short page" "shorter than an identify page" --ctrlr-data "$TMP/short.bin"
expect_fail "missing file" "No such file" --ctrlr-data "$TMP/none.bin"
expect_fail "no source" "give either -r" --json
expect_fail "both sources" "give either -r" -r "trtype:TCP traddr:127.0.0.1 trsvcid:4420" \
	--ctrlr-data "$TMP/nodigest/ctrlr.bin"
expect_fail "bad trid" "not a transport ID" -r "trtype:XYZ traddr:1.2.3.4"
expect_fail "bad nsid" "expected a namespace ID" --ctrlr-data "$TMP/nodigest/ctrlr.bin" \
	--ns-data "0=$TMP/nodigest/ns1.bin"
expect_fail "desc alone" "without --ns-data" --ctrlr-data "$TMP/nodigest/ctrlr.bin" \
	--ns-desc "1=$TMP/nodigest/nsdesc1.bin"
expect_fail "bad cap" "expected a number" --ctrlr-data "$TMP/nodigest/ctrlr.bin" --cap 0xzz
echo "ok: bad input: exit 1 with a message"

# 5. A live controller: the fake target, two namespaces; then its discovery
# controller. Optional: the fake is another program of the tree.
if [ ! -x "$FAKE" ]; then
	echo "note: $FAKE not built: live controller checks left out"
	exit 0
fi
"$FAKE" --port 0 --namespaces 2 >"$TMP/fake.out" 2>"$TMP/fake.err" &
FAKE_PID=$!
for _ in $(seq 100); do
	grep -q '^port ' "$TMP/fake.out" && break
	kill -0 "$FAKE_PID" 2>/dev/null || fail "fake_nvmf_tgt exited: $(cat "$TMP/fake.err")"
	sleep 0.1
done
PORT=$(awk '/^port /{print $2; exit}' "$TMP/fake.out")
[ -n "$PORT" ] || fail "fake_nvmf_tgt printed no 'port N' in 10 s"
SUBNQN=nqn.2016-06.io.spio:fake
TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$SUBNQN"

timeout 60 "$IDENTIFY" -r "$TRID" >"$TMP/live" 2>"$TMP/err" || fail "-r fake: exit $?"
grep -qx "NVMeoF Controller at TCP (addr:127.0.0.1 subnqn:$SUBNQN)" "$TMP/live" ||
	fail "-r fake: no 'NVMeoF Controller at' banner"
titles "$TMP/live" >"$TMP/live.titles"
for s in "${SECTIONS[@]}" "Firmware Slot Information" "Error Log" "Arbitration" \
	"Power Management" "Health Information" "Number of Queues"; do
	grep -qxF "$s" "$TMP/live.titles" || fail "-r fake: no section '$s'"
done
[ "$(grep -c '^Namespace ID:' "$TMP/live")" -eq 2 ] || fail "-r fake: expected 2 namespaces"
timeout 60 "$IDENTIFY" -r "$TRID" --json >"$TMP/live.json" 2>"$TMP/err" ||
	fail "-r fake --json: exit $?"
python3 - "$TMP/live.json" <<'PY' || fail "-r fake --json: unexpected content"
import json, sys
d = json.load(open(sys.argv[1]))
checks = [
    (d["live"], True),
    (d["capabilities"]["serial_number"], "FAKE0001"),
    ([n["nsid"] for n in d["namespaces"]], [1, 2]),
    (d["health"]["temperature_kelvin"] > 0, True),
    ("power_states" in d["power_management"], True),
]
bad = [(i, got, want) for i, (got, want) in enumerate(checks) if got != want]
for i, got, want in bad:
    print(f"check {i}: expected {want!r}, got {got!r}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
echo "ok: live controller: all sections, 2 namespaces, JSON"

timeout 60 "$IDENTIFY" -r "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT" \
	>"$TMP/disc" 2>"$TMP/err" || fail "discovery: exit $?"
section "$TMP/disc" "Discovery Log Page" >"$TMP/disc.log"
grep -q "^NVM Subsystem Qualified Name: *$SUBNQN$" "$TMP/disc.log" ||
	fail "discovery: the log page does not list $SUBNQN"
echo "ok: discovery controller: its log lists $SUBNQN"

# the port, once the fake is gone: refused, exit 1
kill -TERM "$FAKE_PID"
wait "$FAKE_PID"
FAKE_PID=
expect_fail "connection refused" "cannot connect to 127.0.0.1:$PORT" -r "$TRID"
echo "ok: refused connection: exit 1 with a message"
