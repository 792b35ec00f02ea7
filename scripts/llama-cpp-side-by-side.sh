#!/usr/bin/env bash
# instella bench beside llama.cpp's llama-bench on the same machine, same shapes, one session (not part of CI:
# it builds llama.cpp, writes ~5 GB of GGUF files and runs for tens of minutes).
#
#   scripts/llama-cpp-side-by-side.sh [MODEL_DIR]
#     MODEL_DIR  an Instella-VL-1B directory for `instella bench` (default /tmp/ivl; a random full-size one is as good
#                as the real one: speed does not depend on the values)
#   Environment:
#     LLAMA_CPP  a llama.cpp source tree (default /tmp/llama.cpp; e.g. git clone https://github.com/ggml-org/llama.cpp);
#                llama-bench and llama-quantize are built there (CPU only, -DGGML_NATIVE=ON: this CPU's AVX-512/VNNI)
#                unless build/bin already has them
#     WORK       where the GGUF files and results go (default /tmp/llama-side)
#     THREADS    threads for both sides (default 2)
#     WEIGHTS    instella weight types (default bf16,q8_0,q4_0), compared with llama.cpp's F16, Q8_0, Q4_0
#
# The GGUF is an OLMo-1B-shaped model (llama.cpp arch "olmo": hidden 2048, 16 layers, 16 heads, MLP 8192, vocab
# 50304, non-parametric LayerNorm, tied embeddings: the language model of Instella-VL-1B) with random F16 weights
# and no vocabulary (llama-bench feeds random token ids); Q8_0 and Q4_0 come from llama-quantize.
# Results: $WORK/llama-bench-*.json, $WORK/instella-bench.json and a table of ratios (ours / llama.cpp) on stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-/tmp/ivl}"
llama="${LLAMA_CPP:-/tmp/llama.cpp}"
work="${WORK:-/tmp/llama-side}"
threads="${THREADS:-2}"
weights="${WEIGHTS:-bf16,q8_0,q4_0}"
mkdir -p "$work"

[ -d "$llama/ggml" ] || { echo "no llama.cpp source tree at $llama (set LLAMA_CPP)" >&2; exit 1; }
[ -f "$model/config.json" ] || { echo "no Instella-VL model at $model (pass its directory)" >&2; exit 1; }
bin="$llama/build/bin"
if [ ! -x "$bin/llama-bench" ] || [ ! -x "$bin/llama-quantize" ]; then
  echo "building llama-bench and llama-quantize in $llama/build ..." >&2
  cmake -S "$llama" -B "$llama/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
  cmake --build "$llama/build" -j "$(nproc)" --target llama-bench llama-quantize >/dev/null
fi

f16="$work/olmo-1b-random-f16.gguf"
if [ ! -f "$f16" ]; then
  echo "writing $f16 ..." >&2
  # gguf-py's vocab module imports sentencepiece; no vocabulary is written here, so a stand-in will do where it is missing.
  stub="$work/pystub"
  if ! python3 -c "import sentencepiece" 2>/dev/null; then
    mkdir -p "$stub/sentencepiece"
    echo "class SentencePieceProcessor: pass" > "$stub/sentencepiece/__init__.py"
  fi
  PYTHONPATH="$llama/gguf-py:$stub" python3 - "$f16" <<'EOF'
import sys
import numpy as np
import gguf

