"""The Python API example in README.md runs, on a tiny model, dataset and training config.

The code block after the ``api-example`` marker is taken from README.md as it is; only the lines that
assign ``MODEL``, ``DATASET`` and ``TRAIN_CONFIG`` are replaced by fixtures.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.reliability.harness import REPO, _env
from tests.training.conftest import TOPICS, tiny_config

MARKER = "<!-- api-example:"


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text[text.index(MARKER):]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match, "no python block after the api-example marker"
    return match.group(1)


def _substitute(code: str, **values: str) -> str:
    for name, value in values.items():
        code, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", code, count=1, flags=re.M)
        assert n == 1, f"README example no longer assigns {name}"
    return code


def _tiny_dataset(root: Path) -> Path:
    """A BEIR folder in the tiny model's vocabulary: one query per topic, its topic's documents relevant."""
    (root / "qrels").mkdir(parents=True)
    docs, rows = [], []
    for t, words in enumerate(TOPICS):
        for k in range(3):
            docs.append({"_id": f"d{t}-{k}", "title": words[k], "text": " ".join(words[k:] + words[:k])})
            rows.append((f"q{t}", f"d{t}-{k}", 2 - k if k < 2 else 1))
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": f"q{t}", "text": " ".join(words[:2])} for t, words in enumerate(TOPICS)]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows))
    return root


def test_readme_api_example_runs(tiny_model, tiny_groups, tmp_path):
    dataset = _tiny_dataset(tmp_path / "tiny-beir")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny_config(tiny_model, tiny_groups, save_every=None)))
    script = tmp_path / "example.py"
    script.write_text(_substitute(readme_example(), MODEL=str(tiny_model), DATASET=str(dataset),
                                  TRAIN_CONFIG=str(config)))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(None), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    n = len(TOPICS)
    assert lines[0] == f"tiny-beir: {3 * n} documents, {n} judged queries"
    assert re.fullmatch(rf"{re.escape(str(tiny_model))}: nDCG@10 0\.\d{{4}} over {n} queries", lines[1])
    assert lines[2] == f"trained 50 steps into {Path('runs/api-example/model')}"
    assert re.fullmatch(r"trained: nDCG@10 [01]\.\d{4}", lines[3])
    out = tmp_path / "runs" / "api-example"
    assert (out / "eval" / "metrics.json").is_file()
    assert (out / "model" / "modules.json").is_file() and (out / "model" / "README.md").is_file()
