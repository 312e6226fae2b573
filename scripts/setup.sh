#!/usr/bin/env bash
# Set up ctlabel on a fresh Linux (Debian/Ubuntu) machine.
#
#   bash scripts/setup.sh          what the demo needs: Xvfb and the GL/xcb libraries napari/Qt need
#                                  (apt-get), and .venv with ctlabel and its napari extra;
#   bash scripts/setup.sh --test   also what the tests need: PostgreSQL and Orthanc (with its DICOMweb
#                                  plugin) for the team and pull tests, Chromium and chromedriver for
#                                  the dashboard's browser tests, dciodvfy (dicom3tools) for the DICOM
#                                  SEG checks, and the test extra in .venv (with the BIDS validator).
#
# Safe to run again: it installs only what is missing. When another apt-get or dpkg holds the
# package lock (an unattended upgrade on a new machine), it waits for it, up to 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

TEST=""
for arg in "$@"; do
  case "$arg" in
    --test) TEST=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $arg (use --test, or nothing for the demo)" >&2; exit 2 ;;
  esac
done

DEMO_APT=(
  xvfb xauth libgl1 libegl1 libglx-mesa0 libgl1-mesa-dri libglib2.0-0 libdbus-1-3 libfontconfig1
  libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0
  libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1
)
TEST_APT=(
  orthanc orthanc-dicomweb
  postgresql
  chromium chromium-driver
  dicom3tools
)
APT_PACKAGES=("${DEMO_APT[@]}")
EXTRAS="napari"
if [ -n "$TEST" ]; then
  APT_PACKAGES+=("${TEST_APT[@]}")
  EXTRAS="napari,test"
fi

LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)
LOCK_WAIT_S=600

apt_locked() {
  # true while another process holds one of the apt/dpkg locks
  local held=()
  for f in "${LOCKS[@]}"; do [ -e "$f" ] && held+=("$f"); done
  ((${#held[@]})) || return 1
  if command -v fuser >/dev/null 2>&1; then
    $SUDO fuser "${held[@]}" >/dev/null 2>&1
  else  # no fuser (psmisc): try each lock the way apt takes it (fcntl), and let it go at once
    ! $SUDO python3 - "${held[@]}" 2>/dev/null <<'EOF'
import fcntl, sys
for path in sys.argv[1:]:
    with open(path, "a") as f:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while another process holds it
EOF
  fi
}

wait_for_apt() {
  local waited=0
  while apt_locked; do
    if ((waited == 0)); then
      echo "setup: another apt-get/dpkg holds the package lock; waiting for it (up to $((LOCK_WAIT_S / 60)) minutes)"
    elif ((waited % 30 == 0)); then
      echo "setup: still waiting for the package lock (${waited} s)"
    fi
    if ((waited >= LOCK_WAIT_S)); then
      echo "setup: the package lock is still held after ${LOCK_WAIT_S} s; run again when it is free" >&2
      exit 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    # apt-get waits for the dpkg lock too (DPkg::Lock::Timeout); wait_for_apt covers the lists lock
    # of `apt-get update` and says why nothing happens meanwhile.
    APT=($SUDO apt-get -o DPkg::Lock::Timeout=$LOCK_WAIT_S)
    echo "setup: installing system packages: ${missing[*]}"
    wait_for_apt
    "${APT[@]}" update -qq
    # orthanc is for the tests of `ctlabel pull`, which start their own server: keep Debian's
    # orthanc service from starting (ports 8042/4242) with a policy-rc.d that refuses every start.
    policy_added=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod +x /usr/sbin/policy-rc.d
      policy_added=1
    fi
    rc=0
    wait_for_apt
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    [ -z "$policy_added" ] || $SUDO rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || exit "$rc"
  fi
else
  echo "setup: no apt-get here; install Xvfb, libGL/EGL and the xcb libraries for Qt yourself" >&2
  [ -z "$TEST" ] || echo "setup: the tests also need PostgreSQL, Orthanc with orthanc-dicomweb, Chromium and chromedriver" >&2
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ctlabel needs Python 3.11 or newer (napari 0.9)")'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# pip runs again only when the extras or the package's requirements changed since the last run
# (a venv set up for the tests has everything the demo needs)
stamp=".venv/.ctlabel-setup"
reqs=$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$have" != "$EXTRAS $reqs" ] && [ "$have" != "napari,test $reqs" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$EXTRAS]"
  echo "$EXTRAS $reqs" >"$stamp"
fi
echo "setup: ready (.venv${TEST:+, with the test tools})"
