#!/usr/bin/env bash
# Installs what unmark needs to build, test and run, from Debian 12's packages.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  libcmocka-dev ffmpeg time fonts-dejavu-core
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libpq-dev postgresql curl jq
  libcurl4-openssl-dev libssl-dev python3 python3-botocore wrk
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm (for the S3-compatible test server) when Node.js did not bring it.
if ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends nodejs npm
fi
# s3rver: an S3-compatible server the tests start on loopback. Kept in
# .tools/ (not committed); installed once.
tools=$(cd "$(dirname "$0")/.." && pwd)/.tools
if [ ! -x "$tools/node_modules/.bin/s3rver" ]; then
  echo "install-deps: installing s3rver into $tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error s3rver@3
fi
