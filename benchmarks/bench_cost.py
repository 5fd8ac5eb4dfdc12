"""Small-scale measurements behind docs/cost-model.md.

    python -m benchmarks.bench_cost [--output results/bench] [--n-passages 256]

Measures, on this machine and on real data:

1. Token statistics of real MS MARCO passages (the TREC DL 2019 + 2020 BM25 pools, 9.7k passages)
   and of real MS MARCO dev queries, with the bert-base-uncased WordPiece vocabulary that both
   all-MiniLM-L6-v2 and facebook/contriever use (counted with the packaged MiniLM tokenizer);
   token counts of the synthetic-data prompts (``synrank.synthetic.prompts``) for the same queries.
2. Encoding throughput (passages/s, tokens/s, CPU seconds) of all-MiniLM-L6-v2 and of a
   BERT-base-sized encoder with Contriever's architecture (12 layers, 768 hidden; random weights:
   speed does not depend on the values), max length 256, batch 64.
3. Training throughput of the BERT-base architecture: forward + backward of a list-wise step
   (queries + 4 passages each, in-batch scoring) at batch 4 queries, max length 256.

Written to ``<output>/cost.json`` and ``cost.md`` with provenance. The machine is shared, so CPU time
(``time.process_time``) is reported beside wall time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from synrank.data import load_dataset
from synrank.io import atomic_write_json, atomic_write_text
from synrank.paths import minilm_path
from synrank.provenance import environment, peak_rss_mb
from synrank.synthetic.prompts import all_in_one_messages, render_plain

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent


def _passages() -> list[str]:
    texts: list[str] = []
    for name in ("trec-dl-2019", "trec-dl-2020"):
        ds = load_dataset(name)
        texts += [(d.title + " " + d.text).strip() for d in ds.corpus.values()]
    return texts


def _queries(n: int, seed: int = 0) -> list[str]:
    ds = load_dataset("msmarco-dev-small", corpus=False)
    qs = sorted(ds.queries.values())
    return random.Random(seed).sample(qs, min(n, len(qs)))


def _pct(xs: list[int], q: float) -> int:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def token_stats(tokenizer, passages: list[str], queries: list[str]) -> dict[str, Any]:
    p_len = [len(x) for x in tokenizer(passages, add_special_tokens=True)["input_ids"]]
    q_len = [len(x) for x in tokenizer(queries, add_special_tokens=True)["input_ids"]]
    prompts = [render_plain(all_in_one_messages(q)) for q in queries]
    pr_len = [len(x) for x in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    return {
        "tokenizer": "bert-base-uncased WordPiece (all-MiniLM-L6-v2's; facebook/contriever uses the same vocabulary)",
        "passages": {"source": "trec-dl-2019 + trec-dl-2020 corpus.jsonl (MS MARCO passages)", "n": len(p_len),
                     "mean_tokens": statistics.fmean(p_len), "median": _pct(p_len, 0.5), "p95": _pct(p_len, 0.95),
                     "share_over_256": sum(x > 256 for x in p_len) / len(p_len)},
        "queries": {"source": "msmarco-dev-small queries", "n": len(q_len), "mean_tokens": statistics.fmean(q_len)},
        "synthetic_prompt": {"template": "synrank.synthetic.prompts.all_in_one_messages (4 grades, one call)",
                             "n": len(pr_len), "mean_tokens": statistics.fmean(pr_len)},
    }


def _encode_speed(model, texts: list[str], batch: int) -> dict[str, Any]:
    # torch and the HF libraries load here, after HF_HUB_OFFLINE is set at module top
    import torch

    with torch.inference_mode():
        model.encode(texts[:batch], batch_size=batch)  # warm-up
        c0, w0 = time.process_time(), time.perf_counter()
        model.encode(texts, batch_size=batch)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    ntok = sum(min(len(x), model.max_seq_length)
               for x in model.tokenizer(texts, add_special_tokens=True)["input_ids"])
    return {"n_passages": len(texts), "tokens": ntok, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "passages_per_s_wall": len(texts) / wall, "passages_per_cpu_s": len(texts) / cpu,
            "tokens_per_s_wall": ntok / wall, "tokens_per_cpu_s": ntok / cpu}


def _bert_base(max_len: int, folder: Path):
    """A SentenceTransformer with Contriever's architecture (BERT-base, mean pooling), random weights,
    built in ``folder`` with MiniLM's tokenizer files (the same bert-base-uncased vocabulary)."""
    # torch and the HF libraries load here, after HF_HUB_OFFLINE is set at module top
    import torch
    from sentence_transformers import SentenceTransformer  # as above
    from sentence_transformers.models import Pooling, Transformer  # as above
    from transformers import BertConfig, BertModel  # as above

    torch.manual_seed(0)
    BertModel(BertConfig()).save_pretrained(folder)  # 12 layers, 768 hidden, ~110M parameters
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm_path() / name, folder / name)
    tr = Transformer(str(folder), max_seq_length=max_len)
    return SentenceTransformer(modules=[tr, Pooling(768, "mean")], device="cpu")


