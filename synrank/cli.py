"""The ``synrank`` command. Each area registers its own subcommands in ``<area>/commands.py``.

A module there exposes ``register(subparsers)``, adding parsers whose ``func(args) -> int`` runs the
command. Library errors (:class:`synrank.errors.SynrankError`) become one line on stderr,
``synrank <command>: error: <ErrorType>: <file>[:<line>]: <what> (<what to do>)``, and exit 2;
an unexpected ``OSError`` (disk full, permission denied) one line and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from synrank import __version__
from synrank.errors import SynrankError, describe_os_error
from synrank.redact import install_log_redaction, redact_text

NOISY_LOGGERS = ("faiss", "faiss.loader", "httpx", "httpcore", "urllib3", "filelock")

COMMAND_MODULES = (
    "synrank.data.commands",          # datasets, validate
    "synrank.evaluation.commands",    # evaluate
    "synrank.synthetic.commands",     # generate, synthetic-report, synthetic-import
    "synrank.training.commands",      # train
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synrank",
        description="Train and evaluate dense retrievers with synthetic graded-relevance data.",
    )
    parser.add_argument("--version", action="version", version=f"synrank {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # area not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction(*logging.getLogger().handlers)  # no credentials in URLs in any log line
    if not args.verbose:
        # third-party INFO chatter (faiss's CPU-feature probing, one httpx line per LLM request)
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SynrankError as exc:
        print(f"synrank {args.command}: error: {type(exc).__name__}: {redact_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # The environment failed us (disk full, permission, path below a regular file): one line naming
        # the file; the traceback only with --verbose. Library code should raise located errors instead.
        logging.getLogger("synrank").debug("OS error", exc_info=True)
        print(f"synrank {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"synrank {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
