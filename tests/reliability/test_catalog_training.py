"""Catalog: bad models, checkpoints and training data, through ``synrank train`` / ``synrank evaluate``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.reliability.harness import assert_clean_failure, listing, run_cli_inprocess


def _final_model_files(out: Path) -> set[str]:
    return {n for n in ("model.safetensors", "modules.json", "loss_curve.csv") if (out / n).exists()}


def test_model_path_does_not_exist(train_config, tmp_path):
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(base=tmp_path / "no-such-model"), "--output", out)
    assert_clean_failure(res, "no-such-model", "cannot load", "give a local model folder")
    assert listing(out) <= {".lock"}


def test_evaluate_model_path_does_not_exist(toy, tmp_path):
    out = tmp_path / "out"
    res = run_cli_inprocess("evaluate", "--model", tmp_path / "no-such-model", "--dataset", toy, "--output", out)
    assert_clean_failure(res, "no-such-model")
    assert listing(out) <= {".lock"}


@pytest.fixture(scope="module")
def minilm_without_pooling(tmp_path_factory) -> Path:
    """A MiniLM sentence-transformers folder whose ``1_Pooling/config.json`` was lost."""
    from synrank.paths import minilm_path

    folder = tmp_path_factory.mktemp("nopool") / "minilm-nopool"
    shutil.copytree(minilm_path(), folder)
    (folder / "1_Pooling" / "config.json").unlink()
    return folder


def test_checkpoint_without_pooling_config_train(minilm_without_pooling, train_config, tmp_path):
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(base=minilm_without_pooling, max_steps=1),
                            "--output", out)
    assert_clean_failure(res, str(minilm_without_pooling / "1_Pooling" / "config.json"), "is missing",
                         "Pooling", "copy it from the base model")
    assert listing(out) <= {".lock"}


def test_checkpoint_without_pooling_config_evaluate(minilm_without_pooling, toy, tmp_path):
    out = tmp_path / "out"
    res = run_cli_inprocess("evaluate", "--model", minilm_without_pooling, "--dataset", toy, "--output", out)
    assert_clean_failure(res, str(minilm_without_pooling / "1_Pooling" / "config.json"), "is missing",
                         "Pooling", "copy it from the base model")
    assert listing(out) <= {".lock"}


def test_nan_loss_stops_with_the_step(train_config, tmp_path):
    """lr 1e38 overflows the weights after two steps; the InfoNCE loss becomes NaN."""
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(learning_rate=1e38, loss="infonce", save_every=100),
                            "--output", out)
    assert_clean_failure(res, "loss is nan at step", "lower learning_rate")
    assert not _final_model_files(out), "a model was exported although training diverged"
    assert not (out / "trainer_state.json").exists()


def test_diverged_scores_with_ws2_stop_with_the_step(train_config, tmp_path):
    """Found bug R1: with ws2, non-finite scores reached the SVD and crashed with a traceback."""
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(learning_rate=1e38, loss="ws2", save_every=100),
                            "--output", out)
    assert_clean_failure(res, "loss is nan at step", "scores are not finite", "lower learning_rate")
    assert not _final_model_files(out)


def test_losses_refuse_non_finite_scores():
    import pytest as _pytest
    import torch

    from synrank.losses.functional import LossInputError, wasserstein2

    scores = torch.zeros(2, 4, dtype=torch.float64)
    scores[0, 1] = float("nan")
    with _pytest.raises(LossInputError, match="NaN or infinity"):
        wasserstein2(scores, torch.zeros(2, 4))


def test_truncated_training_groups(train_config, tiny_groups, tmp_path):
    broken = tmp_path / "groups.jsonl"
    raw = tiny_groups.read_bytes()
    broken.write_bytes(raw[: len(raw) - 40])
    n_lines = raw[: len(raw) - 40].count(b"\n") + 1
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(groups=broken), "--output", out)
    assert_clean_failure(res, f"groups.jsonl:{n_lines}", "malformed JSON", "the last line is cut off")
    assert not _final_model_files(out)


@pytest.mark.parametrize(("grade", "expect"), [(1.5, "grade must be a non-negative integer, got 1.5"),
                                                (-1, "got -1"), ("3", "got '3'")],
                         ids=["float-grade", "negative-grade", "string-grade"])
def test_bad_grade_in_training_groups(train_config, tiny_groups, tmp_path, grade, expect):
    lines = tiny_groups.read_text().splitlines()
    rec = json.loads(lines[5])
    rec["passages"][2]["grade"] = grade
    lines[5] = json.dumps(rec)
    broken = tmp_path / "groups.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    res = run_cli_inprocess("train", "--config", train_config(groups=broken), "--output", tmp_path / "out")
    assert_clean_failure(res, "groups.jsonl:6", "passages[2]", expect)


def test_duplicate_query_id_in_training_groups(train_config, tiny_groups, tmp_path):
    lines = tiny_groups.read_text().splitlines()
    broken = tmp_path / "groups.jsonl"
    broken.write_text("\n".join([*lines, lines[3]]) + "\n")
    res = run_cli_inprocess("train", "--config", train_config(groups=broken), "--output", tmp_path / "out")
    assert_clean_failure(res, f"groups.jsonl:{len(lines) + 1}", "duplicate query_id 'q3'", "line 4")


@pytest.fixture
def finished_run(train_config, tmp_path):
    cfg = train_config(max_steps=4, save_every=2)
    out = tmp_path / "run"
    res = run_cli_inprocess("train", "--config", cfg, "--output", out)
    assert res.returncode == 0, res.stderr
    return cfg, out


def test_rerun_into_finished_output_without_resume(finished_run):
    cfg, out = finished_run
    before = {p: (out / p).stat().st_mtime_ns for p in listing(out) if (out / p).is_file()}
    res = run_cli_inprocess("train", "--config", cfg, "--output", out)
    assert_clean_failure(res, str(out), "already holds a training run", "--resume")
    after = {p: (out / p).stat().st_mtime_ns for p in listing(out) if (out / p).is_file()}
    assert before == after, "files changed although the run was refused"


def test_resume_with_different_config(finished_run, train_config):
    _, out = finished_run
    other = train_config("other", max_steps=4, save_every=2, learning_rate=0.01)
    res = run_cli_inprocess("train", "--config", other, "--output", out, "--resume")
    assert_clean_failure(res, "training_config.json", "differs from the one this run started with")


def test_resume_with_other_threads_warns(finished_run, train_config, caplog):
    """R12: threads/device are not in the config hash (a run may move), but another thread count changes
    the float reduction order: --resume is accepted with a WARNING; the same thread count gives none."""
    import torch

    _cfg, out = finished_run
    started = json.loads((out / "training_config.json").read_text())["environment"]["hardware"]["torch_threads"]
    other = 2 if started == 1 else 1
    cfg = train_config("other-threads", max_steps=4, save_every=2, threads=other)
    before = torch.get_num_threads()
    try:
        (out / "trainer_state.json").unlink()  # pretend the run was killed before it finished
        caplog.clear()
        res = run_cli_inprocess("train", "--config", cfg, "--output", out, "--resume")
        assert res.returncode == 0, res.stderr
        warn = [r.getMessage() for r in caplog.records if "bit-identical" in r.getMessage()]
        assert [r.levelname for r in caplog.records if "bit-identical" in r.getMessage()] == ["WARNING"]
        assert f"threads={other}, started with {started}" in warn[0] and "training_config.json" in warn[0]
        assert warn[0] in res.stderr

        (out / "trainer_state.json").unlink()
        res = run_cli_inprocess("train", "--config", cfg, "--output", out, "--resume")
        assert res.returncode == 0 and "bit-identical" not in res.stderr, res.stderr
    finally:
        torch.set_num_threads(before)


def _damage_latest(out: Path, payload: bytes) -> Path:
    from synrank.training.checkpoint import latest_checkpoint

    state = out / "trainer_state.json"
    state.unlink()  # pretend the run was killed before it finished
    ckpt = latest_checkpoint(out)
    (ckpt / "trainer.pt").write_bytes(payload)
    return ckpt


def test_truncated_checkpoint_on_resume(finished_run):
    cfg, out = finished_run
    from synrank.training.checkpoint import latest_checkpoint

    good = (latest_checkpoint(out) / "trainer.pt").read_bytes()
    ckpt = _damage_latest(out, good[: len(good) // 2])
    res = run_cli_inprocess("train", "--config", cfg, "--output", out, "--resume")
    assert_clean_failure(res, str(ckpt), "cannot read checkpoint", "delete this checkpoint folder")


class _Evil:
    """Unpickling this would create a marker file: the checkpoint loader must refuse it."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_payload_in_checkpoint_is_refused(finished_run, tmp_path):
    """A checkpoint is an untrusted file: ``weights_only=True`` must refuse the payload, and the CLI
    turns the refusal into one located error line (R2: the ``UnpicklingError`` was a traceback)."""
    import torch

    cfg, out = finished_run
    _Evil.marker = tmp_path / "PWNED"
    blob = tmp_path / "evil.pt"
    torch.save({"optimizer": _Evil()}, blob)
    ckpt = _damage_latest(out, blob.read_bytes())
    res = run_cli_inprocess("train", "--config", cfg, "--output", out, "--resume")
    assert_clean_failure(res, str(ckpt), "cannot read checkpoint", "non-tensor objects", "refused",
                         "delete this checkpoint folder")
    assert not (tmp_path / "PWNED").exists(), "the checkpoint was unpickled with arbitrary code execution"


