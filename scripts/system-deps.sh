#!/usr/bin/env bash
# Installs the Debian packages given as arguments when they are missing (as root, or with
# sudo), or says exactly what to install.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v cargo >/dev/null || { echo "error: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing missing build packages: ${missing[*]}" >&2
if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "error: missing packages ${missing[*]}; run: apt-get install -y ${missing[*]}" >&2; exit 1; fi
if ! command -v apt-get >/dev/null; then
  echo "error: missing packages ${missing[*]} and no apt-get here: install them with your package manager" >&2; exit 1
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
