#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install-toolchain.sh - install the Debian packages uklkl builds with, when missing.
#   scripts/install-toolchain.sh            clang/lld/llvm (the pinned major) for wasm32
#   scripts/install-toolchain.sh --kernel   the same, plus linux-source-6.12 and the
#                                           kernel's host-tool dependencies
# Idempotent: it checks first and runs apt-get only for what is absent. Needs root
# (or sudo) to install; without it, it names the missing packages and exits 1.
set -euo pipefail

LLVM_MAJOR=19   # pinned: keep in step with scripts/toolchain.ts
packages=(clang-$LLVM_MAJOR lld-$LLVM_MAJOR llvm-$LLVM_MAJOR libclang-rt-$LLVM_MAJOR-dev-wasm32)
if [[ "${1:-}" == "--kernel" ]]; then
	packages+=(linux-source-6.12 bc flex bison libelf-dev libssl-dev make perl xz-utils rsync)
elif [[ $# -gt 0 ]]; then
	echo "usage: $0 [--kernel]" >&2
	exit 2
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "uklkl: installing Debian packages: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null; then sudo=(sudo); else
		echo "uklkl: cannot install ${missing[*]}: not root and no sudo; install them and rerun" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them once before installing.
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "uklkl: installed ${missing[*]}" >&2