@pytest.mark.parametrize("payload", [b"", b"PK\x03\x04 not a zip", b"\x80\x02}q\x00"],
                         ids=["empty", "bad-zip", "cut-legacy-pickle"])
def test_damaged_checkpoint_payloads_give_training_error(finished_run, payload):
    """Empty, not-a-zip and cut legacy files raise TrainingError (EOFError/BadZipFile were not caught)."""
    from synrank.errors import TrainingError
    from synrank.training.checkpoint import load_checkpoint

    _cfg, out = finished_run
    ckpt = _damage_latest(out, payload)
    with pytest.raises(TrainingError, match="cannot read checkpoint") as info:
        load_checkpoint(ckpt)
    assert str(ckpt) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("encoder", "expect"), [
    ("NaNDocs", "returned NaN or inf embeddings"),
    ("ShortBatch", "returned shape (2, 64) for 3 inputs"),
    ("WrongDim", "returned dim 64, earlier blocks had 32"),
], ids=["nan-embeddings", "too-few-embeddings", "query-doc-dim-mismatch"])
def test_broken_encoder_output(toy, tmp_path, monkeypatch, encoder, expect):
    """A model that returns NaN vectors, too few rows, or mismatched dimensions stops the evaluation
    before any score is computed, with one ModelError line naming the model spec (R9: a ValueError
    escaped as a traceback)."""
    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    spec = f"tests.reliability.fake_encoder:{encoder}"
    res = run_cli_inprocess("evaluate", "--model", spec, "--dataset", toy, "--output", out)
    assert_clean_failure(res, "ModelError", f"{spec}: encode_", expect)
    assert listing(out) <= {".lock"}


