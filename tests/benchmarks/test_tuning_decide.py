"""The equal-effort decision rule as code, against a brute-force reading of the rule and the committed configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.tuning.decide import TIE, Run, decide, main, read_runs, select

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks/tuning/equal_effort/results.csv"

_runs = st.lists(
    st.builds(lambda t, s, sim: Run(f"static-ws2-{sim}-t{t}", "static", "ws2", sim, t, s),
              st.sampled_from([0.05, 0.1, 0.3, 0.5, 1.0]),
              st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 4)),
              st.sampled_from(["cosine", "dot"])),
    min_size=1, max_size=10)


@given(_runs)
def test_select_follows_the_written_rule(runs: list[Run]) -> None:
    chosen = select(runs)
    best = max(r.score for r in runs)
    # 1. within a tie of the best score
    assert best - chosen.score < TIE
    # 2. no tied run has a larger temperature; among equal temperatures, cosine wins over dot
    tied = [r for r in runs if best - r.score < TIE]
    assert all(r.temperature <= chosen.temperature for r in tied)
    if any(r.temperature == chosen.temperature and r.similarity == "cosine" for r in tied):
        assert chosen.similarity == "cosine"


def test_a_clear_winner_is_chosen_whatever_its_temperature() -> None:
    runs = [Run("a", "m", "kl", "cosine", 0.1, 0.50), Run("b", "m", "kl", "cosine", 1.0, 0.49)]
    assert select(runs).name == "a"
    runs[1] = Run("b", "m", "kl", "cosine", 1.0, 0.4996)  # 0.0004 below: a tie, the larger T wins
    assert select(runs).name == "b"


def test_committed_grid_and_configs_agree(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main([str(RESULTS), "--check"]) == 0, capsys.readouterr().out
    runs, bases = read_runs(RESULTS)
    assert {"static", "minilm"} <= set(bases)
    decided = decide(runs)
    assert ("static", "ws2") in decided and ("static", "infonce") in decided


def test_a_config_off_the_selection_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "results.csv"
    csv_file.write_text("run,similarity,dev_nDCG@10\nstatic-base-cosine,cosine,0.3\n"
                        "static-kl-cosine-t0.3,cosine,0.43\nstatic-kl-cosine-t1.0,cosine,0.40\n"
                        "static-kl-dot-t0.3,dot,0.1\n", encoding="utf-8")
    (tmp_path / "static-synthetic-kl.yaml").write_text(
        "model: {similarity: cosine}\nloss_kwargs: {temperature: 1.0}\n", encoding="utf-8")
    assert main([str(csv_file), "--check", "--configs", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_a_bad_row_names_file_and_line(tmp_path: Path) -> None:
    csv_file = tmp_path / "results.csv"
    csv_file.write_text("run,similarity,dev_nDCG@10\nstatic-kl-cosine-t0.3,cosine,n/a\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"results\.csv:2: dev_nDCG@10 'n/a' is not a number"):
        read_runs(csv_file)
