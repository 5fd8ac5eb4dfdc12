"""``synrank push``: upload a trained model folder or a synthetic dataset folder to the Hugging Face Hub.

The folder goes up as it is, with its card: a model folder's ``README.md`` (written by the trainer; written
here when missing, see :mod:`synrank.training.modelcard`), a dataset folder's ``README.md``
(:mod:`synrank.synthetic.datacard`; rewritten here when missing or when its ``configs`` do not list the
folder's current files, otherwise left as it is, with any hand edits).
Checkpoints, locks, temporary and hidden files stay behind.

The token comes from the environment (``HF_TOKEN``, or the older ``HUGGING_FACE_HUB_TOKEN``) and is only
passed to ``huggingface_hub``'s calls: synrank never writes it anywhere, and does not fall back to a token
saved by ``huggingface-cli login``. The endpoint is ``HF_ENDPOINT`` (default ``https://huggingface.co``).
Nothing is uploaded, and the command says why in one line, when the machine is offline
(``HF_HUB_OFFLINE`` set, or the endpoint cannot be reached) or no token is set.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from synrank.data.groups import group_files
from synrank.errors import ConfigError, DatasetError, HubError

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
#: never uploaded: trainer checkpoints, folder locks, temporary files, the generator's live-session marker
SKIP_DIRS = {"checkpoints", "__pycache__"}
SKIP_NAMES = {".lock", "active.json"}
CONNECT_TIMEOUT_S = 5.0


@dataclass
class PushResult:
    repo_id: str
    repo_type: str
    url: str
    commit: str | None
    files: list[str]
    bytes: int


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def folder_kind(folder: Path) -> str:
    """``"model"`` (a sentence-transformers / transformers folder) or ``"dataset"`` (graded groups)."""
    if (folder / "modules.json").is_file() or (folder / "config.json").is_file():
        return "model"
    try:
        group_files(folder)
        return "dataset"
    except DatasetError:
        raise ConfigError("neither a model folder (modules.json or config.json) nor a dataset folder "
                          "(shard-*.jsonl[.gz] group files)", folder,
                          hint="push the folder synrank train or synrank generate wrote") from None


def files_to_upload(folder: Path) -> list[Path]:
    """Every file below ``folder`` except checkpoints, locks, temporary and hidden files."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or p.is_symlink() and not p.resolve().is_file():
            continue
        if any(part.startswith(".") or part in SKIP_DIRS for part in rel.parts[:-1]):
            continue
        if p.name in SKIP_NAMES or p.name.startswith(".") or p.name.endswith(".tmp"):
            continue
        out.append(p)
    return out


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_token() -> str:
    for name in TOKEN_VARIABLES:
        token = os.environ.get(name)
        if token and token.strip():
            return token.strip()
    raise HubError(f"no Hugging Face token in the environment ({' or '.join(TOKEN_VARIABLES)})",
                   hint="export HF_TOKEN=hf_... (a token with write access); synrank does not store it")


def check_online(endpoint: str) -> None:
    """Refuse clearly when the Hub cannot be used: ``HF_HUB_OFFLINE`` set, or no connection to ``endpoint``."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if _truthy(os.environ.get(name)):
            raise HubError(f"offline: {name}={os.environ[name]} is set, so nothing is uploaded",
                           hint=f"unset {name} on a machine with network access to push")
    url = urlparse(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise HubError(f"HF_ENDPOINT {endpoint!r} is not an http(s) URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise HubError(f"cannot reach {endpoint} ({exc.strerror or exc}): offline? nothing was uploaded",
                       hint="check the network (or HF_ENDPOINT) and push again") from None


def prepare_card(folder: Path, kind: str) -> None:
    """Make sure the folder's card is there and current (see the module docstring)."""
    if kind == "model":
        if not (folder / "README.md").exists():
            # start-up time: every command imports this module; the card writers load yaml (only push uses them)
            from synrank.training.modelcard import write_model_card

            write_model_card(folder)
            logger.info("wrote the model card %s", folder / "README.md")
    else:
        # start-up time: every command imports this module; the card writers load yaml (only push uses them)
        from synrank.synthetic.datacard import build_datacard, hub_front_matter, write_datacard
        from synrank.training.modelcard import read_front_matter  # as above

        current = hub_front_matter(folder, build_datacard(folder))["configs"]
        if read_front_matter(folder / "README.md").get("configs") != current:  # missing, or lists other files
            write_datacard(folder)
            logger.info("wrote the data card %s", folder / "README.md")


