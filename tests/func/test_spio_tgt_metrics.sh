#!/usr/bin/env bash
# spio_tgt --metrics: a scrape in Prometheus' text format (each sample under
# its family's # HELP / # TYPE lines, counters named *_total, labels bdev,
# thread, lcore); the bdev, thread and reactor counters move by what
# spio_nvme_perf did over NVMe/TCP; bad requests get 400 / 404 / 405 / 431 and
# the server goes on; a silent client does not hold up other scrapes; the
# idle target stays asleep with metrics on; an address in use or a malformed
# one stops start-up with a message naming it; SIGTERM still exits 0.
#
# Usage: test_spio_tgt_metrics.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

NAME=test_spio_tgt_metrics
BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
TGT=$BUILD/spio_tgt
PERF=$BUILD/spio_nvme_perf
TMP=$(mktemp -d /tmp/spio-metrics-test.XXXXXX)
SOCK=/tmp/spio-metrics-test-$$.sock
# shellcheck source=spio_tgt_lib.sh
source "$(dirname "$0")/spio_tgt_lib.sh"

for b in "$TGT" "$PERF"; do
	[ -x "$b" ] || fail "$b not built"
done
command -v python3 >/dev/null || {
	echo "$NAME: SKIP: python3 not found (HTTP client, format checks)"
	exit 77
}
SANITIZED=0
if grep -Eq '^SPIO_SANITIZE:STRING=.+' "$BUILD/CMakeCache.txt" 2>/dev/null; then
	SANITIZED=1
fi

# scrape.py URL OUT: GET the URL, check the exposition format, write
# "name{labels} value" lines to OUT. Fails (exit 1, message) on any breach.
cat >"$TMP/scrape.py" <<'EOF'
import re, sys, urllib.request
url, out = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=10) as r:
    status, ctype, body = r.status, r.headers.get("Content-Type", ""), r.read().decode()
def bad(msg):
    sys.exit(f"{url}: {msg}")
if status != 200:
    bad(f"status {status}")
if not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
    bad(f"Content-Type {ctype!r}, expected text/plain; version=0.0.4")
if not body.endswith("\n"):
    bad("the body does not end with a newline")
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+]+|NaN)$')
types, helped, seen, done = {}, set(), set(), set()
current = None
for line in body.splitlines():
    if line.startswith("# HELP "):
        helped.add(line.split()[2])
        continue
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        if name in types:
            bad(f"second TYPE line for {name}")
        if kind == "counter" and not name.endswith("_total"):
            bad(f"counter {name} not named *_total")
        if current is not None:
            done.add(current)
        types[name], current = kind, name
        continue
    if line.startswith("#"):
        continue
    m = sample.match(line)
    if not m:
        bad(f"malformed sample line {line!r}")
    name = m.group(1)
    if name not in types or name not in helped:
        bad(f"sample {name} without HELP and TYPE before it")
    if name != current or name in done:
        bad(f"sample {name} not grouped under its family")
    if line in seen:
        bad(f"duplicate series {line!r}")
    seen.add(line.rsplit(" ", 1)[0])
with open(out, "w") as f:
    f.write("\n".join(l for l in body.splitlines() if not l.startswith("#")) + "\n")
EOF

# raw.py HOST PORT MODE: send a raw request, print the status line (or "closed").
cat >"$TMP/raw.py" <<'EOF'
import socket, sys, time
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
reqs = {
    "404": b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
    "405": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd",
    "400": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 junk\r\n\r\n",
    "431": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    "hdr400": b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
    "505": b"GET /metrics HTTP/2.0\r\n\r\n",
}
s = socket.create_connection((host, port), timeout=10)
s.sendall(reqs[mode])
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n", 1)[0].decode() if data else "closed")
EOF

# Value of the series $2 (exact "name{labels}") in scrape output $1, or 0.
val() {
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}

MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	fail "no free port"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	fail "no free port"
NQN=nqn.2016-06.io.spdk-io:metrics-test
cat >"$TMP/config.json" <<EOF
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create",
   "params": {"name": "Malloc0", "num_blocks": 65536, "block_size": 512}},
  {"method": "bdev_wait_for_examine"}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true}},
  {"method": "nvmf_subsystem_add_ns",
   "params": {"nqn": "$NQN", "namespace": {"nsid": 1, "bdev_name": "Malloc0"}}},
  {"method": "nvmf_subsystem_add_listener",
   "params": {"nqn": "$NQN", "listen_address": {"trtype": "TCP", "adrfam": "IPv4",
              "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}]}]}
EOF
HOST_CORE=0x1
[ "$(nproc)" -ge 2 ] && HOST_CORE=0x2
URL=http://127.0.0.1:$MPORT/metrics

# 1. Bad addresses stop start-up before anything runs.
for addr in "localhost:80" "127.0.0.1" "127.0.0.1:70000" "[::1]80"; do
	"$TGT" -m 0x1 -r "$SOCK" --no-huge --metrics "$addr" >"$TMP/o" 2>"$TMP/e"
	rc=$?
	[ "$rc" -eq 2 ] || fail "--metrics $addr: exit $rc, expected 2"
	grep -qF -- "--metrics $addr" "$TMP/e" || fail "--metrics $addr: message does not name it: $(cat "$TMP/e")"
done
echo "ok: malformed --metrics addresses -> exit 2 naming them"

# 2. Start, scrape, check the families.
start_tgt -c "$TMP/config.json" --metrics "127.0.0.1:$MPORT"
grep -q "^spio_tgt: metrics on $URL\$" "$TMP/out" || fail "no 'metrics on $URL' line"
python3 "$TMP/scrape.py" "$URL" "$TMP/m0" 2>"$TMP/err" || fail "scrape: $(cat "$TMP/err")"
for series in 'spio_bdev_read_ops_total{bdev="Malloc0"}' 'spio_bdev_write_bytes_total{bdev="Malloc0"}' \
	'spio_bdev_read_latency_ticks_total{bdev="Malloc0"}' 'spio_reactor_busy_ticks_total{lcore="0"}' \
	'spio_reactor_idle_ticks_total{lcore="0"}' 'spio_tick_rate_hz'; do
	grep -q "^$series " "$TMP/m0" || fail "scrape: no series $series in:
$(cat "$TMP/m0")"
done
grep -Eq '^spio_thread_busy_ticks_total\{thread="app_thread",thread_id="[0-9]+"\} [0-9]+$' "$TMP/m0" ||
	fail "scrape: no app_thread busy ticks"
grep -Eq '^spio_thread_idle_ticks_total\{thread="nvmf_tgt_poll_group_[0-9]+",thread_id="[0-9]+"\} ' "$TMP/m0" ||
	fail "scrape: no poll group idle ticks"
echo "ok: scrape in the text format with bdev, thread and reactor families"

# 3. I/O moves the counters by what perf did.
r0=$(val "$TMP/m0" 'spio_bdev_read_ops_total{bdev="Malloc0"}')
w0=$(val "$TMP/m0" 'spio_bdev_write_ops_total{bdev="Malloc0"}')
wb0=$(val "$TMP/m0" 'spio_bdev_write_bytes_total{bdev="Malloc0"}')
l0=$(val "$TMP/m0" 'spio_bdev_read_latency_ticks_total{bdev="Malloc0"}')
b0=$(val "$TMP/m0" 'spio_reactor_busy_ticks_total{lcore="0"}')
timeout 120 "$PERF" -r "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN" \
	-c "$HOST_CORE" --no-huge --json -q 8 -o 4096 -w randrw -M 50 -t 2 >"$TMP/perf.json" \
	2>"$TMP/perf.err" || fail "spio_nvme_perf: $(tail -5 "$TMP/perf.err")"
preads=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["reads"])' "$TMP/perf.json") ||
	fail "perf --json: no total reads"
pwrites=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["writes"])' "$TMP/perf.json")
python3 "$TMP/scrape.py" "$URL" "$TMP/m1" 2>"$TMP/err" || fail "scrape after I/O: $(cat "$TMP/err")"
r1=$(val "$TMP/m1" 'spio_bdev_read_ops_total{bdev="Malloc0"}')
w1=$(val "$TMP/m1" 'spio_bdev_write_ops_total{bdev="Malloc0"}')
wb1=$(val "$TMP/m1" 'spio_bdev_write_bytes_total{bdev="Malloc0"}')
l1=$(val "$TMP/m1" 'spio_bdev_read_latency_ticks_total{bdev="Malloc0"}')
b1=$(val "$TMP/m1" 'spio_reactor_busy_ticks_total{lcore="0"}')
[ "$preads" -gt 0 ] && [ "$pwrites" -gt 0 ] || fail "perf did no I/O: $preads reads, $pwrites writes"
[ $((r1 - r0)) -eq "$preads" ] || fail "read ops moved by $((r1 - r0)), perf read $preads"
[ $((w1 - w0)) -eq "$pwrites" ] || fail "write ops moved by $((w1 - w0)), perf wrote $pwrites"
[ $((wb1 - wb0)) -eq $((pwrites * 4096)) ] ||
	fail "written bytes moved by $((wb1 - wb0)), expected $((pwrites * 4096))"
[ "$l1" -gt "$l0" ] || fail "read latency ticks did not move ($l0 -> $l1)"
[ "$b1" -gt "$b0" ] || fail "reactor 0 busy ticks did not move ($b0 -> $b1)"
echo "ok: counters moved with I/O (reads +$((r1 - r0)), writes +$((w1 - w0)) as perf did)"

# 4. Bad requests, and the server goes on.
for mode in 404 405 400 431 hdr400 505; do
	want=${mode#hdr}
	line=$(python3 "$TMP/raw.py" 127.0.0.1 "$MPORT" "$mode" 2>&1) || fail "raw $mode: $line"
	case "$line" in
	"HTTP/1.1 $want "*) ;;
	*) fail "request '$mode': expected HTTP/1.1 $want, got '$line'" ;;
	esac
