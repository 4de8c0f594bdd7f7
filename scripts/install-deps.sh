#!/usr/bin/env bash
# Installs the Debian packages spdk-io needs, only those that are missing.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

required=(cmake gcc make pkg-config clang-format liburing-dev libjansson-dev
	  libisal-dev uuid-dev libfuse3-dev libcriterion-dev)
# Used by benchmarks and interop tests when present; their absence only skips those.
optional=(fio)

missing=()
for pkg in "${required[@]}" "${optional[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$pkg")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
