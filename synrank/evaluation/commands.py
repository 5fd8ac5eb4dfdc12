"""``synrank evaluate``: score an existing TREC run (``--run``) or a model (``--model``) on a dataset."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from synrank.cliargs import add_list_option
from synrank.data import load_dataset
from synrank.data.folders import EVALUATION_MODES
from synrank.data.trec import read_run
from synrank.errors import DatasetError, SynrankError
from synrank.evaluation.evaluator import evaluate_run
from synrank.evaluation.measures import DEFAULT_MEASURES, parse_measures
from synrank.io import folder_lock, sha256_file
from synrank.records import METRICS_FILE, PER_QUERY_FILE, DatasetRef, EvaluationRecord, write_evaluation

logger = logging.getLogger(__name__)

# options that only make sense with --model, and the value meaning "not given"
_MODEL_ONLY = ("mode", "top_k", "batch_size", "max_length", "no_cache", "name", "candidates", "backend")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="evaluate a TREC run file or a model on a dataset",
        description="Score a retrieval run on a dataset split and print the measures (nDCG@{1,3,5,10,100} "
                    "with linear gains, MAP, Recall@{10,100,1000}, MRR@10, P@10, computed by trec_eval). "
                    "Binary measures use the dataset's relevance threshold (TREC DL: grade >= 2); every "
                    "judged query counts, 0 when nothing was retrieved; ties rank as in trec_eval (doc id descending).\n"
                    "With --output, per_query.tsv and metrics.json (config, config hash, versions, "
                    "dataset sha256) are written atomically.",
        epilog="examples:\n"
               "  synrank evaluate --run bm25_top100.trec --dataset trec-dl-2019\n"
               "  synrank evaluate --model all-MiniLM-L6-v2 --dataset scifact --output results/minilm-scifact\n"
               "  synrank evaluate --model mypackage.models:MyEncoder --dataset scifact\n"
               "    (a class with encode_queries/encode_corpus, or only encode(texts, **kwargs) as\n"
               "    sentence-transformers and MTEB models have)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, metavar="RUN",
                        help="TREC run file to evaluate (qid Q0 docid rank score tag; plain or .gz)")
    source.add_argument("--model", metavar="MODEL",
                        help="model to evaluate: local folder, alias (all-MiniLM-L6-v2), hub name when online, "
                             "or module:Class (a class with encode_queries/encode_corpus or only encode)")
    p.add_argument("--dataset", required=True, metavar="NAME",
                   help="dataset name (see synrank datasets) or a BEIR-layout folder")
    p.add_argument("--split", help="qrels split (default: the dataset's default split, usually test)")
    p.add_argument("--output", type=Path, metavar="DIR",
                   help="write per_query.tsv and metrics.json (model mode: also run.trec.gz and, for datasets "
                        "MTEB has, mteb/results/<model>/<revision>/<Task>.json) into DIR; the files of an earlier "
                        "evaluation there are replaced as a whole")
    add_list_option(p, "--measures", metavar="MEASURE",
                    help="measures, e.g. nDCG@10,MAP,Recall@100 (comma-separated, space-separated or repeated; "
                         "default: the standard set)")
    p.add_argument("--json", action="store_true", help="print the aggregate scores as JSON instead of a table")
    model = p.add_argument_group("model options (only with --model)")
    model.add_argument("--mode", choices=EVALUATION_MODES, default=None,
                       help="full: search the whole corpus; rerank: score the dataset's shipped candidate run; "
                            "auto (default): rerank when the dataset ships a run, else full")
    model.add_argument("--top-k", type=_positive_int, default=None,
                       help="ranking depth: documents kept per query (full retrieval; re-ranking cuts the "
                            "re-ranked list) (default 1000)")
    model.add_argument("--batch-size", type=_positive_int, default=None, help="encoding batch size (default 64)")
    model.add_argument("--max-length", type=_positive_int, default=None,
                       help="maximum tokens per text (default: the model's own)")
    model.add_argument("--no-cache", action="store_true", default=None,
                       help="do not read or write the embedding cache")
    model.add_argument("--backend", default=None, metavar="NAME",
                       help="encoding backend of a sentence-transformers model: auto (default: the fastest "
                            "this CPU runs natively that matched fp32 on the quality gate), torch-fp32, "
                            "torch-bf16, openvino-fp32, openvino-bf16, onnx-fp32 or onnx-int8; every "
                            "backend but torch-fp32 is checked against torch-fp32 on probe texts first")
    model.add_argument("--name", default=None, help="name recorded for the model in the artifacts")
    model.add_argument("--candidates", type=Path, default=None, metavar="RUN",
                       help="rerank mode: re-rank this TREC run's candidates instead of the dataset's shipped run")
    p.set_defaults(func=cmd_evaluate)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.run is not None:
        given = [f"--{o.replace('_', '-')}" for o in _MODEL_ONLY if getattr(args, o, None) is not None]
        if given:
            raise SynrankError(f"{', '.join(given)} only apply with --model; a --run is evaluated as it is")
        return _evaluate_run_file(args)
    return _evaluate_model(args)


# ---------------------------------------------------------------------------------------------- --run


def _measures(args: argparse.Namespace) -> tuple[str, ...]:
    try:
        return tuple(m.name for m in parse_measures(args.measures or DEFAULT_MEASURES))
    except ValueError as exc:
        raise SynrankError(f"--measures: {exc}") from exc


def _evaluate_run_file(args: argparse.Namespace) -> int:
    # start-up time: every synrank command imports this module to register it; provenance loads psutil
    from synrank.provenance import Timings, config_hash, environment, portable_path

    measures = _measures(args)
    timings = Timings()
    with timings.measure("load_dataset"):
        dataset = load_dataset(args.dataset, split=args.split, corpus=False)
    if not dataset.qrels:
        raise DatasetError(f"dataset {dataset.name!r} has no judgments in split {dataset.split!r}",
                           dataset.info.path, hint="choose a split with qrels (--split)")
    with timings.measure("read_run"):
        run = read_run(args.run)
    judged_in_run = sum(1 for qid in run if qid in dataset.qrels)
    if judged_in_run == 0:
        raise DatasetError(
            f"none of the {len(run)} queries in the run is judged in {dataset.name}/{dataset.split} "
            f"(e.g. run query {next(iter(run))!r})", args.run,
            hint="wrong --dataset or --split? query ids must match the dataset's qrels")
    with timings.measure("evaluate"):
        result = evaluate_run(dataset.qrels, run, measures=measures,
                              relevance_threshold=dataset.info.relevance_threshold,
                              ignore_identical_ids=dataset.info.ignore_identical_ids)

    header = (f"{args.run} on {dataset.name}/{dataset.split}: {result.n_queries} judged queries "
              f"({judged_in_run} in the run), relevance threshold {result.relevance_threshold}"
              + (", identical ids ignored" if result.ignore_identical_ids else ""))
    if args.output is not None:
        run_sha = sha256_file(args.run)
        config = {
            "kind": "run",
            "run_sha256": run_sha,
            "dataset": dataset.name,
            "split": dataset.split,
            "dataset_sha256": dataset.sha256(),
            "measures": list(result.measures),
            "relevance_threshold": result.relevance_threshold,
            "ignore_identical_ids": result.ignore_identical_ids,
        }
        record = EvaluationRecord(
            kind="run", aggregate=result.aggregate, n_queries=result.n_queries, config=config,
            config_hash=config_hash(config), evaluation=result.evaluation_summary(), notes=list(result.notes),
            dataset=DatasetRef(name=dataset.name, split=dataset.split,
                               path=portable_path(dataset.info.path, relative_to=args.output),
                               sha256=dataset.sha256(), checksums=dict(dataset.checksums)),
            run={"path": portable_path(args.run, relative_to=args.output), "sha256": run_sha,
                 "n_queries": len(run), "n_documents": sum(len(d) for d in run.values())},
            timings=dict(timings), **environment())
        with folder_lock(args.output, what="results folder"):
            # a run.trec.gz left by an earlier --model evaluation of another cell goes (unless it is --run)
            write_evaluation(args.output, record, result.per_query_scores(), keep=[args.run])
        logger.info("wrote %s and %s", args.output / PER_QUERY_FILE, args.output / METRICS_FILE)
    _print_scores(header, result.aggregate, args.json)
    return 0


# -------------------------------------------------------------------------------------------- --model


def _evaluate_model(args: argparse.Namespace) -> int:
    # start-up time: every synrank command imports this module; the pipeline loads torch (1-2 s)
    from synrank.evaluation.pipeline import evaluate_model

    kwargs: dict[str, Any] = {"split": args.split, "output_dir": args.output, "mode": args.mode or "auto"}
    if args.quiet:
        kwargs["show_progress"] = False
    if args.measures:
        kwargs["measures"] = _measures(args)
    if args.candidates is not None:
        kwargs["candidates"] = args.candidates
    if args.top_k is not None:
        kwargs["top_k"] = args.top_k
    if args.batch_size is not None:
        kwargs["batch_size"] = args.batch_size
    if args.max_length is not None:
        kwargs["max_length"] = args.max_length
    if args.no_cache:
        kwargs["cache"] = False
    if args.name is not None:
        kwargs["name"] = args.name
    if args.backend is not None:
        kwargs["backend"] = args.backend
    cell = evaluate_model(args.model, args.dataset, **kwargs)
    split = f"/{args.split}" if args.split else ""
    header = f"{args.name or args.model} on {args.dataset}{split}: {cell.n_queries} judged queries"
    if cell.output_dir is not None:
        header += f"; artifacts in {cell.output_dir}"
    _print_scores(header, cell.aggregate, args.json)
    return 0


# ---------------------------------------------------------------------------------------------- output


def format_scores(aggregate: dict[str, float]) -> str:
    """A two-column table of measures and values (4 decimals, as papers report them)."""
    import pandas as pd  # heavy (about 0.3 s); only for printing

    frame = pd.DataFrame({"measure": list(aggregate), "value": [float(v) for v in aggregate.values()]})
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def _print_scores(header: str, aggregate: dict[str, float], as_json: bool) -> None:
    if as_json:
        print(json.dumps(aggregate, indent=2))
        return
    print(header)
    print(format_scores(aggregate))
