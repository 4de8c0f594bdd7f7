# shellcheck shell=bash
# Sourced by bench/nvme_vs_spdk.sh and bench/nvmf_vs_spdk.sh: one NVMe/TCP
# target on 127.0.0.1 with a null and a malloc subsystem, and the two
# initiators run against it. Needs SRC, BUILD, SPDK_DIR and PORT set; call
# bench_start first.

tgt_pid=

# bench_start NAME: without SPDK_DIR a skip line and exit 0; every program
# needed present (else exit 2); TMP made and removed at exit, with the target.
bench_start() {
	local f
	if [ -z "$SPDK_DIR" ]; then
		echo "{\"bench\":\"$1\",\"skipped\":true,\"reason\":\"no SPDK_DIR given (an SPDK tree built by ../shared/tools/build-spdk.sh)\"}"
		exit 0
	fi
	for f in "$SPDK_DIR/build/bin/spdk_nvme_perf" "$SPDK_DIR/build/bin/nvmf_tgt" \
		"$BUILD/spio_nvme_perf" "$BUILD/spio_tgt"; do
		[ -x "$f" ] || {
			echo "$1: $f not found" >&2
			exit 2
		}
	done
	TMP=$(mktemp -d)
	RPC="python3 $SRC/../shared/clients/spdk-rpc/scripts/rpc.py -s $TMP/tgt.sock"
	[ -f "$SRC/../shared/clients/spdk-rpc/scripts/rpc.py" ] ||
		RPC="python3 /work/shared/clients/spdk-rpc/scripts/rpc.py -s $TMP/tgt.sock"
	trap 'stop_target; rm -rf "$TMP"' EXIT
}

# start_target spio|spdk: pinned to core 0, configured through rpc.py.
start_target() {
	rm -f "$TMP/tgt.sock"
	if [ "$1" = spio ]; then
		"$BUILD/spio_tgt" -r "$TMP/tgt.sock" -m 0x1 >"$TMP/tgt.log" 2>&1 &
	else
		LD_LIBRARY_PATH=$SPDK_DIR/build/lib "$SPDK_DIR/build/bin/nvmf_tgt" -r "$TMP/tgt.sock" \
			-m 0x1 --no-pci --disable-cpumask-locks >"$TMP/tgt.log" 2>&1 &
	fi
	tgt_pid=$!
	for _ in $(seq 100); do
		[ -S "$TMP/tgt.sock" ] && break
		sleep 0.1
	done
	{
		$RPC nvmf_create_transport -t TCP
		$RPC bdev_null_create Null0 1024 4096
		$RPC bdev_malloc_create -b Malloc0 256 4096
		for s in null:Null0 malloc:Malloc0; do
			nqn=nqn.2016-06.io.spdk:${s%%:*}
			$RPC nvmf_create_subsystem "$nqn" -a -s SPIOBENCH0001
			$RPC nvmf_subsystem_add_ns "$nqn" "${s##*:}"
			$RPC nvmf_subsystem_add_listener "$nqn" -t tcp -f ipv4 -a 127.0.0.1 -s "$PORT"
		done
	} >"$TMP/setup.log" 2>&1 || {
		echo "$(basename "$0"): $1 target set-up failed:" >&2
		cat "$TMP/setup.log" "$TMP/tgt.log" >&2
		exit 2
	}
}

stop_target() {
	[ -n "$tgt_pid" ] && kill "$tgt_pid" 2>/dev/null && wait "$tgt_pid" 2>/dev/null
	tgt_pid=
}

# Seconds of CPU (user + system) the target has used so far.
target_cpu_secs() {
	awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$tgt_pid/stat"
}

trid() {
	echo "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:nqn.2016-06.io.spdk:$1"
}

run_spio() { # subsystem qd size workload secs -> IOPS
	"$BUILD/spio_nvme_perf" -r "$(trid "$1")" -q "$2" -o "$3" -w "$4" -t "$5" -c 0x2 --json \
		2>"$TMP/spio.err" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["iops"])'
}

run_spdk() { # subsystem qd size workload secs -> IOPS
	LD_LIBRARY_PATH=$SPDK_DIR/build/lib "$SPDK_DIR/build/bin/spdk_nvme_perf" -r "$(trid "$1")" \
		-q "$2" -o "$3" -w "$4" -t "$5" -c 0x2 >"$TMP/spdk.out" 2>&1
	awk '$1 == "Total" && $2 == ":" { print $3; exit }' "$TMP/spdk.out"
}

# The median of the numbers on stdin, one a line.
median() {
	sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
