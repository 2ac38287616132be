#!/usr/bin/env bash
# Benchmark of the sweep on Spark (issue 17's targets), on this machine, written to bench/SPARK-RESULTS.md:
#   the single-process `sweep --score` over 10 GPT-2-Small-size checkpoints, the same with `--spark local[2]`, and with
#   a standalone cluster on loopback (a Master and 2 Workers x 1 core, started from target/spark-lib), wall times and
#   throughput ratios, and the numbers of the three compared.
# Usage: bench/spark.sh [--n N] [--results FILE] [WORK_DIR]   (default 10, bench/SPARK-RESULTS.md,
#        /tmp/headscan-spark-bench; ~0.55 GB per checkpoint)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=10
results=$root/bench/SPARK-RESULTS.md
[ "${1:-}" = "--n" ] && { n=$2; shift 2; }
[ "${1:-}" = "--results" ] && { results=$(realpath -m "$2"); shift 2; }
work=${1:-/tmp/headscan-spark-bench}
hs=$root/headscan
mkdir -p "$work"
cd "$work"
export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=localhost
now() { date +%s%N; }
secs() { python3 -c "print('%.2f' % (($2 - $1) / 1e9))"; }
ckpts=()
for i in $(seq 1 "$n"); do
  d=run/checkpoint-$((i * 1000))
  [ -f "$d/model.safetensors" ] || "$hs" synth --out "$d" --seed "$i" --plant 10.7,11.10 > /dev/null
  ckpts+=("$d")
done
cat run/*/model.safetensors > /dev/null
export HEADSCAN_CACHE=$work/cache
# builds the Spark part and makes both class-data archives once (not timed)
"$hs" sweep "${ckpts[0]}" --score --spark 'local[1]' --out "$work/warm" > /dev/null 2>&1 || true
"$hs" sweep "${ckpts[0]}" --score --db "$work/warm.duckdb" > /dev/null 2>&1 || true
rm -rf "$work/warm" "$work"/warm.duckdb*

# each run three times, the single process and local[2] taking turns; the median counts (the last run's results are
# the ones compared)
runs=3
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
singles=(); locals=()
for _ in $(seq 1 $runs); do
  rm -f single.duckdb*
  t0=$(now); "$hs" sweep "${ckpts[@]}" --score --db single.duckdb > single.log 2>&1; t1=$(now)
  singles+=("$(secs "$t0" "$t1")")
  rm -rf local-ds
  t0=$(now); "$hs" sweep "${ckpts[@]}" --score --spark 'local[2]' --out local-ds > local.log 2>&1; t1=$(now)
  locals+=("$(secs "$t0" "$t1")")
done
single=$(median "${singles[@]}")
local2=$(median "${locals[@]}")

# a standalone cluster on loopback: Master and 2 Workers x 1 core from the Maven jars, a stub Spark home
. "$root/.mvn/find-jdk.sh"
jdk=$(headscan_find_jdk)
home=$work/spark-home
rm -rf "$home"; mkdir -p "$home/jars" "$home/conf"
ln -s "$root"/target/spark-lib/*.jar "$home/jars/"
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
uip=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
opens="--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED"
pids=()
start() { SPARK_HOME=$home SPARK_SCALA_VERSION=2.13 JAVA_HOME=$jdk "$jdk/bin/java" -Xmx512m $opens -cp "$root/target/spark-lib/*:$root/target/headscan.jar" "$@" & pids+=($!); }
start org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" --webui-port "$uip" > master.log 2>&1
for w in 1 2; do
  start org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 1 --memory 3g --webui-port 0 --work-dir "$work/work$w" "spark://127.0.0.1:$port" > "worker$w.log" 2>&1
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do curl -s "http://127.0.0.1:$uip/json/" 2>/dev/null | grep -q '"aliveworkers" : 2' && break; sleep 0.5; done
clusters=()
for _ in $(seq 1 $runs); do
  rm -rf cluster-ds
  t0=$(now)
  "$hs" sweep "${ckpts[@]}" --score --spark "spark://127.0.0.1:$port" --out cluster-ds --conf spark.driver.host=127.0.0.1 \
    --conf spark.executor.memory=1g --conf spark.cores.max=2 > cluster.log 2>&1
  t1=$(now)
  clusters+=("$(secs "$t0" "$t1")")
done
cluster=$(median "${clusters[@]}")
kill "${pids[@]}" 2>/dev/null || true; trap - EXIT

# the same numbers?
compare=$("$root/bench/tools/compare-datasets.sh" "$root" "$work/single.duckdb" "$work/local-ds" "$work/cluster-ds" 2>&1 || true)
steady_local=$(echo "$compare" | sed -n 's/^local-ds: steady throughput \([0-9.]*\) .*/\1/p')
steady_cluster=$(echo "$compare" | sed -n 's/^cluster-ds: steady throughput \([0-9.]*\) .*/\1/p')
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
{
  echo "# Sweep on Spark: results"
  echo
  echo "Made by \`bench/spark.sh\` on $(date -u +%Y-%m-%d): $cpu, $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, Spark 4.2.0;"
  echo "$n GPT-2-Small-size synthetic checkpoints (F32 safetensors, in the page cache), \`sweep --score\` (8 bags of 128, one seed)."
  echo
  echo "Wall times are the median of $runs runs each (single process: ${singles[*]} s; local[2]: ${locals[*]} s; cluster: ${clusters[*]} s)."
  echo
  echo "| run | wall time (s) | per checkpoint (s) | relative to the single process |"
  echo "|---|---|---|---|"
  echo "| single process (\`--db\`) | $single | $(python3 -c "print('%.2f' % ($single / $n))") | 1.00 |"
  echo "| \`--spark local[2]\` | $local2 | $(python3 -c "print('%.2f' % ($local2 / $n))") | $(ratio "$local2" "$single") |"
  echo "| standalone cluster on loopback, 2 workers x 1 core | $cluster | $(python3 -c "print('%.2f' % ($cluster / $n))") | $(ratio "$cluster" "$single") |"
  echo
  echo "Throughput of the cluster relative to \`local[2]\`, whole runs: $(ratio "$local2" "$cluster"); in steady state (checkpoints committed per"
  echo "second between the first and the last commit, start-up left out): $(python3 -c "print('%.2f' % ($steady_cluster / $steady_local))") (target >= 0.8)."
  echo "\`local[2]\` against the single process: $(ratio "$local2" "$single")x its wall time (target <= 1.3)."
  echo
  echo "Numbers compared with the single-process sweep, key by key:"
  echo
  echo '```'
  echo "$compare"
  echo '```'
  echo
  echo "Lines of the cluster run:"
  echo
  echo '```'
  grep -aE '^\[|^sweep:' cluster.log
  echo '```'
} > "$results"
cat "$results"
