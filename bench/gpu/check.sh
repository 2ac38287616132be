#!/usr/bin/env bash
# The GPU check. On the GPU machine, through the device tool, with gpu-bundle/ (bench/gpu/prepare.sh) carried:
#   run(command="bash bench/gpu/check.sh", carry=["gpu-bundle"], timeout_s=540)
# On a machine with a GPU and a JDK and no gpu-bundle/ it uses this checkout (bench/run runs it so). Every step has a timeout; the whole output goes to $OUT/gpu-check.log, the JSON reports to $OUT/json.tar.gz. On a machine without a
# GPU the GPU steps fail quickly and the rest still runs (try it there first).
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
J_OUT=$OUT/json   # the commands' JSON reports, packed into $OUT/json.tar.gz at the end (the device tool returns 8 files)
mkdir -p "$J_OUT"
cd "$(dirname "$0")/../.."
B=$PWD/gpu-bundle
export HEADSCAN_CACHE=/tmp/hs-cache HEADSCAN_PROGRESS=0
M=/tmp/hs-model
HEADS4=10.7,11.10,3.4,0.0
GPU_TESTS="GpuParityTest GpuFirstContactTest GpuFallbackTest FatBinaryTest VectorCacheTest WorkspaceTest ScienceParityTest TileEdgeParityTest BackendParityTest"

step() {   # step NAME TIMEOUT COMMAND...
  local name=$1 t=$2 start rc
  shift 2
  echo "=== $name"
  start=$(date +%s%N)
  timeout "$t" "$@"
  rc=$?
  echo "=== $name: exit $rc, $(( ($(date +%s%N) - start) / 1000000 )) ms"
  return 0
}

