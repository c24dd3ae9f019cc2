#!/usr/bin/env bash
# scripts/models.sh — finds lookalike's model files and links them into ./models.
# Looks in $LOOKALIKE_MODELS, then ../shared/models; else downloads them from the models'
# public home (google-coral/test_data, Apache-2.0). Every file is checked against SHA256SUMS.
# Idempotent: a second run only re-verifies.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=models
# The hashes below are those of commit 104342d2; the files there have not changed since, and a
# download that does not match them is refused.
COMMIT=104342d2
BASE="https://raw.githubusercontent.com/google-coral/test_data/master"
FILES=(mobilenet_v2_1.0_224_quant.tflite mobilenet_v1_1.0_224_quant_embedding_extractor.tflite
       tf2_mobilenet_v2_1.0_224_ptq.tflite deeplabv3_mnv2_pascal_quant.tflite imagenet_labels.txt)
SUMS="7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776  mobilenet_v2_1.0_224_quant.tflite
f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319  mobilenet_v1_1.0_224_quant_embedding_extractor.tflite
5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c  tf2_mobilenet_v2_1.0_224_ptq.tflite
350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398  deeplabv3_mnv2_pascal_quant.tflite"

verify() { # dir -> 0 if every model file is there with the right hash
  (cd "$1" && printf '%s\n' "$SUMS" | sha256sum --quiet -c - >/dev/null 2>&1)
}

src=""
for cand in "${LOOKALIKE_MODELS:-}" ../shared/models; do
  [ -n "$cand" ] && [ -d "$cand" ] || continue
  if verify "$cand"; then src=$(cd "$cand" && pwd); break; fi
  echo "models: $cand exists but its files do not match the expected SHA-256 sums; skipped" >&2
done

mkdir -p "$DEST"
if [ -n "$src" ]; then
  for f in "${FILES[@]}"; do [ -e "$src/$f" ] && ln -sfn "$src/$f" "$DEST/$f"; done
  echo "models: using $src (verified), linked into ./$DEST"
  exit 0
fi

if verify "$DEST"; then echo "models: ./$DEST verified"; exit 0; fi

echo "models: not found locally; downloading from google-coral/test_data (hashes of commit $COMMIT)" >&2
for f in "${FILES[@]}"; do
  [ -s "$DEST/$f" ] && continue
  if ! curl -fsSL --retry 2 --connect-timeout 10 -o "$DEST/$f.part" "$BASE/$f"; then
    rm -f "$DEST/$f.part"
    cat >&2 <<MSG
models: could not download $f.
  This machine cannot reach GitHub. Put the model files in a folder and either
    export LOOKALIKE_MODELS=/path/to/that/folder   (then run: make models)
  or copy them into ./models/. The files (Apache-2.0) are in
  https://github.com/google-coral/test_data at commit $COMMIT:
    ${FILES[*]}
MSG
    exit 1
  fi
  mv "$DEST/$f.part" "$DEST/$f"
done
if ! verify "$DEST"; then echo "models: downloaded files fail the SHA-256 check; removed" >&2; rm -f "$DEST"/*.tflite; exit 1; fi
echo "models: downloaded and verified into ./$DEST"
