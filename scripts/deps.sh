#!/usr/bin/env bash
# Installs what hills needs to build and test on Debian/Ubuntu: the C
# libraries Gio links with (cgo), Xvfb, xdotool and x11-utils (xprop,
# xwininfo) for tests that open, click and inspect windows, ImageMagick and
# tesseract for their screenshots (the demo's test reads the parts off the
# screen), PostgreSQL for the mirror's tests (they start a throw-away
# cluster of their own; the package's own cluster is not used), and the Go
# modules. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(gcc pkg-config libwayland-dev libx11-dev libx11-xcb-dev libxkbcommon-x11-dev
  libxcursor-dev libxfixes-dev libegl1-mesa-dev libgles2-mesa-dev libvulkan-dev
  libffi-dev libgl1-mesa-dri xvfb xauth x11-utils imagemagick xdotool
  tesseract-ocr tesseract-ocr-eng postgresql)

missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "deps: installing ${missing[*]} with sudo"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v go >/dev/null; then
  echo "deps: Go 1.26 is needed (https://go.dev/dl); it is not on PATH" >&2
  exit 1
fi
export GOTOOLCHAIN=local
go mod download