def push_folder(folder: str | os.PathLike, repo_id: str, *, private: bool = False, kind: str = "auto",
                revision: str | None = None, message: str | None = None) -> PushResult:
    """Upload ``folder`` to the Hub repository ``repo_id`` (created when missing, ``private`` if asked)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError("not a folder", folder)
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(f"repository id {repo_id!r} must be NAMESPACE/NAME (e.g. my-org/minilm-ws2)")
    repo_type = folder_kind(folder) if kind == "auto" else kind
    endpoint = hub_endpoint()
    check_online(endpoint)
    token = hub_token()
    prepare_card(folder, repo_type)
    files = files_to_upload(folder)

    from huggingface_hub import CommitOperationAdd, HfApi  # optional network client: loaded only to push
    from huggingface_hub.errors import HfHubHTTPError  # as above

    api = HfApi(endpoint=endpoint, token=token, library_name="synrank")
    operations = [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
                  for p in files]
    try:
        repo = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, token=token)
        info = api.create_commit(repo_id, operations, repo_type=repo_type, revision=revision, token=token,
                                 commit_message=message or f"Upload {folder.name} with synrank")
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        hint = {401: "the token was refused: check HF_TOKEN", 403: "the token may not write to this namespace",
                404: "check the repository id and that the token may create it"}.get(status or 0)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HubError(f"the Hub refused the upload to {repo_id}: {first}", hint=hint) from None
    except (OSError, ValueError) as exc:  # connection dropped mid-way, invalid card metadata
        raise HubError(f"upload to {repo_id} failed: {type(exc).__name__}: {exc}") from None
    return PushResult(repo_id, repo_type, str(repo), getattr(info, "oid", None),
                      [p.relative_to(folder).as_posix() for p in files], sum(p.stat().st_size for p in files))


# ---------------------------------------------------------------------------------------------- CLI
def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "push", help="upload a trained model or a synthetic dataset folder to the Hugging Face Hub",
        description="Upload FOLDER (a model folder synrank train wrote, or a dataset folder synrank generate "
                    "wrote) with its card to the Hub repository --repo-id, creating it when missing. The token "
                    "comes from HF_TOKEN and is never stored; HF_ENDPOINT selects another Hub. Refuses, "
                    "uploading nothing, when HF_HUB_OFFLINE is set or the Hub cannot be reached.")
    p.add_argument("folder", type=Path, help="model or dataset folder")
    p.add_argument("--repo-id", required=True, metavar="NAMESPACE/NAME", help="Hub repository to push to")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--kind", choices=("auto", "model", "dataset"), default="auto",
                   help="repository type; auto: model when the folder has modules.json or config.json")
    p.add_argument("--revision", metavar="BRANCH", help="branch to commit to (default: the main branch)")
    p.add_argument("--message", help="commit message (default: Upload FOLDER with synrank)")
    p.set_defaults(func=cmd_push)


def cmd_push(args: argparse.Namespace) -> int:
    res = push_folder(args.folder, args.repo_id, private=args.private, kind=args.kind, revision=args.revision,
                      message=args.message)
    print(f"pushed {len(res.files)} files ({res.bytes / 1e6:.1f} MB) of {args.folder} to {res.repo_type} "
          f"{res.url}" + (f" (commit {res.commit[:12]})" if res.commit else ""))
    return 0
