#!/usr/bin/env bash
# Check the system tools `make lab` / `make test` need; install missing ones with apt, else stop.
#
#   scripts/setup_system.sh lab    # Python 3.11+ with venv
#   scripts/setup_system.sh test   # also Chromium (CHROMIUM_PATH, default /usr/bin/chromium),
#                                  # Node.js 18+ and npm (the official JavaScript client's tests)
#
# Missing Debian packages are installed with apt-get as root, or through sudo when there is one;
# otherwise the script prints one line naming exactly what to install and exits 1, before any
# other set-up step has run. PYTHON names the interpreter (default python3), as in the Makefile.
set -euo pipefail

mode="${1:-test}"
python="${PYTHON:-python3}"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

missing() {
    # The Debian packages that are missing now, one per line.
    if ! command -v "$python" >/dev/null 2>&1; then
        echo python3
        echo python3-venv
    elif ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        echo python3-venv  # Debian ships venv's ensurepip separately
    fi
    if [ "$mode" = test ]; then
        [ -x "$chromium" ] || echo chromium
        if ! command -v node >/dev/null 2>&1; then
            echo nodejs
            echo npm
        elif ! command -v npm >/dev/null 2>&1; then
            echo npm
        fi
    fi
}

too_old() {
    # What is present but too old to use (apt cannot fix that on this release).
    if command -v "$python" >/dev/null 2>&1 &&
        ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "Python 3.11+ (PYTHON=$python is $("$python" -V 2>&1))"
    fi
    if [ "$mode" = test ] && command -v node >/dev/null 2>&1 &&
        ! node -e 'process.exit(+process.versions.node.split(".")[0] < 18 ? 1 : 0)'; then
        echo "Node.js 18+ (node is $(node --version))"
    fi
}

packages="$(missing | tr '\n' ' ')"
packages="${packages% }"
if [ -n "$packages" ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        sudo=(none)
    fi
    if [ "${sudo[*]}" != none ]; then
        echo "Installing $packages with apt-get (needed by make $mode)" >&2
        # shellcheck disable=SC2086  # one word per package
        "${sudo[@]}" apt-get update -qq &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages \
                >/dev/null || true
    fi
    packages="$(missing | tr '\n' ' ')"
    packages="${packages% }"
fi
if [ -n "$packages" ]; then
    hint=""
    case " $packages " in *" chromium "*) hint=" (or set CHROMIUM_PATH to a Chromium)" ;; esac
    if command -v apt-get >/dev/null 2>&1; then
        how="run \`sudo apt-get install -y $packages\`"
    else
        how="install them with your package manager"
    fi
    echo "make $mode needs $packages: $how, then run make $mode again$hint" >&2
    exit 1
fi
old="$(too_old | paste -sd ';' - | sed 's/;/; /g')"
if [ -n "$old" ]; then
    echo "make $mode needs $old: install a newer one and try again" >&2
    exit 1
fi
