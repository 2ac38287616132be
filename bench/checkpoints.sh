#!/usr/bin/env bash
# Benchmark of real checkpoint series (issue 16's targets), on this machine, written to bench/CHECKPOINTS-RESULTS.md:
#   open    a GPT-2-Small-size pytorch_model.bin against the same weights as model.safetensors: in-process open time
#           (ZIP directory, pickle, tensor table; no tensor data read), heap allocated, whether F32 tensors are views
#   xmx64   every command on the .bin under a 64 MB heap (exit codes)
#   score   `headscan score` on the .bin against the safetensors, 5 runs each, alternating (median wall time)
#   hub     `headscan sweep --revisions 'checkpoint-*'` over N GPT-2-Small-size .bin branches served by bench/hubfake.py
#           on loopback at a fixed bandwidth: wall time against max(total download, total compute) + one checkpoint,
#           and the peak disk use of the Hugging Face cache (polled) against (prefetch + 1) checkpoints
# Usage: bench/checkpoints.sh [--n N] [--mbps MB_PER_S] [WORK_DIR]   (defaults 8, 250, /tmp/headscan-ckpt-bench; ~5 GB)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=8
mbps=250
while [ $# -gt 0 ]; do
  case "$1" in
    --n) n=$2; shift 2 ;;
    --mbps) mbps=$2; shift 2 ;;
    *) break ;;
  esac
done
work=${1:-/tmp/headscan-ckpt-bench}
hs=$root/headscan
mkdir -p "$work"
cd "$work"
"$hs" --version > /dev/null
. "$root/.mvn/find-jdk.sh"
java=$(headscan_find_jdk)/bin/java
now() { date +%s%N; }
secs() { python3 -c "print('%.2f' % (($2 - $1) / 1e9))"; }
median() { python3 -c "import statistics, sys; print('%.2f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

[ -f st/model.safetensors ] || "$hs" synth --out st --plant 10.7,11.10 > /dev/null
[ -f bin/pytorch_model.bin ] || "$hs" synth --out bin --plant 10.7,11.10 --format pytorch > /dev/null
cat st/model.safetensors bin/pytorch_model.bin > /dev/null

# open
open_lines=$("$java" --enable-native-access=ALL-UNNAMED -cp "$root/target/headscan.jar" "$root/bench/tools/OpenTime.java" \
  st/model.safetensors bin/pytorch_model.bin "$root/src/test/resources/pytorch/tiny-gpt2/pytorch_model.bin")

# every command under -Xmx64m on the .bin
export HEADSCAN_CACHE=$work/cache
xmx=""
for cmd in "inspect bin --stats" "inspect bin --verify" "score bin" "embed bin" "fullvocab bin --heads 10.7" "ov bin --heads 10.7" \
           "sweep bin --score --weights --db $work/x.duckdb"; do
  rm -f "$work"/x.duckdb*
  set +e
  HEADSCAN_JAVA_OPTS=-Xmx64m "$hs" $cmd > "$work/xmx.log" 2>&1
  code=$?
  set -e
  xmx="$xmx| \`headscan ${cmd/$work\//}\` | $code |"$'\n'
done

# score: .bin against safetensors
st_t=(); bin_t=()
for i in 1 2 3 4 5; do
  t0=$(now); "$hs" score st --top 1 > /dev/null 2>&1; t1=$(now); st_t+=("$(secs "$t0" "$t1")")
  t0=$(now); "$hs" score bin --top 1 > /dev/null 2>&1; t1=$(now); bin_t+=("$(secs "$t0" "$t1")")
done
st_med=$(median "${st_t[@]}"); bin_med=$(median "${bin_t[@]}")
"$hs" score st --json "$work/st.json" > /dev/null 2>&1
"$hs" score bin --json "$work/bin.json" > /dev/null 2>&1
same=$(python3 -c "import json; a=json.load(open('$work/st.json')); b=json.load(open('$work/bin.json')); print('identical' if a['scores']==b['scores'] else 'DIFFERENT')")

# hub: N branches of one repository, pytorch_model.bin only
series=$work/series
mkdir -p "$series"
for i in $(seq 1 "$n"); do
  d=$series/checkpoint-$((i * 1000))
  [ -f "$d/pytorch_model.bin" ] || "$hs" synth --out "$d" --seed "$i" --plant 10.7 --format pytorch > /dev/null
done
size=$(stat -c %s "$series/checkpoint-1000/pytorch_model.bin")
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
python3 "$root/bench/hubfake.py" "$series" bench/run "$port" "$((mbps * 1000000))" 2> "$work/hubfake.log" &
fake=$!
trap 'kill $fake 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do grep -q "^hubfake: .* branches" "$work/hubfake.log" 2>/dev/null && break; sleep 0.1; done
export HF_ENDPOINT=http://127.0.0.1:$port HF_HOME=$work/hf
unset HF_HUB_OFFLINE HF_TOKEN
rm -rf "$work/hf" "$work"/h.duckdb*
mkdir -p "$work/hf"
peak=0
( while true; do du -sb "$work/hf" 2>/dev/null | cut -f1; sleep 0.1; done ) > "$work/du.log" &
poll=$!
t0=$(now)
"$hs" sweep bench/run --revisions 'checkpoint-*' --score --db "$work/h.duckdb" > "$work/hub.log" 2>&1
t1=$(now)
kill $poll; wait $poll 2>/dev/null || true
kill $fake; trap - EXIT
hub_wall=$(secs "$t0" "$t1")
peak=$(sort -n "$work/du.log" | tail -1)
read -r dl cp one <<< "$(python3 - "$work/hub.log" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
d = [float(x) for x in re.findall(r"downloaded in ([0-9.]+) s", t)]
c = [float(x) for x in re.findall(r"computed in ([0-9.]+) s", t)]
print("%.2f %.2f %.2f" % (sum(d), sum(c), max(a + b for a, b in zip(d, c))))
PY
)"
bound=$(python3 -c "print('%.2f' % (1.1 * max($dl, $cp) + $one))")
disk_bound=$((2 * size))
summary=$(grep '^sweep:' "$work/hub.log")

cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
{
  echo "# Checkpoint series: results"
  echo
  echo "Made by \`bench/checkpoints.sh\` on $(date -u +%Y-%m-%d): $cpu, $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset};"
  echo "GPT-2-Small-size synthetic checkpoints (F32, $(numfmt --to=iec "$size") as pytorch_model.bin), in the page cache."
  echo
  echo "## Opening a checkpoint (in process, \`bench/tools/OpenTime.java\`)"
  echo
  echo '```'
  echo "$open_lines"
  echo '```'
  echo "The first open in a JVM includes loading the reader's classes (the tiny fixture opened last shows a warm reader"
  echo "on a small file); the median is a warm open. Target: a GPT-2-Small-size .bin opens in <= 30 ms with no copy of F32 data."
  echo
  echo "## Every command on the .bin under -Xmx64m (exit codes)"
  echo
  echo "| command | exit |"
  echo "|---|---|"
  printf '%s' "$xmx"
  echo
  echo "## score: .bin against safetensors (5 runs each, alternating)"
  echo
  echo "| checkpoint | runs (s) | median (s) |"
  echo "|---|---|---|"
  echo "| model.safetensors | ${st_t[*]} | $st_med |"
  echo "| pytorch_model.bin | ${bin_t[*]} | $bin_med |"
  echo
  echo "Ratio .bin / safetensors: $(python3 -c "print('%.3f' % ($bin_med / $st_med))") (target <= 1.05); scores $same."
  echo
  echo "## Hub sweep: $n branches at $mbps MB/s (bench/hubfake.py on loopback), --prefetch 1"
  echo
  echo "| | value |"
  echo "|---|---|"
  echo "| wall time | $hub_wall s |"
  echo "| total download time (sum of the lines) | $dl s |"
  echo "| total compute time (sum of the lines) | $cp s |"
  echo "| one checkpoint (its download + compute, the largest) | $one s |"
  echo "| bound 1.1 x max(download, compute) + one checkpoint | $bound s |"
  echo "| peak disk use of the HF cache (polled every 0.1 s) | $(numfmt --to=iec "$peak") ($peak B) |"
  echo "| bound (prefetch + 1) checkpoints | $(numfmt --to=iec "$disk_bound") ($disk_bound B) |"
  echo
  echo "\`$summary\`"
  echo
  echo '```'
  grep '^\[' "$work/hub.log"
  echo '```'
} > "$root/bench/CHECKPOINTS-RESULTS.md"
cat "$root/bench/CHECKPOINTS-RESULTS.md"
