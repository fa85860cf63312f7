#!/usr/bin/env bash
# Installs the Debian packages simrenew needs beside Python, when they are missing:
#   fonts-wqy-microhei   the CJK font of receipt PDFs and Chinese pages (always)
#   chromium             Debian's Chromium, driven by the browser tests (--browser)
#
# A no-op when all are there. It installs only as root with apt-get; otherwise it
# says what is missing and how to install it, and exits 0: `make run` still works,
# and the browser tests skip with that reason (in CI, CI=true, they fail instead).
set -euo pipefail

usage() { echo "usage: $0 [--browser]" >&2; exit 2; }

browser=0
for arg in "$@"; do
    case "$arg" in
        --browser) browser=1 ;;
        -h | --help) usage ;;
        *) echo "$0: unknown argument: $arg" >&2; usage ;;
    esac
done

# present PACKAGE FILE: the package is installed (dpkg), or at least its FILE is there.
present() {
    [ -e "$2" ] && return 0
    command -v dpkg-query >/dev/null 2>&1 &&
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
present fonts-wqy-microhei /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ||
    missing+=(fonts-wqy-microhei)
# The browser tests use $SIMRENEW_CHROMIUM when set; only Debian's is installed here.
if [ "$browser" = 1 ] && ! [ -x "${SIMRENEW_CHROMIUM:-/usr/bin/chromium}" ]; then
    present chromium /usr/bin/chromium || missing+=(chromium)
fi

[ "${#missing[@]}" = 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "simrenew: missing Debian packages: ${missing[*]}; install them with:" \
        "sudo apt-get install --no-install-recommends ${missing[*]}"
    exit 0
fi

echo "simrenew: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/dev/null ||
    ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "simrenew: could not install ${missing[*]} (see apt-get's errors above);" \
        "install them with: apt-get install --no-install-recommends ${missing[*]}"
fi
exit 0