step "machine" 30 bash -c 'nvidia-smi -L; nproc; free -g | head -2'
if [ -d "$B" ]; then
  # the GPU machine: the bundle's own Java runtime, jar and test classes
  J=/tmp/jre25/bin/java
  JAR=$B/headscan.jar
  step "unpack the Java runtime" 60 tar xJf "$B/jre25.tar.xz" -C /tmp
  mkdir -p /tmp/hs-tests && tar xf "$B/test/classes.tar" -C /tmp/hs-tests
  # one class path (the console launcher's own junit jars instead of test/lib's): a test that starts a child JVM gives
  # it java.class.path, so everything must be on it
  cp=$JAR:/tmp/hs-tests/test-classes:$(ls "$B"/test/junit-platform-console-standalone-*.jar)
  for f in "$B"/test/lib/*.jar; do case $(basename "$f") in junit-*) ;; *) cp=$cp:$f ;; esac; done
  select=""
  for t in $GPU_TESTS; do select="$select --select-class $(cd /tmp/hs-tests/test-classes && find . -name "$t.class" | sed 's|^./||; s|\.class$||; s|/|.|g')"; done
  # shellcheck disable=SC2086
  step "GPU tests (parity of every computation on cuBLAS, the fused kernel, workspaces, transfers)" 180 \
    "$J" --enable-native-access=ALL-UNNAMED -Xmx2g -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
    $select --details=tree --disable-banner --config=jqwik.database=/tmp/jqwik-database
else
  # a workstation with a GPU and a JDK (bench/run's GPU section): this checkout's build
  . .mvn/find-jdk.sh
  jdk=$(headscan_find_jdk) || { headscan_no_jdk_message; exit 1; }
  J=$jdk/bin/java
  JAR=$PWD/target/headscan.jar
  step "GPU tests (parity of every computation on cuBLAS, the fused kernel, workspaces, transfers)" 600 \
    ./mvnw -q -B test -Dtest="$(echo $GPU_TESTS | tr ' ' ,)" -Dsurefire.failIfNoSpecifiedTests=false
  [ -f "$JAR" ] || ./mvnw -q -B -DskipTests package
fi
step "backends" 60 "$J" -jar "$JAR" backends

step "synth GPT-2 Small size, planted 10.7 and 11.10" 60 "$J" -jar "$JAR" synth --out "$M" --plant 10.7,11.10
for backend in auto openblas cublas auto openblas cublas; do
  step "score --backend $backend" 60 "$J" -jar "$JAR" score "$M" --backend "$backend" --top 3 --profile
done
step "embed --wee full on cuBLAS" 120 "$J" -jar "$JAR" embed "$M" --wee full --backend cublas --profile
step "fullvocab all heads, cuBLAS, FP32 (fused kernel)" 300 "$J" -jar "$JAR" fullvocab "$M" --backend cublas --profile \
  --json "$J_OUT/fv-fused.json"
step "fullvocab 4 heads, cuBLAS, tile path" 120 env HEADSCAN_FUSED=0 "$J" -jar "$JAR" fullvocab "$M" --heads "$HEADS4" \
  --backend cublas --profile --json "$J_OUT/fv-tiles.json"
step "fullvocab all heads, cuBLAS, --tf32 (TF32 GEMMs, FP32 fused kernel)" 300 "$J" -jar "$JAR" fullvocab "$M" --backend cublas \
  --tf32 --profile --json "$J_OUT/fv-tf32-default.json"
step "fullvocab all heads, cuBLAS, TF32 (tensor-core fused kernel, HEADSCAN_FUSED=tf32)" 300 env HEADSCAN_FUSED=tf32 "$J" -jar "$JAR" \
  fullvocab "$M" --backend cublas --tf32 --profile --json "$J_OUT/fv-tf32.json"
step "fullvocab 4 heads, cuBLAS, TF32 tile path" 120 env HEADSCAN_FUSED=0 "$J" -jar "$JAR" fullvocab "$M" --heads "$HEADS4" \
  --backend cublas --tf32 --profile --json "$J_OUT/fv-tf32-tiles.json"
step "fullvocab 4 heads, OpenBLAS" 240 "$J" -jar "$JAR" fullvocab "$M" --heads "$HEADS4" --backend openblas --profile \
  --json "$J_OUT/fv-cpu.json"
step "ov 10.7, cuBLAS" 120 "$J" -jar "$JAR" ov "$M" --heads 10.7 --backend cublas --profile --top 3
step "cuBLAS FP32 GEMM rate at embed's shapes (PyTorch)" 120 python3 - <<'PY'
import time, torch
torch.backends.cuda.matmul.allow_tf32 = False
for m, k, n in [(8192, 768, 768), (8192, 768, 3072), (8192, 3072, 768)]:
    a, b = torch.randn(m, k, device="cuda"), torch.randn(k, n, device="cuda")
    for _ in range(3): a @ b
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(50): a @ b
    torch.cuda.synchronize(); s = (time.perf_counter() - t) / 50
    print("sgemm %dx%dx%d: %.1f TFLOP/s" % (m, k, n, 2 * m * k * n / s / 1e12))
PY
step "PyTorch peer, all heads, FP32" 300 python3 bench/gpu/torch_fullvocab.py "$M" --out "$J_OUT/torch.json"
step "PyTorch peer, all heads, TF32" 300 python3 bench/gpu/torch_fullvocab.py "$M" --tf32 --out "$J_OUT/torch-tf32.json"

step "agreement" 60 python3 - "$J_OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def heads(name):
    p = os.path.join(out, name)
    return json.load(open(p))["heads"] if os.path.exists(p) else None
fused, tiles, cpu, torch_ = heads("fv-fused.json"), heads("fv-tiles.json"), heads("fv-cpu.json"), heads("torch.json")
keys = ["mean_diag_prob", "frac_rank0", "frac_rank_lt10", "median_rank", "mean_rank"]
def fmt(s):
    return "%.6f %.4f %.4f %.1f %.2f" % tuple(s[k] for k in keys)
def compare(a, b, label):
    if not a or not b:
        print(label + ": missing"); return
    common = [h for h in a if h in b and a[h].get("mean_diag_prob") is not None]
    bad = [h for h in common if fmt(a[h]) != fmt(b[h])]
    print("%s: %d heads compared, %d differ at the printed digits %s" % (label, len(common), len(bad), bad[:5]))
    for h in bad[:5]:
        print("  %s: %s | %s" % (h, fmt(a[h]), fmt(b[h])))
compare(fused, cpu, "fused vs OpenBLAS")
compare(tiles, cpu, "tiles vs OpenBLAS")
compare(fused, torch_, "fused vs PyTorch")
tf32, tf32t = heads("fv-tf32.json"), heads("fv-tf32-tiles.json")
if tf32 and cpu:
    common = [h for h in cpu if h in tf32]
    worst = max(abs(tf32[h]["mean_diag_prob"] - cpu[h]["mean_diag_prob"]) for h in common)
    print("TF32 fused vs OpenBLAS: %d heads, largest mean_diag_prob difference %.2e, frac_rank0 %s" % (len(common), worst,
          [(h, tf32[h]["frac_rank0"], cpu[h]["frac_rank0"]) for h in common]))
compare(tf32t, tf32, "TF32 tiles vs TF32 fused")
for name in ["fv-fused.json", "fv-tiles.json", "fv-tf32-default.json", "fv-tf32.json", "fv-tf32-tiles.json", "fv-cpu.json", "torch.json", "torch-tf32.json"]:
    p = os.path.join(out, name)
    if os.path.exists(p):
        d = json.load(open(p))
        print(name, json.dumps(d.get("timings_ms") or d.get("timings_s")), json.dumps(d.get("transfers_bytes", {}).get("total", {})))
PY
tar czf "$OUT/json.tar.gz" -C "$OUT" json && rm -rf "$J_OUT"
echo "=== done"