done
# A silent client and a half-sent one hold no scrape up.
exec 7<>"/dev/tcp/127.0.0.1/$MPORT" || fail "cannot connect to the metrics port"
printf 'GET /metr' >&7
exec 8<>"/dev/tcp/127.0.0.1/$MPORT" || fail "cannot connect to the metrics port"
t0=$(date +%s%N)
python3 "$TMP/scrape.py" "$URL" "$TMP/m2" 2>"$TMP/err" || fail "scrape beside slow clients: $(cat "$TMP/err")"
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "scrape beside slow clients took $(((t1 - t0) / 1000000)) ms"
exec 7>&- 8>&-
echo "ok: bad requests -> 400/404/405/431/505, slow clients block nothing"

# 5. Idle with metrics on: the target sleeps (as test_spio_tgt checks without).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
sleep 0.5
c0=$(cpu_ticks)
sleep 2
c1=$(cpu_ticks)
pct=$(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", 100 * d / hz / 2 }')
if [ "$SANITIZED" -eq 0 ] && awk -v p="$pct" 'BEGIN { exit !(p >= 5) }'; then
	fail "idle CPU with --metrics: $pct % >= 5 %"
fi
echo "ok: idle CPU with --metrics: $pct % over 2 s"

# 6. The port in use: a second target fails at start-up, naming the address.
"$TGT" -m 0x1 -r "$TMP/second.sock" --no-huge --metrics "127.0.0.1:$MPORT" >"$TMP/o2" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "second target on the same metrics port: exit 0"
grep -q "127.0.0.1:$MPORT" "$TMP/o2" && grep -qi "address already in use" "$TMP/o2" ||
	fail "port in use: the message must name the address and the reason:
$(cat "$TMP/o2")"
[ ! -e "$TMP/second.sock" ] || fail "the failed target left its RPC socket behind"
echo "ok: metrics port in use -> exit $rc naming it"

stop_tgt
echo "ok: SIGTERM -> exit 0"
echo "$NAME: PASS"
