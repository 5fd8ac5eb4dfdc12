"""CLI: ``synrank generate``, ``synrank synthetic-report``, ``synrank synthetic-import``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synrank.cliargs import add_deprecated_alias, add_list_option, require
from synrank.data.shards import pack
from synrank.errors import ConfigError
from synrank.synthetic.backends import SamplingParams


def _kv(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--backend-option {item!r} must be KEY=VALUE")
        k, v = item.split("=", 1)
        try:
            out[k.replace("-", "_")] = json.loads(v)
        except json.JSONDecodeError:
            out[k.replace("-", "_")] = v
    return out


# The commands import their machinery when they run: every `synrank` command imports this module, and
# the generator's, data card's and report's imports (numpy, yaml, psutil; torch for the report) would slow
# them all down.
def cmd_generate(args: argparse.Namespace) -> int:
    from synrank.synthetic.datacard import write_datacard  # start-up time, see above
    from synrank.synthetic.pipeline import GenerationConfig, generate  # start-up time

    require(args.parser, args, "output", "--output")
    out = Path(args.output)
    if args.pack or args.finalize:
        if not out.is_dir():
            raise ConfigError("output folder does not exist", out)
        if args.pack:
            res = pack(out)
            print(f"packed {res['packed_shards']} shard(s) in {out}")
        card = write_datacard(out)
        print(f"data card: {out / 'README.md'} ({card['groups']} groups)")
        return 0
    if not args.queries:
        raise ConfigError("--queries is required (a dataset name such as msmarco-dev-queries, or a .tsv/.jsonl file)")
    sampling = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                              top_k=args.sampling_top_k, repetition_penalty=args.repetition_penalty)
    options = _kv(args.backend_option)
    if args.threads is not None:
        options["threads"] = args.threads
    cfg = GenerationConfig(queries=args.queries, out=out, backend=args.backend, model=args.model,
                           strategy=args.strategy, levels=tuple(args.levels), limit=args.limit, seed=args.seed,
                           pool=args.pool, max_attempts=args.max_attempts, batch_size=args.batch_size,
                           shard_size=args.shard_size, sampling=sampling, backend_options=options,
                           description=args.description or "", progress=not (args.no_progress or args.quiet))
    stats = generate(cfg)
    print(f"{out}: {stats['groups']} new groups this session, {stats['total_groups']} in total; "
          f"{stats['rejected_passages']} passages rejected; "
          f"{stats['gen_tokens'] / max(stats['gen_seconds'], 1e-9):.1f} tok/s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from synrank.synthetic.report import synthetic_report  # start-up time

    rep = synthetic_report(args.dir, out_dir=args.output, encoder=args.encoder, n_samples=args.samples,
                           batch_size=args.batch_size)
    enc = rep["encoder_view"]
    print(f"report: {rep['output']['markdown']} — Spearman(grade, cosine) {enc['spearman']:.3f}, "
          f"fully ordered {enc['ordered_fraction']:.3f}, P(2>1) {enc['pairwise'].get('2>1', float('nan')):.3f}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from synrank.synthetic.sycl_import import import_sycl  # start-up time

    require(args.parser, args, "output", "--output")
    res = import_sycl(args.input, args.output, guard=not args.no_guard, limit=args.limit)
    print(f"imported {res['groups']} groups ({res['passages']} passages) into {res['output']}; "
          f"skipped {res['skipped_evaluation_queries']} evaluation queries")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate graded synthetic passages (resumable)",
                       description="Generate graded synthetic training groups for real queries. Re-running the "
                                   "same command resumes; a higher --limit extends the dataset.")
    p.add_argument("--queries", help="dataset name/folder (its queries.jsonl) or a .tsv/.jsonl query file")
    p.add_argument("--output", metavar="DIR", help="output folder (append-only shards, rejects, data card); required")
    add_deprecated_alias(p, "--out", "--output", "output", metavar="DIR")
    p.add_argument("--backend", default="local",
                   choices=["local", "transformers-gguf", "llamacpp", "openai", "vllm", "echo"],
                   help="generation backend ('echo' is a FAKE test backend without a model)")
    p.add_argument("--model", help="GGUF path or 'smollm2' (local); served model name (openai); hub name (vllm)")
    p.add_argument("--strategy", default="anchored", choices=["anchored", "direct", "direct-json"],
                   help="how grades are made: anchored (a passage per source query of known relation), direct "
                        "(one prompt per grade), direct-json (all grades in one JSON reply); see docs/synthetic.md")
    add_list_option(p, "--levels", item_type=int, default=[3, 2, 1, 0], metavar="GRADE", help="grades to generate")
    p.add_argument("--limit", type=int, help="number of groups the folder should hold when done")
    p.add_argument("--pool", help="query pool for anchored sources (default: the --queries source)")
    p.add_argument("--seed", type=int, default=0, help="base seed of query order and sampling")
    p.add_argument("--max-attempts", type=int, default=3, help="tries per passage before the query is dropped")
    p.add_argument("--batch-size", type=int, help="prompts per backend call (default: the backend's)")
    p.add_argument("--shard-size", type=int, default=500, help="groups per shard file")
    p.add_argument("--threads", type=int, help="CPU threads (local backends)")
    p.add_argument("--max-new-tokens", type=int, default=100, help="longest passage, in tokens")
    p.add_argument("--temperature", type=float, default=0.5, help="sampling temperature")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling probability mass")
    p.add_argument("--sampling-top-k", type=int, default=50, metavar="K",
                   help="sample each token from the K most likely ones (not the ranking depth of evaluate --top-k)")
    add_deprecated_alias(p, "--top-k", "--sampling-top-k", "sampling_top_k", type=int)
    p.add_argument("--repetition-penalty", type=float, default=1.1, help="penalty on repeated tokens (1: none)")
    add_list_option(p, "--backend-option", split_commas=False, default=[], metavar="KEY=VALUE",
                    help="extra backend options, e.g. base_url=http://host:8000/v1 concurrency=16 (space-separated "
                         "or repeated; not comma-separated, since a value may hold commas)")
    p.add_argument("--description", help="free text for the data card (e.g. why this model/strategy)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--pack", action="store_true", help="only compact closed shards to .jsonl.gz and refresh the data card")
    p.add_argument("--finalize", action="store_true", help="only refresh the data card")
    p.set_defaults(func=cmd_generate, parser=p)

    r = sub.add_parser("synthetic-report", help="quality report of a synthetic dataset",
                       description="Per-grade length, overlap, encoder and BM25 views of a graded dataset; "
                                   "writes report.md, report.json and report.png.")
    r.add_argument("dir", help="folder (or file) of graded groups")
    r.add_argument("--output", metavar="DIR", help="where to write the report (default: DIR)")
    add_deprecated_alias(r, "--out", "--output", "output", metavar="DIR")
    r.add_argument("--encoder", default="all-MiniLM-L6-v2", help="reference encoder")
    r.add_argument("--samples", type=int, default=3, help="queries in the sample table")
    r.add_argument("--batch-size", type=int, default=64, help="encoding batch size")
    r.set_defaults(func=cmd_report)

    i = sub.add_parser("synthetic-import", help="import SyCL's published synthetic data into synrank groups",
                       description="Convert SyCL data files (JSONL: a query and passages per relevance level) "
                                   "into synrank.groups/v1 (.jsonl.gz).")
    i.add_argument("input", help="SyCL .jsonl/.jsonl.gz file or folder of them")
    i.add_argument("--output", metavar="PATH", help="output .jsonl.gz file or folder; required")
    add_deprecated_alias(i, "--out", "--output", "output", metavar="PATH")
    i.add_argument("--limit", type=int, help="import at most this many groups (default: all)")
    i.add_argument("--no-guard", action="store_true",
                   help="do not drop evaluation queries (only for data never used to train)")
    i.set_defaults(func=cmd_import, parser=i)
