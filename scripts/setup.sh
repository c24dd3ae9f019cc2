#!/usr/bin/env bash
# scripts/setup.sh — install lookalike's build and test dependencies on Debian bookworm.
# Idempotent: running it twice is harmless. Needs root (or sudo) for apt-get.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev
  libdnnl-dev libsqlite3-dev libmicrohttpd-dev libjansson-dev libcmocka-dev nettle-dev
  zlib1g-dev   # gzip answers (GET /api/map)
  libisal-dev   # util/hash.c: the saved index's CRC-32 at memory speed (ISA-L)
  liblapacke-dev   # util/linalg.c: the symmetric eigensolver (dsyevd) of PCA, whitening, the index's basis
  sqlite3 ca-certificates curl jq
  python3 time valgrind   # tests/reliability.sh: hostile files, peak memory, memcheck
  groff-base man-db   # tests/cli.sh: man/lookalike.1 renders (groff, man -l)
  python3-cffi python3-numpy python3-pytest python3-pil python3-venv python3-setuptools python3-pandas   # python/ (tests/python.sh)
  libpq-dev postgresql postgresql-client nginx   # PostgreSQL catalogs, tests/pg.sh (replicas behind nginx)
)
if [ "${LOOKALIKE_BROWSER_TESTS:-1}" = 1 ]; then
  PKGS+=(chromium)
  # Node.js may already come from elsewhere (its npm conflicts with Debian's): only add if absent.
  command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all Debian packages present"
fi
