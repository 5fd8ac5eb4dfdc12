"""Shared command-line conventions of ``synrank`` and ``python -m benchmarks.run``.

- ``--output DIR`` names where a command writes; older names (``--out``, ``--results``) still work and
  print one deprecation line (:func:`add_deprecated_alias`).
- A list option takes its items comma-separated, space-separated or repeated, in any mix:
  ``--measures nDCG@10,MAP``, ``--measures nDCG@10 MAP`` and ``--measures nDCG@10 --measures MAP`` are
  the same (:func:`add_list_option`).
- ``-v/--verbose`` and ``-q/--quiet`` work before or after the subcommand (:func:`add_verbosity`).
- ``--help`` shows each option's default and no reST markup (:class:`HelpFormatter`).
- Exit codes (:data:`EXIT_CODES`): 0 ok, 1 a check failed (or the work could not be completed: a benchmark
  cell failed, the disk is full), 2 usage or input error, 130 interrupted (Ctrl-C), 141 the reader of
  the output went away (``synrank datasets | head -2``), as for any Unix tool stopped by SIGPIPE.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_CHECK_FAILED: "a check failed (validate found a problem, a benchmark cell failed) or the "
                       "environment failed (disk full, permission denied)",
    EXIT_USAGE: "usage or input error (bad option, config or input file; locked folder; offline)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C / SIGINT)",
    EXIT_BROKEN_PIPE: "the reader of the output went away (e.g. piped into head)",
}

#: Third-party loggers that are chatty at INFO (faiss probing CPU features, one httpx line per request,
#: model-loading notices) or DEBUG (bm25s): WARNING and above only, unless -v.
NOISY_LOGGERS = ("faiss", "faiss.loader", "bm25s", "httpx", "httpcore", "urllib3", "filelock", "transformers",
                 "sentence_transformers", "huggingface_hub", "datasets", "fsspec", "mteb", "matplotlib",
                 "PIL", "torch", "accelerate", "numexpr", "h5py", "tensorflow", "jax")

_RST_LITERAL = re.compile(r"``([^`]+)``")
_RST_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj):`~?([^`]+)`")
_BACKTICKED = re.compile(r"`([^`]+)`")


def plain_text(text: str) -> str:
    """Help text without reST markup: ``x``, `x` and :role:`x` become x."""
    text = _RST_ROLE.sub(r"\1", text)
    text = _RST_LITERAL.sub(r"\1", text)
    return _BACKTICKED.sub(r"\1", text)


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions keep their line breaks (long lines are wrapped, indented lines kept as they are);
    every option shows its default unless it has none (None, False, an empty list) or the help already
    states it; reST markup is removed."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in plain_text(text).splitlines():
            if not line.strip() or line.startswith(" "):
                lines.append(indent + line)
            else:
                lines.extend(textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent))
        return "\n".join(lines)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text.lower() or default is argparse.SUPPRESS
                or default is None or default is False or default == [] or default == ()):
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        if isinstance(default, (list, tuple)):
            return f"{text} (default: {','.join(map(str, default))})"
        return f"{text} (default: %(default)s)"

    def _expand_help(self, action: argparse.Action) -> str:
        return plain_text(super()._expand_help(action))


# ------------------------------------------------------------------------------------------ lists
class _ListAction(argparse.Action):
    """Collects items from comma-separated, space-separated and repeated uses of one option."""

    def __init__(self, option_strings: Sequence[str], dest: str, item_type: Callable[[str], Any] = str,
                 split_commas: bool = True, **kwargs: Any):
        self.item_type = item_type
        self.split_commas = split_commas
        kwargs.setdefault("nargs", "+")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, None)
        # the first use replaces the default; later uses extend what earlier uses gave
        items = list(current) if current is not None and current is not self.default else []
        for value in values if isinstance(values, list) else [values]:
            parts = value.split(",") if self.split_commas else [value]
            for part in parts:
                part = part.strip()
                if not part:
                    continue
                try:
                    items.append(self.item_type(part))
                except (TypeError, ValueError) as exc:
                    what = getattr(self.item_type, "__name__", "value")
                    raise argparse.ArgumentError(self, f"invalid {what} value {part!r} in {value!r}") from exc
        setattr(namespace, self.dest, items)


def add_list_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *flags: str,
                    item_type: Callable[[str], Any] = str, split_commas: bool = True, **kwargs: Any
                    ) -> argparse.Action:
    """A list option: ``--x a,b``, ``--x a b`` and ``--x a --x b`` all give ``[a, b]``.

    ``split_commas=False`` for items that may contain commas themselves (KEY=VALUE pairs).
    """
    kwargs.setdefault("metavar", "ITEM")
    return parser.add_argument(*flags, action=_ListAction, item_type=item_type, split_commas=split_commas,
                               **kwargs)


# ------------------------------------------------------------------------------------ deprecation
def _deprecated_action(new: str, prog: Callable[[], str]) -> type[argparse.Action]:
    class _Deprecated(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                     option_string: str | None = None) -> None:
            print(f"{prog()}: {option_string} is deprecated, use {new}", file=sys.stderr)
            setattr(namespace, self.dest, values)

    return _Deprecated


def add_deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str, dest: str,
                         **kwargs: Any) -> None:
    """``old`` sets the same ``dest`` as ``new`` and prints one line saying it is deprecated.

    Hidden from ``--help`` (which shows only the new name)."""
    parser.add_argument(old, dest=dest, action=_deprecated_action(new, lambda: parser.prog),
                        help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs)


def require(parser: argparse.ArgumentParser, args: argparse.Namespace, dest: str, flag: str) -> None:
    """argparse's own "required" check for an option that also has a deprecated alias."""
    if getattr(args, dest, None) is None:
        parser.error(f"the following arguments are required: {flag}")


# -------------------------------------------------------------------------------------- verbosity
def add_verbosity(parser: argparse.ArgumentParser, *, suppress_default: bool = False) -> None:
    """``-v/--verbose`` and ``-q/--quiet``. On a subcommand's parser pass ``suppress_default`` so that
    flags given before the subcommand are not reset by the subcommand's defaults."""
    default = argparse.SUPPRESS if suppress_default else False
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="debug logging, third-party log lines and tracebacks")
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="only warnings and errors (and no progress bars where the command can turn them off)")


class _OwnLoggersOnly(logging.Filter):
    """Below WARNING, pass only synrank's and the benchmarks' own records. A level set on a third-party
    logger is not enough: some libraries set their own level when imported (bm25s sets DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] in ("synrank", "benchmarks",
                                                                                  "__main__")


def quiet_noisy_loggers(verbose: bool = False) -> None:
    """:data:`NOISY_LOGGERS` at WARNING and above, or everything with ``verbose``."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Root logging for a command: DEBUG with -v, WARNING with -q, else INFO; third-party loggers
    (:data:`NOISY_LOGGERS` and any other) only at WARNING and above unless -v. With -q the progress bars
    that are not switched on explicitly are off too (tqdm reads ``TQDM_DISABLE``)."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    quiet_noisy_loggers(verbose)
    if not verbose:
        # only on the handler made here: a caller's own handlers (pytest's, a notebook's) are left alone
        for handler in root.handlers:
            if handler not in before:
                handler.addFilter(_OwnLoggersOnly())
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"


def exit_on_broken_pipe() -> int:
    """Called when writing to stdout failed because its reader closed the pipe: point stdout at
    /dev/null so the interpreter's final flush does not raise again, and return the SIGPIPE code."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout already closed or not a real file
        pass
    return EXIT_BROKEN_PIPE
