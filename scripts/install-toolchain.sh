#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install-toolchain.sh - make sure every host tool uklkl's builds run is there;
# install what is missing from Debian's packages.
#   scripts/install-toolchain.sh            clang/lld/llvm (the pinned major) for wasm32
#   scripts/install-toolchain.sh --kernel   the same, plus linux-source-6.12 and every
#                                           tool the kernel's make runs
#   scripts/install-toolchain.sh --test-tools
#                                           only the tests' tools: e2fsprogs,
#                                           dosfstools, mtools, fdisk (sfdisk), git, passt,
#                                           btrfs-progs, xfsprogs and wasi-libc
# It checks what the builds actually run (each command with `command -v`, each
# header or file by its path), not which packages are registered, so a tool that
# no package list named cannot go missing unnoticed. What is missing goes into one
# apt-get update + install. Without root and without usable sudo it names the
# packages and exits 1; on a machine without apt-get it names what is missing.
# Limits: e2fsprogs, dosfstools and fdisk put their tools in /usr/sbin, which Debian
# leaves off a non-root user's PATH; callers put it there (test/support/images.ts),
# as this script looks only on PATH.
set -euo pipefail

LLVM_MAJOR=19   # pinned: keep in step with scripts/toolchain.ts

mode=wasm32
if [[ "${1:-}" == "--kernel" && $# -eq 1 ]]; then
	mode=kernel
elif [[ "${1:-}" == "--test-tools" && $# -eq 1 ]]; then
	mode=test-tools
elif [[ $# -gt 0 ]]; then
	echo "usage: $0 [--kernel | --test-tools]" >&2
	exit 2
fi

# Every check names the Debian package that provides what it checks.
missing_packages=()
missing_what=()
need() { # need PACKAGE WHAT: record a missing item (each package once)
	missing_what+=("$2")
	local p
	for p in "${missing_packages[@]}"; do [[ $p == "$1" ]] && return; done
	missing_packages+=("$1")
}
command_from() { command -v "$2" >/dev/null 2>&1 || need "$1" "$2"; }   # command_from PACKAGE COMMAND
file_from() { [[ -e $2 ]] || need "$1" "$2"; }                           # file_from PACKAGE PATH

check_all() {
	missing_packages=()
	missing_what=()
	if [[ $mode == test-tools ]]; then
		# The disk tests' oracles (test/support/images.ts): they build, check and read
		# back images with tools nobody on the project wrote.
		command_from e2fsprogs mke2fs
		command_from e2fsprogs e2fsck
		command_from e2fsprogs debugfs
		command_from dosfstools mkfs.vfat
		command_from dosfstools fsck.vfat
		command_from mtools mcopy
		command_from mtools mdir
		command_from fdisk sfdisk     # MBR and GPT partition tables
		command_from git git          # the host's git checks repositories written through k.fs
		command_from passt passt      # passtNic: the kernel's way out to the host's network
		command_from btrfs-progs mkfs.btrfs   # the btrfs and xfs fragments' images (fragments.test.ts)
		command_from btrfs-progs btrfs        # btrfs check --readonly, btrfs restore
		command_from xfsprogs mkfs.xfs
		command_from xfsprogs xfs_repair      # xfs_repair -n
		file_from wasi-libc /usr/lib/wasm32-wasi/libc.a   # the WASI tests' C programs (wasi.test.ts, clang --sysroot=/usr)
		return 0
	fi

	# Fixtures and the kernel: compile and link for wasm32, plus clang's wasm32 runtime.
	command_from clang-$LLVM_MAJOR clang-$LLVM_MAJOR
	command_from lld-$LLVM_MAJOR wasm-ld-$LLVM_MAJOR
	command_from llvm-$LLVM_MAJOR llvm-ar-$LLVM_MAJOR
	file_from libclang-rt-$LLVM_MAJOR-dev-wasm32 \
		/usr/lib/llvm-$LLVM_MAJOR/lib/clang/$LLVM_MAJOR/lib/wasi/libclang_rt.builtins-wasm32.a
	[[ $mode == kernel ]] || return 0

	# The kernel build: make with LLVM=-$LLVM_MAJOR, so the kernel's own host programs
	# (fixdep, kconfig, unifdef) are compiled by clang-$LLVM_MAJOR too, not gcc.
	command_from lld-$LLVM_MAJOR ld.lld-$LLVM_MAJOR
	command_from llvm-$LLVM_MAJOR llvm-nm-$LLVM_MAJOR
	command_from llvm-$LLVM_MAJOR llvm-objcopy-$LLVM_MAJOR
	command_from llvm-$LLVM_MAJOR llvm-strip-$LLVM_MAJOR
	command_from llvm-$LLVM_MAJOR llvm-readelf-$LLVM_MAJOR
	file_from linux-source-6.12 /usr/src/linux-source-6.12.tar.xz
	command_from tar tar              # extracts the source tarball
	command_from xz-utils xz          # tar -J runs it
	command_from patch patch          # applies wasm/patches
	command_from make make
	command_from bc bc                # kernel/time/timeconst.bc
	command_from flex flex            # kconfig's lexer
	command_from bison bison          # kconfig's parser
	command_from perl perl            # scripts of the kernel build
	command_from mawk awk             # the syscall table and header scripts
	command_from rsync rsync          # headers_install
	file_from libelf-dev /usr/include/libelf.h
	file_from libssl-dev /usr/include/openssl/ssl.h
}

check_all
[[ ${#missing_packages[@]} -eq 0 ]] && exit 0

listed() { local IFS=,; echo "${*}" | sed 's/,/, /g'; }   # a, b, c
echo "uklkl: missing $(listed "${missing_what[@]}") (Debian packages: ${missing_packages[*]})" >&2
if ! command -v apt-get >/dev/null 2>&1; then
	echo "uklkl: no apt-get here: install the equivalents of these Debian packages and rerun: ${missing_packages[*]}" >&2
	exit 1
fi
as_root=()
if [[ $(id -u) -ne 0 ]]; then
	# sudo asks for a password on the controlling terminal: usable if it needs none or there is one.
	if command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || { : </dev/tty; } 2>/dev/null; }; then
		as_root=(sudo)
	else
		echo "uklkl: not root and no usable sudo: as root, run" >&2
		echo "    apt-get update && apt-get install -y --no-install-recommends ${missing_packages[*]}" >&2
		echo "then rerun" >&2
		exit 1
	fi
fi
installing=("${missing_packages[@]}")
echo "uklkl: installing Debian packages: ${installing[*]}" >&2
# A fresh machine has no package lists yet: refresh them once, then one install.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends "${installing[@]}" >/dev/null

# A package that installed but did not bring its tool means the mapping above is wrong.
check_all
if [[ ${#missing_packages[@]} -gt 0 ]]; then
	echo "uklkl: still missing after the install: $(listed "${missing_what[@]}")" >&2
	exit 1
fi
echo "uklkl: installed ${installing[*]}" >&2
