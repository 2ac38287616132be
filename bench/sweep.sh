#!/usr/bin/env bash
# Benchmark of `headscan sweep` (issue 12's targets), on this machine, written to bench/SWEEP-RESULTS.md:
#   10 GPT-2-Small-size synthetic checkpoints (in the page cache); sweep --score against 10 separate `headscan score`
#   runs (fresh caches, as for checkpoints never seen, and warm ones), with the same numbers checked; sweep --weights;
#   both sweeps under a 64 MB heap, with their peak resident memory; where one checkpoint's time goes.
#   --long adds a sweep over 30 checkpoints (start-up spread thinner; resident memory against the 10).
# Usage: bench/sweep.sh [--long] [WORK_DIR] (default /tmp/headscan-sweep-bench; ~6 GB, ~17 GB with --long).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
long=0
[ "${1:-}" = "--long" ] && { long=1; shift; }
work=${1:-/tmp/headscan-sweep-bench}
hs=$root/headscan
mkdir -p "$work"
cd "$work"
"$hs" --version > /dev/null
n_all=10
[ "$long" = 1 ] && n_all=30
all=()
for i in $(seq 0 $((n_all - 1))); do
  d=run/checkpoint-$(( (i + 1) * 1000 ))
  [ -f "$d/model.safetensors" ] || "$hs" synth --out "$d" --seed "$i" --plant 10.7,11.10 > /dev/null
  all+=("$d")
