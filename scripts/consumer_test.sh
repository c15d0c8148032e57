#!/usr/bin/env bash
# Installs netcrypto and builds two tiny consumers outside the tree against the installed copy:
# tests/consumer/find_package (find_package(netcrypto), links netcrypto::core) and
# tests/consumer/pkg_config (plain `pkg-config --cflags --libs netcrypto`). Each performs one
# in-memory handshake and exits 0 only when both endpoints are Established.
#
# How netcrypto is installed:
#   deb     (default when dpkg-buildpackage is present and we are root or have sudo): build the
#           Debian packages from a copy of the tree (dpkg-buildpackage -us -uc -b, which runs
#           the tests), check them with lintian (errors fail), `apt-get install` them, build
#           and run the consumers against /usr, then `apt-get purge` the packages again. The
#           .deb files are kept in build/debs/.
#   prefix  (otherwise): `cmake --install build --prefix` a fresh directory (the static release
#           build of scripts/build.sh; pkg-config then needs --static).
# NETCRYPTO_CONSUMER_MODE=deb|prefix forces one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

mode=${NETCRYPTO_CONSUMER_MODE:-}
if [[ -z "$mode" ]]; then
    if command -v dpkg-buildpackage >/dev/null && command -v apt-get >/dev/null &&
        { [[ -z "$SUDO" ]] || sudo -n true 2>/dev/null; }; then
        mode=deb
    else
        mode=prefix
    fi
fi

work=$(mktemp -d)
installed_debs=0
cleanup() {
    if ((installed_debs)); then
        echo "consumer: removing the packages again"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -q netcrypto libnetcrypto-dev \
            libnetcrypto0 >/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

pkg_config_flags=""
prefix=/usr
if [[ "$mode" == deb ]]; then
    for p in netcrypto libnetcrypto0 libnetcrypto-dev; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            echo "consumer: $p is already installed; refusing to replace and purge it" >&2
            exit 1
        fi
    done
    version=$(dpkg-parsechangelog -S Version)
    upstream=${version%-*}
    src="$work/netcrypto-$upstream"
    mkdir -p "$src"
    # The tracked files and new, not ignored ones: what the next commit would hold.
    git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$src"
    echo "consumer: dpkg-buildpackage -us -uc -b (log: build/debs/build.log)"
    mkdir -p build/debs
    rm -f build/debs/*.deb
    # NETCRYPTO_DEB_NOCHECK=1 (scripts/test.sh, after running the same tests on the same tree):
    # build the packages without their build-time tests.
    deb_options="parallel=$jobs${NETCRYPTO_DEB_NOCHECK:+ nocheck}"
    if ! (cd "$src" && DEB_BUILD_OPTIONS="$deb_options" nice dpkg-buildpackage -us -uc -b) \
        >build/debs/build.log 2>&1; then
        tail -n 60 build/debs/build.log
        echo "consumer: dpkg-buildpackage failed" >&2
        exit 1
    fi
    # The three packages (the -dbgsym ones stay behind).
    cp "$work"/netcrypto_*.deb "$work"/libnetcrypto0_*.deb "$work"/libnetcrypto-dev_*.deb \
        build/debs/
    ls -l build/debs/*.deb
    if command -v lintian >/dev/null; then
        echo "consumer: lintian (errors fail; accepted warnings: debian/README.source)"
        lintian --fail-on error --display-info --show-overrides "$work"/netcrypto_*.changes
    fi
    installed_debs=1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
        "$root"/build/debs/netcrypto_*.deb "$root"/build/debs/libnetcrypto0_*.deb \
        "$root"/build/debs/libnetcrypto-dev_*.deb >/dev/null
    netcrypto --version
else
    [[ -f build/CMakeCache.txt ]] || bash scripts/build.sh
    prefix="$work/prefix"
    cmake --install build --prefix "$prefix" >/dev/null
    pkg_config_flags="--static"
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    echo "consumer: installed the release build into $prefix"
fi

echo "== consumer: find_package(netcrypto), netcrypto::core =="
cp -r tests/consumer/find_package "$work/find_package"
cp tests/consumer/handshake.cpp "$work/find_package/"
cmake -S "$work/find_package" -B "$work/find_package/build" -G Ninja \
    -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/find_package/build" -j"$jobs"
"$work/find_package/build/handshake"

echo "== consumer: pkg-config --cflags --libs $pkg_config_flags netcrypto =="
cp -r tests/consumer/pkg_config "$work/pkg_config"
cp tests/consumer/handshake.cpp "$work/pkg_config/"
make -C "$work/pkg_config" PKG_CONFIG_FLAGS="$pkg_config_flags"
"$work/pkg_config/handshake"

if [[ "$mode" == deb ]]; then
    # Both must use the installed shared library, not a static copy.
    for exe in "$work/find_package/build/handshake" "$work/pkg_config/handshake"; do
        ldd "$exe" | grep -Eq "libnetcrypto_core\.so\.0 => (/usr)?/lib/" ||
            { echo "consumer: $exe does not use the installed libnetcrypto_core.so.0" >&2; exit 1; }
    done
fi
echo "consumer: both consumers completed a handshake ($mode install)"
