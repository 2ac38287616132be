#!/bin/sh
# Builds libheadscan_kernels.so from headscan_kernels.c into the folder given as $1 (Maven passes
# target/classes/io/headscan/native/linux-x86_64). Without a C compiler it only warns: headscan then
# uses its Java kernels, which give the same results more slowly.
set -eu
out=${1:?usage: native/kernels/build.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "[headscan] no C compiler ($cc): skipping the native kernels; the Java kernels will be used" >&2
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "[headscan] native kernels are built for linux-x86_64 only; skipping" >&2; exit 0 ;;
esac
mkdir -p "$out"
# finite-math: the Java caller checks the factors are finite before any tile reaches this kernel
"$cc" -O3 -fPIC -shared -std=c11 -fno-math-errno -fno-trapping-math -ffinite-math-only -fno-signed-zeros -Wall -Wextra \
  -o "$out/libheadscan_kernels.so" "$here/headscan_kernels.c" -lm
echo "[headscan] built $out/libheadscan_kernels.so"