hidden, layers, heads, ff, vocab = 2048, 16, 16, 8192, 50304
w = gguf.GGUFWriter(sys.argv[1], "olmo")
w.add_name("olmo-1b-shaped-random")
w.add_context_length(4096)
w.add_embedding_length(hidden)
w.add_block_count(layers)
w.add_feed_forward_length(ff)
w.add_head_count(heads)
w.add_head_count_kv(heads)
w.add_layer_norm_eps(1e-5)
w.add_rope_freq_base(10000.0)
w.add_rope_dimension_count(hidden // heads)
w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
w.add_tokenizer_model("none")
w.add_vocab_size(vocab)
# One random buffer; every tensor is a view of it (values do not matter for speed, memory stays small).
pool = (np.random.default_rng(0).standard_normal(vocab * hidden, dtype=np.float32) * 0.02).astype(np.float16)
def t(rows, cols):
    return pool[: rows * cols].reshape(rows, cols)
w.add_tensor("token_embd.weight", t(vocab, hidden))
for i in range(layers):
    for name, rows, cols in (("attn_q", hidden, hidden), ("attn_k", hidden, hidden), ("attn_v", hidden, hidden),
                             ("attn_output", hidden, hidden), ("ffn_gate", ff, hidden), ("ffn_up", ff, hidden),
                             ("ffn_down", hidden, ff)):
        w.add_tensor(f"blk.{i}.{name}.weight", t(rows, cols))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
EOF
fi
for q in Q8_0 Q4_0; do
  out="$work/olmo-1b-random-${q,,}.gguf"
  [ -f "$out" ] || "$bin/llama-quantize" "$f16" "$out" "$q" >/dev/null 2>&1
done

{
  echo "date: $(date -u +%FT%TZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512dq|avx512_vnni|avx_vnni|avx512_bf16)$' | tr '\n' ' ')"
  echo "llama.cpp: $(git -C "$llama" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$work/machine.txt" >&2

# One session, interleaved: llama.cpp, instella, llama.cpp again (the load of the machine is printed with each).
run_llama() {
  for q in f16 q8_0 q4_0; do
    echo "llama-bench $q (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$bin/llama-bench" -m "$work/olmo-1b-random-$q.gguf" -p 512,32 -n 128 -t "$threads" -o json > "$work/llama-bench-$q-$1.json"
  done
}
run_llama 1
echo "instella bench (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
"$root/instella" bench --model "$model" --weights "$weights" --threads "$threads" --runs 2 --json > "$work/instella-bench.json"
"$root/instella" bench --model "$model" --weights "$weights" --threads "$threads" --runs 2 --prefill 32 --skip-vision --json \
  > "$work/instella-bench-p32.json"
run_llama 2
echo "done (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2

python3 - "$work" "$weights" <<'EOF'
import json, sys, glob
work, weights = sys.argv[1], sys.argv[2].split(",")
def llama(q):
    best = {}
    for f in glob.glob(f"{work}/llama-bench-{q}-*.json"):
        for r in json.load(open(f)):
            key = ("pp", r["n_prompt"]) if r["n_prompt"] else ("tg", r["n_gen"])
            best[key] = max(best.get(key, 0), r["avg_ts"])
    return best
def ours(path):
    doc = json.load(open(path))
    return {r["weights"]: r for r in doc["results"]}, doc["machine"]
ours512, machine = ours(f"{work}/instella-bench.json")
ours32, _ = ours(f"{work}/instella-bench-p32.json")
print(f"instella: {machine.get('quantized_kernels')}, {machine.get('vector_bits')}-bit vectors, "
      f"read {machine.get('read_gbps')} GB/s, FMA peak {machine.get('fma_gflops')} GFLOP/s, {machine.get('threads')} threads")
print("| weights | prefill 512 tok/s (ours / llama.cpp) | prefill 32 | decode tok/s |")
print("|---|---|---|---|")
for t, q in zip(weights, ("f16", "q8_0", "q4_0")):
    l = llama(q)
    p512 = ours512.get(t, {}).get("prefill_tps")
    dec = ours512.get(t, {}).get("decode_tps")
    p32 = ours32.get(t, {}).get("prefill_tps")
    def cell(a, b):
        return f"{a:.2f} / {b:.2f} = {a / b:.2f}×" if a and b else f"{a} / {b}"
    print(f"| {t} / {q.upper()} | {cell(p512, l.get(('pp', 512)))} | {cell(p32, l.get(('pp', 32)))} | {cell(dec, l.get(('tg', 128)))} |")
EOF
