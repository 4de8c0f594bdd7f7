#!/usr/bin/env bash
# A short run (20 s) of the spio_tgt soak, tests/soak/tgt_soak.sh: hosts
# connecting and disconnecting with verified I/O, RPCs creating and deleting
# bdevs, lvols and subsystems (one deleted under a host), all at once; then
# SIGTERM -> exit 0, no sanitizer report, no loop error. Checks the JSON
# figures it prints (RSS only reported: too few samples in 20 s). The long
# run is `make soak` (SOAK_S seconds).
#
# Usage: test_tgt_soak.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
NAME=test_tgt_soak

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || {
	echo "$NAME: SKIP: python3 not found (the soak's free port and JSON checks)"
	exit 77
}
for b in spio_tgt spio_rpc spio_nvme_perf spio_identify; do
	[ -x "$BUILD/$b" ] || {
		echo "FAIL: $BUILD/$b not built" >&2
		exit 1
	}
done

OUT=$(mktemp /tmp/spio-tgt-soak-test.XXXXXX)
trap 'rm -f "$OUT"' EXIT
SOAK_S=20 bash "$SRC/tests/soak/tgt_soak.sh" "$BUILD" >"$OUT"
rc=$?
cat "$OUT"
[ "$rc" -eq 0 ] || {
	echo "FAIL: tgt_soak.sh exited with $rc" >&2
	exit 1
}
"$PY" - "$OUT" <<'PY' || exit 1
import json, sys

lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
if len(lines) != 1:
    sys.exit("FAIL: expected one JSON line from tgt_soak.sh, got %d" % len(lines))
d = json.loads(lines[0])
want = ["duration_s", "connections", "ios", "bytes_verified", "rpcs", "rss_start_kib",
        "rss_warm_kib", "rss_end_kib", "errors"]
missing = [k for k in want if k not in d]
if missing:
    sys.exit("FAIL: the figures lack %s" % missing)
bad = []
if d["errors"] != 0:
    bad.append("errors %d, expected 0" % d["errors"])
if d["duration_s"] < 20:
    bad.append("duration_s %d, expected >= 20" % d["duration_s"])
# two host loops, each run an admin and at least one I/O connection
if d["connections"] < 2 * d["perf_runs"]:
    bad.append("connections %d for %d perf runs, expected 2 a run or more"
               % (d["connections"], d["perf_runs"]))
for k in ("ios", "bytes_verified", "rpcs", "churn_iterations", "hot_removes", "identify_runs",
          "rss_start_kib", "rss_end_kib"):
    if not d[k] > 0:
        bad.append("%s %s, expected > 0" % (k, d[k]))
if bad:
    sys.exit("FAIL: " + "; ".join(bad))
print("%s: ok: %d s, %d connections, %d verified I/Os (%d MiB), %d RPCs, RSS %d/%d/%d KiB"
      % ("test_tgt_soak", d["duration_s"], d["connections"], d["ios"], d["bytes_verified"] >> 20,
         d["rpcs"], d["rss_start_kib"], d["rss_warm_kib"], d["rss_end_kib"]))
PY
echo "$NAME: all checks passed"
