#!/usr/bin/env bash
# Install napari-ifcell on a fresh Debian/Ubuntu machine: the system libraries Qt and
# napari need (plus Xvfb, a virtual screen for the viewer tests), a virtual environment
# in .venv, and the project with every extra: [all] (napari, Qt, SAM, classifiers, cluster),
# [testing] and [lint] (torch comes from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    python3-venv xvfb xauth \
    libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 \
    libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
    libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet ".[dev]"