def train_speed(model, queries: list[str], passages: list[str], batch: int, group: int, steps: int) -> dict:
    # torch and the HF libraries load here, after HF_HUB_OFFLINE is set at module top
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()
    rng = random.Random(0)

    def step():
        qs = rng.sample(queries, batch)
        ps = rng.sample(passages, batch * group)
        fq = model.preprocess(qs) if hasattr(model, "preprocess") else model.tokenize(qs)
        fp = model.preprocess(ps) if hasattr(model, "preprocess") else model.tokenize(ps)
        eq = model(fq)["sentence_embedding"]
        ep = model(fp)["sentence_embedding"]
        scores = eq @ ep.T
        loss = torch.nn.functional.cross_entropy(scores, torch.arange(batch) * group)
        loss.backward()
        opt.step()
        opt.zero_grad()

    step()  # warm-up
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"batch_queries": batch, "group_size": group, "steps": steps, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "query_groups_per_s_wall": batch * steps / wall,
            "query_groups_per_cpu_s": batch * steps / cpu}


#: Facts of the paper setting (not measured here). MS MARCO passage collection size: Bajaj et al. 2016 /
#: msmarco-passage collection.tsv; MS MARCO train queries with qrels: qrels.train.tsv.
PAPER = {
    "n_passages": 8_841_823,
    "dim": 768,
    "n_train_queries": 502_939,
    "queries_per_step": 16 * 4 * 4,  # 16 per GPU x 4 GPUs x gradient accumulation 4
    "passages_per_query": 4,  # one synthetic passage per relevance level 3, 2, 1, 0
    "max_length": 256,
    "encoder_parameters": 109_482_240,  # BERT-base (facebook/contriever), counted on the model built here
    "llm_parameters": 70.6e9,  # Llama-3.3-70B
}
#: Assumptions for GPU projections (stated, not measured: there is no GPU here).
ASSUME = {"gpu": "A100 80GB", "gpu_peak_bf16_flops": 312e12, "mfu_encoder": 0.35, "mfu_llm_decode": 0.10}


def project(m: dict[str, Any]) -> dict[str, Any]:
    """Paper-scale costs from the measurements ``m`` and the constants above."""
    t = m["tokens"]
    p_tok = min(t["passages"]["mean_tokens"], PAPER["max_length"])
    q_tok = t["queries"]["mean_tokens"]
    n_p, n_q = PAPER["n_passages"], PAPER["n_train_queries"]
    corpus_tokens = n_p * p_tok
    group_tokens = q_tok + PAPER["passages_per_query"] * p_tok
    train_tokens = n_q * group_tokens
    gen_in = t["synthetic_prompt"]["mean_tokens"]
    gen_out = PAPER["passages_per_query"] * t["passages"]["mean_tokens"]
    flops_enc = 2 * PAPER["encoder_parameters"] * corpus_tokens
    flops_train = 6 * PAPER["encoder_parameters"] * train_tokens
    flops_gen = 2 * PAPER["llm_parameters"] * n_q * (gen_in + gen_out)
    gpu = ASSUME["gpu_peak_bf16_flops"]
    enc_cpu = m["encode_bert_base"]["tokens_per_cpu_s"]
    train_cpu = m["train_bert_base"]["query_groups_per_cpu_s"]
    return {
        "inputs": {"paper": PAPER, "assumptions": ASSUME, "passage_tokens_used": p_tok, "query_tokens": q_tok},
        "index": {"float32_bytes": n_p * PAPER["dim"] * 4, "float32_gib": n_p * PAPER["dim"] * 4 / 2**30,
                  "float16_gib": n_p * PAPER["dim"] * 2 / 2**30,
                  "search_flops_per_query": 2 * PAPER["dim"] * n_p},
        "encode_corpus": {"tokens": corpus_tokens, "flops": flops_enc,
                          "cpu_core_hours_measured_rate": corpus_tokens / enc_cpu / 3600,
                          "gpu_hours_projected": flops_enc / (gpu * ASSUME["mfu_encoder"]) / 3600},
        "train_one_epoch": {"query_groups": n_q, "tokens": train_tokens, "optimizer_steps": n_q / PAPER["queries_per_step"],
                            "flops": flops_train,
                            "cpu_core_hours_measured_rate": n_q / train_cpu / 3600,
                            "gpu_hours_projected": flops_train / (gpu * ASSUME["mfu_encoder"]) / 3600},
        "generate_synthetic": {"prompt_tokens": n_q * gen_in, "output_tokens": n_q * gen_out,
                               "flops": flops_gen,
                               "gpu_hours_projected": flops_gen / (gpu * ASSUME["mfu_llm_decode"]) / 3600},
    }