done
ten=("${all[@]:0:10}")
now() { date +%s%N; }
secs() { python3 -c "print('%.2f' % (($2 - $1) / 1e9))"; }
fresh() { rm -rf "$work/cache"; mkdir -p "$work/cache"; cp -r "$work/cds" "$work/cache/" 2>/dev/null || true; }
warm() { cat "$@" > /dev/null; }   # in the page cache
export HEADSCAN_CACHE=$work/cache
# keep the class-data archive between fresh caches (it belongs to the build, not to the checkpoints)
rm -rf "$work/cache"; "$hs" --version > /dev/null; rm -rf "$work/cds"; cp -r "$work/cache/cds" "$work/cds"
steady() {   # median of the per-checkpoint times of the second half of a sweep log
  python3 - "$1" <<'PY'
import re, statistics, sys
t = [float(x) for x in re.findall(r"\] .* in ([0-9.]+) s", open(sys.argv[1]).read())]
print("%.2f" % statistics.median(t[len(t) // 2:]))
PY
}
rss() { sed -n 's/^maxrss_kb=//p' "$1" | tail -1 | awk '{printf "%.0f", $1 / 1024}'; }

warm "${ten[@]/%//model.safetensors}"
fresh; t0=$(now)
for d in "${ten[@]}"; do "$hs" score "$d" --top 2 --csv "$work/score-$(basename "$d").csv" > /dev/null 2>&1; done
t1=$(now); separate_fresh=$(secs "$t0" "$t1")
t0=$(now)
for d in "${ten[@]}"; do "$hs" score "$d" --top 2 > /dev/null 2>&1; done
t1=$(now); separate_warm=$(secs "$t0" "$t1")
profile=$("$hs" score "${ten[0]}" --top 1 --profile 2>&1 | sed -n 's/^profile: \(open_model.*\)/\1/p')

fresh; rm -f s.duckdb*; t0=$(now)
HEADSCAN_JAVA_OPTS=-Xmx64m /usr/bin/time -f "maxrss_kb=%M" "$hs" sweep "${ten[@]}" --score --db s.duckdb --export "$work/sweep.csv" > sweep.log 2>&1
t1=$(now); sweep_score=$(secs "$t0" "$t1")
t0=$(now)
HEADSCAN_JAVA_OPTS=-Xmx64m "$hs" sweep "${ten[@]}" --score --seeds 1 --db s.duckdb > sweep2.log 2>&1
t1=$(now); sweep_seen=$(secs "$t0" "$t1")
rm -f w.duckdb*; t0=$(now)
HEADSCAN_JAVA_OPTS=-Xmx64m /usr/bin/time -f "maxrss_kb=%M" "$hs" sweep "${ten[@]}" --weights --db w.duckdb > weights.log 2>&1
t1=$(now); sweep_weights=$(secs "$t0" "$t1")
long_row=""
if [ "$long" = 1 ]; then
  warm "${all[@]/%//model.safetensors}"
  fresh; rm -f l.duckdb*; t0=$(now)
  HEADSCAN_JAVA_OPTS=-Xmx64m /usr/bin/time -f "maxrss_kb=%M" "$hs" sweep "${all[@]}" --score --db l.duckdb > long.log 2>&1
  t1=$(now); sweep_long=$(secs "$t0" "$t1")
  long_row="| \`headscan sweep --score\` over 30 checkpoints, fresh cache, \`-Xmx64m\` | ${sweep_long} s | $(python3 -c "print('%.2f' % ($sweep_long / 30))") s | $(steady long.log) s | $(rss long.log) MB |"
fi

same=$(python3 - "$work" <<'PY'
import csv, glob, os, sys
work = sys.argv[1]
sweep = {}
for r in csv.DictReader(open(os.path.join(work, "sweep.csv"))):
    if r["metric"] == "score":
        sweep[(os.path.basename(r["spec"]), int(r["layer"]), int(r["head"]))] = float(r["value"])
worst, n = 0.0, 0
for f in glob.glob(os.path.join(work, "score-checkpoint-*.csv")):
    name = os.path.basename(f)[len("score-"):-len(".csv")]
    for r in csv.DictReader(open(f)):
        if (name, int(r["layer"]), int(r["head"])) not in sweep:
            continue
        v = sweep[(name, int(r["layer"]), int(r["head"]))]
        worst = max(worst, abs(v - float(r["score"])))
        n += 1
print("%d head scores compared, largest difference %.2g (the CSV prints 8 significant digits)" % (n, worst))
PY
)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
per() { python3 -c "print('%.2f' % ($1 / 10))"; }
cat > "$root/bench/SWEEP-RESULTS.md" <<MD
# sweep benchmark ($(date -u +%Y-%m-%d), bench/sweep.sh$([ "$long" = 1 ] && echo " --long"))

Machine: $cpu, $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}. GPT-2-Small-size synthetic checkpoints
(548 MB each, planted 10.7 and 11.10), all in the page cache. Default score options (8 random bags of 128, W_EE hackathon).
Totals are wall times of whole commands, JVM start included; "steady" is the median time of one checkpoint over the
second half of a sweep (its own log lines); "peak RSS" counts the mapped checkpoint pages that are resident.

| what | total | per checkpoint | steady | peak RSS |
|---|---|---|---|---|
| 10 separate \`headscan score\` runs, fresh cache (checkpoints never seen) | ${separate_fresh} s | $(per "$separate_fresh") s | | |
| 10 separate \`headscan score\` runs, warm cache (second run of each) | ${separate_warm} s | $(per "$separate_warm") s | | |
| \`headscan sweep --score\` over the 10, fresh cache, \`-Xmx64m\` | ${sweep_score} s | $(per "$sweep_score") s | $(steady sweep.log) s | $(rss sweep.log) MB |
| \`headscan sweep --score --seeds 1\` over the same 10 again (a new definition; non-finite counts and vocabulary means remembered) | ${sweep_seen} s | $(per "$sweep_seen") s | $(steady sweep2.log) s | |
| \`headscan sweep --weights\` over the 10, \`-Xmx64m\` | ${sweep_weights} s | $(per "$sweep_weights") s | $(steady weights.log) s | $(rss weights.log) MB |
${long_row}

Same numbers: ${same}.
Speed-up of the sweep over separate runs on checkpoints never seen: $(python3 -c "print('%.2fx' % ($separate_fresh / $sweep_score))").

Where one checkpoint's time goes (\`score --profile\`, a checkpoint seen before, in its own process, milliseconds):
${profile}

The score's products are about 44 GFLOP per checkpoint (24 projection GEMMs of 1.2 GFLOP, W_EE's of the bag tokens
about 12, the bag scores about 2.4), which alone take 0.25 s at this machine's sgemm peak (bench/RESULTS.md); the
non-finite check and the vocabulary mean read ~270 MB more, mapped for the first time. A sweep pays its start-up
(JVM, DuckDB, the backend) once and the JIT's warm-up in its first checkpoints; both are spread over the checkpoints.
MD
cat "$root/bench/SWEEP-RESULTS.md"
