#!/usr/bin/env bash
# Manual acceptance check of the Debian packages on a fresh Debian 12 (not part of CI: it
# downloads a base system). Creates (once) a minimal bookworm root with debootstrap, installs
# the .debs there with apt (which fetches libsodium23 & co. from the mirror), runs the tool, the
# manual page and the bash completion, and builds and runs both consumers of tests/consumer.
# Every command and its output go to stdout and to build/fresh_debian_check.log.
# Run as root after scripts/consumer_test.sh (it leaves the packages in build/debs/).
# Usage: [NETCRYPTO_FRESH_BUILD=1] scripts/fresh_debian_check.sh [DEB_DIR (build/debs)] [ROOT (/var/tmp/bookworm)]
set -euo pipefail
cd "$(dirname "$0")/.."
debs=$(cd "${1:-build/debs}" && pwd)
root=${2:-/var/tmp/bookworm}
log=build/fresh_debian_check.log
mkdir -p build
exec > >(tee "$log") 2>&1

ls "$debs"/netcrypto_*.deb "$debs"/libnetcrypto0_*.deb "$debs"/libnetcrypto-dev_*.deb >/dev/null
# The machine's Debian mirror (deb822 "URIs:" or one-line "deb URI bookworm main").
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *\([^ ]*\).*/\1/p' |
    grep -v security | head -n 1)
[[ -n "$mirror" ]] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) bookworm .*/\2/p' \
    /etc/apt/sources.list 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
echo "# mirror: $mirror, root: $root"

command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
if [[ ! -x "$root/usr/bin/apt-get" ]]; then
    echo "\$ debootstrap --variant=minbase bookworm $root $mirror"
    debootstrap --variant=minbase bookworm "$root" "$mirror" | tail -n 3
fi

mounted=()
cleanup() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" || true; done
}
trap cleanup EXIT
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
mount --bind /dev/pts "$root/dev/pts" && mounted+=("$root/dev/pts")
cp /etc/resolv.conf "$root/etc/resolv.conf"
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"

rm -rf "$root/tmp/nc" && mkdir -p "$root/tmp/nc"
cp "$debs"/netcrypto_*.deb "$debs"/libnetcrypto*.deb "$root/tmp/nc/"
cp -r tests/consumer/find_package tests/consumer/pkg_config "$root/tmp/nc/"
cp tests/consumer/handshake.cpp "$root/tmp/nc/find_package/"
cp tests/consumer/handshake.cpp "$root/tmp/nc/pkg_config/"

cat >"$root/tmp/nc/check.sh" <<'EOF'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
cd /tmp/nc
run() { echo "\$ $*" >&2; "$@"; }
run cat /etc/debian_version
run apt-get update -q
run apt-get install -y -q --no-install-recommends ./netcrypto_*.deb ./libnetcrypto*.deb
run dpkg -l netcrypto libnetcrypto0 libnetcrypto-dev libsodium23
run netcrypto --version
run netcrypto demo --bytes 10000000
run apt-get install -y -q --no-install-recommends man-db bash-completion >/dev/null
echo '$ man netcrypto | head -n 20'
MANWIDTH=80 man netcrypto 2>&1 | head -n 20
echo '$ bash: netcrypto l<TAB>, netcrypto listen --o<TAB>, netcrypto id --key /tmp/nc/netc<TAB>'
bash -c '
    source /usr/share/bash-completion/bash_completion
    _completion_loader netcrypto
    complete -p netcrypto
    tab() {
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
        _netcrypto netcrypto "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        echo "$* <TAB> -> ${COMPREPLY[*]}"
    }
    tab netcrypto l
    tab netcrypto listen --o
    tab netcrypto id --key /tmp/nc/netc
    tab netcrypto l | grep -q "> listen$"'
run apt-get install -y -q --no-install-recommends g++ cmake make pkg-config >/dev/null
run cmake -S find_package -B find_package/build
run cmake --build find_package/build
run find_package/build/handshake
run make -C pkg_config
run pkg_config/handshake
echo '$ ldd find_package/build/handshake pkg_config/handshake | grep netcrypto'
ldd find_package/build/handshake pkg_config/handshake | grep -E 'handshake|netcrypto'
echo "fresh Debian 12 check: all passed"
EOF
chroot "$root" /bin/bash /tmp/nc/check.sh

# NETCRYPTO_FRESH_BUILD=1: also build the packages there from `git archive HEAD` with only the
# Build-Depends installed (apt-get build-dep), as a Debian user or buildd would (~15 min).
if [[ "${NETCRYPTO_FRESH_BUILD:-0}" == 1 ]]; then
    rm -rf "$root/tmp/src" && mkdir -p "$root/tmp/src/netcrypto"
    git archive HEAD | tar -x -C "$root/tmp/src/netcrypto"
    cat >"$root/tmp/src/build.sh" <<'EOF'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
run() { echo "\$ $*" >&2; "$@"; }
cd /tmp/src/netcrypto
run apt-get purge -y -q netcrypto libnetcrypto0 libnetcrypto-dev libsodium-dev libexpected-dev \
    g++ cmake make pkg-config >/dev/null
run apt-get autoremove -y -q --purge >/dev/null
run apt-get build-dep -y -q ./ >/dev/null
start=$SECONDS
DEB_BUILD_OPTIONS=parallel=$(nproc) run dpkg-buildpackage -us -uc -b >../build.log 2>&1 ||
    { tail -n 50 ../build.log; exit 1; }
echo "dpkg-buildpackage: $((SECONDS - start)) s"
grep -E "tests passed|Total Test time|interop" ../build.log
ls -l ../*.deb
EOF
    chroot "$root" /bin/bash /tmp/src/build.sh
fi
