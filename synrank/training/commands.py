"""``synrank train --config FILE [--max-steps N] [--output DIR] [--resume]``.

Runs single-process, or distributed when started by torchrun::

    torchrun --nproc_per_node 2 -m synrank.cli train --config benchmarks/configs/train/static-synthetic-ws2.yaml
"""

from __future__ import annotations

import argparse

from synrank.training.config import load_train_config


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a bi-encoder from a training config (see benchmarks/configs/train/)",
        description="Train a dense retriever on graded groups (synthetic or real) with a list-wise or "
                    "contrastive loss. The output folder loads with SentenceTransformer(path) and holds a "
                    "model card (README.md) ready for synrank push.")
    p.add_argument("--config", required=True, help="training config file (.yaml, .toml or .json)")
    p.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps")
    p.add_argument("--output", default=None, metavar="DIR", help="output folder (default: the config's 'output')")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in the output folder")
    p.add_argument("--device", default=None, help="override the config's device (cpu, cuda, cuda:1)")
    p.set_defaults(func=run)

    c = subparsers.add_parser(
        "check-loss", help="which way a training config's loss pushes each grade before training",
        description="Encode a few batches of the config's training data with its starting model and report, "
                    "per grade and for in-batch negatives, the descent direction of the loss (-dL/dscore) and "
                    "the score margin over the negatives. Exit 1 when a higher grade would be pushed below a "
                    "lower one or below the negatives.")
    c.add_argument("--config", required=True, help="training config file (.yaml, .toml or .json)")
    c.add_argument("--temperature", type=float, default=None, help="override loss_kwargs.temperature")
    c.add_argument("--batches", type=int, default=4, help="batches to measure (default 4)")
    c.set_defaults(func=run_check_loss)


# The commands import their machinery when they run: every `synrank` command imports this module, and
# torch, transformers and sentence-transformers would add seconds to each (start-up time); the training
# sources load psutil and bm25s.
def run_check_loss(args: argparse.Namespace) -> int:
    from synrank.losses import build_loss  # start-up time, see above
    from synrank.training.encoders import build_model  # start-up time
    from synrank.training.regime import check_loss_regime  # start-up time
    from synrank.training.sources import load_training_items  # start-up time

    cfg = load_train_config(args.config)
    kwargs = dict(cfg.loss_kwargs)
    if args.temperature is not None:
        kwargs["temperature"] = args.temperature
    cfg.loss_kwargs = kwargs
    items, _ = load_training_items(cfg)
    report = check_loss_regime(build_model(cfg.model, "cpu"), items, cfg, build_loss(cfg.loss, **kwargs),
                               n_batches=args.batches)
    print(f"{cfg.name}: " + report.format_table())
    return 0 if report.ok else 1


def run(args: argparse.Namespace) -> int:
    from synrank.losses.distributed import rank  # start-up time, see above
    from synrank.training.trainer import train  # start-up time

    overrides = {}
    if args.max_steps is not None:
        overrides["max_steps"] = args.max_steps
    if args.device is not None:
        overrides["device"] = args.device
    cfg = load_train_config(args.config, overrides)
    result = train(cfg, output=args.output, resume=args.resume)
    if rank() == 0:
        loss = "n/a" if result.final_loss is None else f"{result.final_loss:.5f}"
        print(f"trained {cfg.name}: {result.steps} steps, final loss {loss}, "
              f"{result.samples_per_s:.1f} samples/s -> {result.output_dir}")
    return 0
