#!/bin/sh
# Builds headscan_reduce.ptx from headscan_reduce.cu into the folder given as $1 (Maven passes
# target/classes/io/headscan/native/cuda). PTX for the oldest compute capability this nvcc supports (7.5,
# Turing, for CUDA 13) is compiled by the driver for the GPU it meets (Turing to Blackwell). Without nvcc it only says so
# (build-info.txt records whether nvcc was there): the cuBLAS backend then works without the kernels.
set -eu
out=${1:?usage: native/cuda/build.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
cp "$here/headscan_reduce.cu" "$out/headscan_reduce.cu"
nvcc=${NVCC:-}
if [ -z "$nvcc" ]; then
  for c in nvcc "${CUDA_HOME:-/nonexistent}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
    if command -v "$c" >/dev/null 2>&1; then nvcc=$c; break; fi
  done
fi
if [ -z "$nvcc" ]; then
  echo "nvcc=none" > "$out/build-info.txt"
  echo "[headscan] no nvcc: this build has no CUDA kernels (the cuBLAS backend then reduces on the CPU)" >&2
  exit 0
fi
echo "nvcc=$nvcc" > "$out/build-info.txt"
arch=$("$nvcc" --list-gpu-arch 2>/dev/null | grep '^compute_' | sed 's/compute_//' | sort -n | head -n1)
arch=${arch:-75}
if "$nvcc" -ptx "-arch=compute_$arch" -O3 -o "$out/headscan_reduce.ptx" "$here/headscan_reduce.cu"; then
  echo "[headscan] built $out/headscan_reduce.ptx (compute_$arch) with $nvcc"
else
  rm -f "$out/headscan_reduce.ptx"
  echo "[headscan] $nvcc could not build the CUDA kernel: the GPU backend will reduce on the CPU" >&2
fi
# A fat binary with machine code for Hopper (sm_90) and Ampere (sm_80), where nvcc can make it, and PTX the driver
# compiles for any other GPU: compute_80 PTX (newer GPUs, Blackwell included, run it with the real TF32 tensor-core
# kernel) and the oldest PTX (Turing, whose TF32 kernel is empty: it has no TF32 tensor cores). Uncompressed, so that
# the PTX is plain text in the file (FatBinaryTest reads it). Loaded first, it spares the driver's JIT compile at
# start-up on Ampere and Hopper.
gencode=""
for sm in 80 90; do
  if "$nvcc" --list-gpu-code 2>/dev/null | grep -qx "sm_$sm"; then gencode="$gencode -gencode arch=compute_$sm,code=sm_$sm"; fi
done
ptx80=""
if "$nvcc" --list-gpu-arch 2>/dev/null | grep -qx compute_80; then ptx80="-gencode arch=compute_80,code=compute_80"; fi
# shellcheck disable=SC2086
if [ -n "$gencode" ] && "$nvcc" -fatbin -O3 --no-compress $gencode $ptx80 -gencode "arch=compute_$arch,code=compute_$arch" \
     -o "$out/headscan_reduce.fatbin" "$here/headscan_reduce.cu"; then
  echo "[headscan] built $out/headscan_reduce.fatbin ($gencode $ptx80 + compute_$arch PTX)"
else
  rm -f "$out/headscan_reduce.fatbin"
fi
