#!/usr/bin/env bash
# Set up ctlabel on a fresh Linux (Debian/Ubuntu) machine:
#   1. the system libraries napari/Qt need, Xvfb for headless GUI tests, PostgreSQL and Orthanc for the
#      team and pull tests, Chromium and chromedriver for the dashboard's browser tests (apt-get);
#   2. a virtual environment in .venv with ctlabel, its napari extra and the test tools.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  xvfb xauth libgl1 libegl1 libglx-mesa0 libgl1-mesa-dri libglib2.0-0 libdbus-1-3 libfontconfig1
  libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0
  libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1
  orthanc orthanc-dicomweb
  postgresql
  chromium chromium-driver
)

if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    # orthanc is for the tests of `ctlabel pull`, which start their own server: keep Debian's
    # orthanc service from starting (ports 8042/4242) with a policy-rc.d that refuses every start.
    policy_added=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod +x /usr/sbin/policy-rc.d
      policy_added=1
    fi
    rc=0
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    [ -z "$policy_added" ] || $SUDO rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || exit "$rc"
  fi
else
  echo "setup: no apt-get here; install Xvfb, libGL/EGL and the xcb libraries for Qt yourself" >&2
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ctlabel needs Python 3.11 or newer (napari 0.9)")'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[napari,test]"
echo "setup: ready (.venv)"
