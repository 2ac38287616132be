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
# One library from two compilations of the same file: the reductions with -ffinite-math-only (their inputs are checked
# finite first), the row kernels without it (with --allow-nonfinite they see NaN/Inf, which must propagate as IEEE says).
flags="-O3 -fPIC -std=c11 -fno-math-errno -fno-trapping-math -fno-signed-zeros -Wall -Wextra"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
"$cc" $flags -ffinite-math-only -DHS_PART_REDUCE -c -o "$tmp/reduce.o" "$here/headscan_kernels.c"
# shellcheck disable=SC2086
"$cc" $flags -DHS_PART_ROWS -c -o "$tmp/rows.o" "$here/headscan_kernels.c"
"$cc" -shared -o "$out/libheadscan_kernels.so" "$tmp/reduce.o" "$tmp/rows.o" -lm
echo "[headscan] built $out/libheadscan_kernels.so"
