# Sourced by the compat tests: sets RPCPY to SPDK's rpc.py (SPIO_SPDK_RPC, else
# ../shared/clients/spdk-rpc next to the source tree), or skips the test
# (exit 77) when it or python3 is missing. Needs SRC.
RPCPY=${SPIO_SPDK_RPC:-}
for cand in "$SRC/../shared/clients/spdk-rpc/scripts/rpc.py" /work/shared/clients/spdk-rpc/scripts/rpc.py; do
	[ -n "$RPCPY" ] && break
	[ -f "$cand" ] && RPCPY=$cand
done
if [ -z "$RPCPY" ] || ! command -v python3 >/dev/null; then
	echo "$(basename "$0" .sh): SKIP: SPDK's rpc.py (SPIO_SPDK_RPC or ../shared/clients/spdk-rpc) or python3 not found"
	exit 77
fi
