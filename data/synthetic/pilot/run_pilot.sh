#!/bin/bash
# usage: run2.sh STRATEGY
cd /work/main && . .venv/bin/activate
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
s=$1
nice -n 5 synrank generate --queries /tmp/pilot/queries.tsv --pool msmarco-dev-queries --strategy $s \
    --backend transformers-gguf --model smollm2 --threads 1 --batch-size 40 --temperature 0.5 \
    --max-new-tokens 100 --limit 30 --out data/synthetic/pilot/smollm2-$s --no-progress \
    --description "Pilot: SmolLM2-135M-Instruct Q4_1, strategy $s, 30 queries" > /tmp/pilot/$s.log 2>&1
echo done > /tmp/pilot/DONE-$s
