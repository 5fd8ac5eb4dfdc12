"""End-to-end runs of the trainer on the tiny model: artifacts, loadability, learning, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from synrank.config import from_dict
from synrank.errors import TrainingError
from synrank.training import trainer as trainer_module
from synrank.training.config import TrainConfig
from synrank.training.trainer import train
from tests.training.conftest import tiny_config


def _cfg(tiny_model, tiny_groups, **kw) -> TrainConfig:
    return from_dict(TrainConfig, tiny_config(tiny_model, tiny_groups, **kw))


def test_run_writes_loadable_model_and_artifacts(tiny_model, tiny_groups, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "run"
    result = train(_cfg(tiny_model, tiny_groups), output=out)
    assert result.steps == 12
    model = SentenceTransformer(str(out), device="cpu")
    assert model.similarity_fn_name == "dot"
    emb = model.encode(["aspirin heart risk"])
    assert emb.shape == (1, 16) and np.isfinite(emb).all()
    # weights moved away from the base
    base = SentenceTransformer(str(tiny_model), device="cpu")
    assert not torch.equal(model[0].embedding.weight, base[0].embedding.weight)

    tc = json.loads((out / "training_config.json").read_text())
    assert tc["config"]["loss"] == "ws2" and len(tc["config_hash"]) == 16
    assert tc["seeds"]["seed"] == 7
    assert tc["data"][0]["checksums"]["groups.jsonl"]
    assert "torch" in tc["environment"]["versions"]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["completed"] and state["global_step"] == 12
    rows = list(csv.DictReader((out / "loss_curve.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    # warmup 0.2 of 12 steps = 2 steps from 0, then linear decay
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] == 0.0 and lrs[2] == pytest.approx(0.05) and lrs[-1] < lrs[2]
    # only the newest checkpoints are kept
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000008", "step-00000012"]


def test_ws2_training_lowers_the_loss(tiny_model, tiny_groups, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny_model, tiny_groups, max_steps=60, save_every=None, learning_rate=0.1, warmup_fraction=0.0),
          output=out)
    losses = [float(r["loss"]) for r in csv.DictReader((out / "loss_curve.csv").open())]
    first, last = np.mean(losses[:6]), np.mean(losses[-6:])
    assert last < 0.8 * first, (first, last)


def test_same_seed_same_weights_different_seed_differs(tiny_model, tiny_groups, tmp_path):
    from safetensors.torch import load_file

    def run(name, seed):
        train(_cfg(tiny_model, tiny_groups, seed=seed, max_steps=5, save_every=None), output=tmp_path / name)
        return load_file(tmp_path / name / "model.safetensors")

    a, b, c = run("a", 1), run("b", 1), run("c", 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_deterministic_mode_is_applied_recorded_and_restored(tiny_model, tiny_groups, tmp_path, monkeypatch):
    """R8: deterministic: true sets CUBLAS_WORKSPACE_CONFIG and deterministic algorithms for the run,
    records them in training_config.json, restores torch's global flags after, and (on CPU, where the
    kernels are deterministic anyway) gives the same weights as a run without it."""
    from safetensors.torch import load_file

    import synrank.training.trainer as trainer_mod

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seen = {}
    real_run = trainer_mod.Trainer._run

    def spy(self, latest):
        seen["deterministic"] = torch.are_deterministic_algorithms_enabled()
        seen["cudnn_benchmark"] = torch.backends.cudnn.benchmark
        return real_run(self, latest)

    monkeypatch.setattr(trainer_mod.Trainer, "_run", spy)
    assert not torch.are_deterministic_algorithms_enabled()
    train(_cfg(tiny_model, tiny_groups, max_steps=3, save_every=None, deterministic=True), output=tmp_path / "det")
    assert seen == {"deterministic": True, "cudnn_benchmark": False}
    assert not torch.are_deterministic_algorithms_enabled(), "the global flag leaked out of the run"
    assert trainer_mod.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    tc = json.loads((tmp_path / "det" / "training_config.json").read_text())
    assert tc["config"]["deterministic"] is True
    assert tc["deterministic"] == {"use_deterministic_algorithms": True, "cudnn_benchmark": False,
                                   "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}

    train(_cfg(tiny_model, tiny_groups, max_steps=3, save_every=None), output=tmp_path / "plain")
    tc = json.loads((tmp_path / "plain" / "training_config.json").read_text())
    assert "deterministic" not in tc and "deterministic" not in tc["config"]
    a, b = load_file(tmp_path / "det" / "model.safetensors"), load_file(tmp_path / "plain" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nondeterministic_kernel_is_a_training_error(tmp_path):
    from synrank.training.trainer import deterministic_algorithms

    match = "no deterministic kernel .*foo_cuda does not have a deterministic"
    with pytest.raises(TrainingError, match=match), deterministic_algorithms(True, tmp_path):
        raise RuntimeError("foo_cuda does not have a deterministic implementation, but you set "
                           "'torch.use_deterministic_algorithms(True)'. You can turn off ...")
    assert not torch.are_deterministic_algorithms_enabled()


def test_existing_output_needs_resume(tiny_model, tiny_groups, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny_model, tiny_groups, max_steps=2), output=out)
    with pytest.raises(TrainingError, match="already holds a training run"):
        train(_cfg(tiny_model, tiny_groups, max_steps=2), output=out)


def test_resume_with_other_config_is_refused(tiny_model, tiny_groups, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny_model, tiny_groups, max_steps=2), output=out)
    with pytest.raises(TrainingError, match="differs"):
        train(_cfg(tiny_model, tiny_groups, max_steps=2, learning_rate=0.5), output=out, resume=True)


def test_resume_of_completed_run_is_a_no_op(tiny_model, tiny_groups, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny_model, tiny_groups, max_steps=4), output=out)
    before = (out / "model.safetensors").read_bytes()
    again = train(_cfg(tiny_model, tiny_groups, max_steps=4), output=out, resume=True)
    assert again.steps == 4 and (out / "model.safetensors").read_bytes() == before


def test_nan_loss_names_the_step(tiny_model, tiny_groups, tmp_path, monkeypatch):
    import synrank.losses as losses

    real = losses.build_loss

    class NaNAtStep3(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.calls = real("ws2"), 0

        def forward(self, scores, grades):
            self.calls += 1
            loss = self.inner(scores, grades)
            return loss * float("nan") if self.calls == 3 else loss

    monkeypatch.setattr(trainer_module, "build_loss", lambda name, **kw: NaNAtStep3())  # where the trainer looks
    with pytest.raises(TrainingError, match=r"loss is nan at step 3 \(micro-batch 1"):
        train(_cfg(tiny_model, tiny_groups, max_steps=6), output=tmp_path / "run")


def test_gradient_accumulation_and_no_in_batch_negatives_run(tiny_model, tiny_groups, tmp_path):
    res = train(_cfg(tiny_model, tiny_groups, max_steps=3, grad_accumulation=2, in_batch_negatives=False,
                     loss="infonce"), output=tmp_path / "run")
    assert res.steps == 3
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["sampler"]["cursor"] == 6  # 3 steps x 2 micro-batches


def test_epochs_define_the_step_count(tiny_model, tiny_groups, tmp_path):
    # 48 groups / batch 8 = 6 batches per epoch; 1.5 epochs with accumulation 2 -> ceil(9 / 2) = 5 steps
    res = train(_cfg(tiny_model, tiny_groups, max_steps=None, epochs=1.5, grad_accumulation=2, save_every=None),
                output=tmp_path / "run")
    assert res.steps == 5


def test_bf16_autocast_runs_on_a_cpu_with_native_bf16(tiny_model, tiny_groups, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "cpu_has_native_bf16", lambda: True)  # emulated here if not native
    res = train(_cfg(tiny_model, tiny_groups, max_steps=2, precision="bf16"), output=tmp_path / "run")
    assert res.final_loss is not None and np.isfinite(res.final_loss)


def test_bf16_is_refused_on_a_cpu_without_native_bf16(tiny_model, tiny_groups, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(TrainingError, match="no native bfloat16") as err:
        train(_cfg(tiny_model, tiny_groups, max_steps=2, precision="bf16"), output=tmp_path / "run")
    assert "precision: fp32" in str(err.value.hint)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_untrained_base_is_exported(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    cfg = from_dict(TrainConfig, {"name": "base", "max_steps": 0,
                                  "model": {"base": str(tiny_model), "pooling": "keep", "similarity": "dot"}})
    train(cfg, output=tmp_path / "base")
    model = SentenceTransformer(str(tmp_path / "base"), device="cpu")
    base = SentenceTransformer(str(tiny_model), device="cpu")
    assert torch.equal(model[0].embedding.weight, base[0].embedding.weight)
    assert json.loads((tmp_path / "base" / "trainer_state.json").read_text())["global_step"] == 0
