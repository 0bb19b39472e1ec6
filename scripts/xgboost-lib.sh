#!/usr/bin/env bash
# Puts the pinned XGBoost shared library where the build links it and the binary finds it
# at run time (rpath), and prints that folder. Route (a) of docs/DESIGN.md: the official
# prebuilt library from PyPI's xgboost-cpu wheel, kept in the wheel's own folder layout so
# libxgboost.so finds its bundled libgomp through its own $ORIGIN rpath.
set -euo pipefail
version="${XGBOOST_VERSION:-3.2.0}"
root="${CLAIMS_XGB_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/claims-ops/xgboost-cpu-$version}"
lib="$root/xgboost/lib/libxgboost.so"
if [ ! -f "$lib" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  py=$(command -v python3 || true)
  if [ -z "$py" ]; then
    echo "error: python3 with pip is needed once to fetch the xgboost-cpu==$version wheel (apt-get install python3-pip)" >&2
    exit 1
  fi
  echo "fetching xgboost-cpu==$version from PyPI into $root" >&2
  "$py" -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 \
    "xgboost-cpu==$version" -d "$tmp" >&2
  mkdir -p "$root.partial"
  "$py" -m zipfile -e "$tmp"/xgboost_cpu-"$version"-*.whl "$tmp/unpacked"
  rm -rf "$root.partial"
  mkdir -p "$(dirname "$root")"
  mkdir -p "$root.partial/xgboost"
  cp -r "$tmp/unpacked/xgboost/lib" "$root.partial/xgboost/lib"
  cp -r "$tmp/unpacked/xgboost_cpu.libs" "$root.partial/xgboost_cpu.libs"
  chmod -R u+rwX,go+rX "$root.partial"
  rm -rf "$root"
  mv "$root.partial" "$root"
fi
echo "$root/xgboost/lib"