def _groups_with(tiny_groups: Path, tmp_path: Path, change) -> Path:
    recs = [json.loads(line) for line in tiny_groups.read_text().splitlines()]
    for rec in recs:
        change(rec)
    path = tmp_path / "groups.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.mark.parametrize("loss", ["ws2", "kl", "per_query_ws", "infonce"])
def test_training_data_without_any_relevant_passage(train_config, tiny_groups, tmp_path, loss):
    """Every grade 0: no relevance signal. R14: ws2/kl/per_query_ws trained on it without a word (only
    InfoNCE stopped, in the loss); now every loss stops before training, naming the data file."""
    def zero(rec):
        for p in rec["passages"]:
            p["grade"] = 0
    groups = _groups_with(tiny_groups, tmp_path, zero)
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(groups=groups, loss=loss), "--output", out)
    assert_clean_failure(res, "DatasetError", str(groups), "no training group has a passage with grade > 0",
                         "check the grades")
    assert not _final_model_files(out)


def test_infonce_without_a_passage_above_its_threshold(train_config, tiny_groups, tmp_path):
    """Grades 0/1 only: a signal for list-wise losses, but no positive for InfoNCE's threshold 2."""
    def low(rec):
        for p in rec["passages"]:
            p["grade"] = min(p["grade"], 1)
    groups = _groups_with(tiny_groups, tmp_path, low)
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(groups=groups, loss="infonce"), "--output", out)
    assert_clean_failure(res, "no passage in the batch has grade >= threshold 2", "check the grades")
    assert not _final_model_files(out)


def test_groups_with_a_single_grade_are_counted_and_warned(train_config, tiny_groups, tmp_path, caplog):
    """R14: groups whose passages share one grade have nothing to order: a WARNING with counts and the
    counts in training_config.json; training goes on (other queries' passages still contrast them)."""
    recs = [json.loads(line) for line in tiny_groups.read_text().splitlines()]
    for rec in recs[:5]:
        for p in rec["passages"]:
            p["grade"] = 2
    for p in recs[5]["passages"]:
        p["grade"] = 0
    groups = tmp_path / "groups.jsonl"
    groups.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(groups=groups, max_steps=2), "--output", out)
    assert res.returncode == 0, res.stderr
    warned = [r for r in caplog.records if "single distinct grade" in r.getMessage()]
    assert [r.levelname for r in warned] == ["WARNING"]
    assert f"6 of {len(recs)} groups have a single distinct grade (1 without any passage of grade > 0)" \
        in warned[0].getMessage()
    report = json.loads((out / "training_config.json").read_text())["data"][0]
    assert report["n_groups_single_grade"] == 6 and report["n_groups_without_relevant"] == 1


def test_every_group_too_short_with_drop_policy(train_config, tiny_groups, tmp_path):
    """R14: the error says why the source produced no groups."""
    def shorten(rec):
        rec["passages"] = rec["passages"][:2]
    groups = _groups_with(tiny_groups, tmp_path, shorten)
    n = len(tiny_groups.read_text().splitlines())
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(groups=groups, short_groups="drop"), "--output", out)
    assert_clean_failure(res, str(groups), "produced no training groups",
                         f"all {n} groups have fewer than group_size=4 passages (short_groups: drop)",
                         "lower group_size or use short_groups: resample")
    assert not _final_model_files(out)
