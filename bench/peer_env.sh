# bench/peer_env.sh — sourced by bench/search.sh and bench/peers.sh: the Python side of a peer
# comparison. `peer_env MODULE:PACKAGE ...` installs the Debian packages whose modules
# /usr/bin/python3 cannot import (exit 1 when apt cannot), and sets PY and PEER_ENV: OpenBLAS
# through LD_LIBRARY_PATH for the peers' processes only (FAISS's k-means and adds are sgemm;
# Debian's default libblas.so.3 is the reference BLAS, ~10x slower here).
peer_env() {
  PY=/usr/bin/python3
  local want=() m
  for m in "$@"; do $PY -c "import ${m%%:*}" 2>/dev/null || want+=("${m#*:}"); done
  if [ ${#want[@]} -gt 0 ]; then
    echo "installing ${want[*]}" >&2
    apt-get install -y "${want[@]}" >&2 || { echo "missing: install ${want[*]}" >&2; exit 1; }
  fi
  local oblas=/usr/lib/x86_64-linux-gnu/openblas-pthread
  if [ ! -f "$oblas/libblas.so.3" ]; then
    echo "installing libopenblas0-pthread (used through LD_LIBRARY_PATH by the peers only)" >&2
    apt-get install -y libopenblas0-pthread >&2 || echo "no OpenBLAS: the peers run on the reference BLAS" >&2
  fi
  PEER_ENV=()
  if [ -f "$oblas/libblas.so.3" ]; then PEER_ENV=(env "LD_LIBRARY_PATH=$oblas"); fi
}