def main(argv: list[str] | None = None) -> int:
    # torch and the HF libraries load here, after HF_HUB_OFFLINE is set at module top
    import torch
    from sentence_transformers import SentenceTransformer  # as above

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", type=Path, default=REPO / "results" / "bench")
    p.add_argument("--n-passages", type=int, default=256)
    p.add_argument("--train-steps", type=int, default=3)
    args = p.parse_args(argv)

    passages = _passages()
    queries = _queries(1000)
    minilm = SentenceTransformer(str(minilm_path()), device="cpu")
    minilm.max_seq_length = 256
    out: dict[str, Any] = {"tokens": token_stats(minilm.tokenizer, passages, queries)}
    sample = random.Random(0).sample(passages, args.n_passages)
    out["encode_minilm_l6"] = {"model": "all-MiniLM-L6-v2 (22.7M parameters)", "max_length": 256, "batch": 64,
                               **_encode_speed(minilm, sample, 64)}
    tmp = tempfile.TemporaryDirectory(prefix="bench-cost-")
    bert = _bert_base(256, Path(tmp.name))
    n_params = sum(p.numel() for p in bert.parameters())
    out["encode_bert_base"] = {"model": f"BERT-base architecture as facebook/contriever ({n_params} parameters)",
                               "max_length": 256, "batch": 64, **_encode_speed(bert, sample, 64)}
    out["train_bert_base"] = {"model": "BERT-base architecture, AdamW, fp32",
                              **train_speed(bert, queries, passages, batch=4, group=4, steps=args.train_steps)}
    out["torch_threads"] = torch.get_num_threads()
    out["projection"] = project(out)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out.update(environment())
    args.output.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.output / "cost.json", out)
    t = out["tokens"]
    md = ["# Cost-model inputs measured here (`python -m benchmarks.bench_cost`)", "",
          f"- MS MARCO passages ({t['passages']['n']}): mean {t['passages']['mean_tokens']:.1f} WordPiece tokens, "
          f"median {t['passages']['median']}, p95 {t['passages']['p95']}",
          f"- MS MARCO dev queries ({t['queries']['n']}): mean {t['queries']['mean_tokens']:.1f} tokens",
          f"- synthetic prompt (all four grades in one call): mean {t['synthetic_prompt']['mean_tokens']:.1f} tokens"]
    for key in ("encode_minilm_l6", "encode_bert_base"):
        e = out[key]
        md.append(f"- encode, {e['model']}: {e['passages_per_s_wall']:.1f} passages/s wall, "
                  f"{e['passages_per_cpu_s']:.1f} per CPU-second, {e['tokens_per_cpu_s']:.0f} tokens per CPU-second")
    tr = out["train_bert_base"]
    md.append(f"- train step, BERT-base, {tr['batch_queries']} queries x {tr['group_size']} passages: "
              f"{tr['query_groups_per_s_wall']:.2f} query-groups/s wall, {tr['query_groups_per_cpu_s']:.3f} per CPU-second")
    md.append(f"- {out['torch_threads']} torch threads on {out['hardware'].get('cpu_count')} CPUs (shared machine)")
    pr = out["projection"]
    md += ["", "Paper-scale projection (see docs/cost-model.md for the derivation and assumptions):",
           f"- index: {pr['index']['float32_gib']:.2f} GiB float32 ({pr['index']['float16_gib']:.2f} GiB float16)",
           f"- encode 8.8M passages: {pr['encode_corpus']['tokens']:.3g} tokens, "
           f"{pr['encode_corpus']['cpu_core_hours_measured_rate']:.0f} CPU-core-hours at the measured rate, "
           f"{pr['encode_corpus']['gpu_hours_projected']:.2f} GPU-hours projected",
           f"- train one epoch: {pr['train_one_epoch']['tokens']:.3g} tokens, "
           f"{pr['train_one_epoch']['cpu_core_hours_measured_rate']:.0f} CPU-core-hours at the measured rate, "
           f"{pr['train_one_epoch']['gpu_hours_projected']:.2f} GPU-hours projected",
           f"- generate: {pr['generate_synthetic']['prompt_tokens']:.3g} prompt + "
           f"{pr['generate_synthetic']['output_tokens']:.3g} output tokens, "
           f"{pr['generate_synthetic']['gpu_hours_projected']:.0f} GPU-hours projected"]
    atomic_write_text(args.output / "cost.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
