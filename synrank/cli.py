"""The ``synrank`` command. Each area registers its own subcommands in ``<area>/commands.py``.

A module there exposes ``register(subparsers)``, adding parsers whose ``func(args) -> int`` runs the
command. Library errors (:class:`synrank.errors.SynrankError`) become one line on stderr,
``synrank <command>: error: <ErrorType>: <file>[:<line>]: <what> (<what to do>)``, and exit 2;
an unexpected ``OSError`` (disk full, permission denied) one line and exit 1. The shared option style
and the exit codes are described in :mod:`synrank.cliargs`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from synrank import __version__
from synrank.cliargs import (
    EXIT_CODES,
    NOISY_LOGGERS,
    HelpFormatter,
    add_verbosity,
    configure_logging,
    exit_on_broken_pipe,
)
from synrank.errors import SynrankError, describe_os_error
from synrank.redact import install_log_redaction, redact_text

__all__ = ["NOISY_LOGGERS", "build_parser", "main"]

COMMAND_MODULES = (
    "synrank.data.commands",          # datasets, validate
    "synrank.evaluation.commands",    # evaluate
    "synrank.synthetic.commands",     # generate, synthetic-report, synthetic-import
    "synrank.training.commands",      # train
    "synrank.hub",                    # push
)


def _exit_code_epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<3}  {what}" for code, what in EXIT_CODES.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synrank",
        description="Train and evaluate dense retrievers with synthetic graded-relevance data.",
        epilog=_exit_code_epilog(), formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"synrank {__version__}")
    add_verbosity(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # area not built yet
            raise
        module.register(sub)
    # one style for every subcommand: defaults in --help, no reST markup, -v/-q after the command too
    for command_parser in sub.choices.values():
        command_parser.formatter_class = HelpFormatter
        add_verbosity(command_parser, suppress_default=True)
    return parser


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:
        parser.error("-v/--verbose and -q/--quiet exclude each other")
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    install_log_redaction(*logging.getLogger().handlers)  # no credentials in URLs in any log line
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SynrankError as exc:
        print(f"synrank {args.command}: error: {type(exc).__name__}: {redact_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"synrank {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except OSError as exc:
        # The environment failed us (disk full, permission, path below a regular file): one line naming
        # the file; the traceback only with --verbose. Library code should raise located errors instead.
        logging.getLogger("synrank").debug("OS error", exc_info=True)
        print(f"synrank {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's final flush
    except BrokenPipeError:
        # `synrank datasets | head -2`: the reader has what it wanted; no traceback, no error line
        return exit_on_broken_pipe()
    except KeyboardInterrupt:  # before a command started (imports, argument parsing)
        print("synrank: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
