#!/usr/bin/env bash
# Installs every Debian 12 package netcrypto needs to build, test, fuzz and benchmark, and to
# build and check its Debian packages (scripts/consumer_test.sh).
# Idempotent: packages already present are not touched and apt-get runs only when something is
# missing. Must run as root (or with sudo available) on a fresh machine.
set -euo pipefail

packages=(
    g++ make cmake ninja-build pkg-config git
    libsodium-dev libexpected-dev libcli11-dev libfmt-dev nlohmann-json3-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    clang clang-format clang-tidy libclang-rt-14-dev llvm-14
    libtoxcore-dev
    debhelper dpkg-dev build-essential lintian
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "setup: all ${#packages[@]} packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
