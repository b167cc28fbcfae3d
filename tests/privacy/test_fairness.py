"""Fairness audit of the recommender: exposure and equal-opportunity gaps, and the re-ranking constraint."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from backends.recommend.fairness import audit_model_dir, group_metrics
from backends.recommend.train import TrainConfig, train_recommender
from backends.shoppers import AGE_BANDS, GROUP_ATTRIBUTES, generate_shoppers
from bot.commands.privacy_cmd import run_audit
from bot.errors import KefuError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reco-fair")
    config = dataclasses.replace(TrainConfig.small(), n_shoppers=800, n_epochs=4)
    train_recommender(config, out_dir=out, cache_dir=REPO_ROOT / ".kefu" / "cache", progress=False)
    return out


def test_synthetic_shoppers_carry_group_attributes() -> None:
    shoppers = generate_shoppers(300, seed=3)
    assert all(set(s.groups) == set(GROUP_ATTRIBUTES) for s in shoppers)
    assert {s.groups["age_band"] for s in shoppers} == set(AGE_BANDS)
    assert {s.groups["spend_tier"] for s in shoppers} == {"premium", "value"}
    assert all((s.groups["spend_tier"] == "premium") == (s.budget >= 0.5) for s in shoppers)
    assert [s.groups for s in generate_shoppers(300, seed=3)] == [s.groups for s in shoppers]  # deterministic


def test_gaps_by_hand() -> None:
    # two groups, four items (0 and 1 premium); k = 2: weights 1 and 1/log2(3)
    data = SimpleNamespace(premium=np.array([True, True, False, False]), group_of=np.array(["a", "a", "b"]),
                           relevant=[{0}, {2}, {3}])
    scores = np.array([[4.0, 3.0, 2.0, 1.0],    # a: premium, premium   -> exposure 1, recall 1
                       [1.0, 2.0, 4.0, 3.0],    # a: 2, 3 (none premium) -> exposure 0, recall 1
                       [1.0, 4.0, 3.0, 2.0]])   # b: 1 (premium), 2      -> exposure w1/(w1+w2), recall 0
    metrics = group_metrics(data, scores, k=2)  # type: ignore[arg-type]
    w2 = 1 / np.log2(3)
    assert metrics["groups"]["a"]["exposure"] == pytest.approx(0.5)
    assert metrics["groups"]["b"]["exposure"] == pytest.approx(1 / (1 + w2))
    assert metrics["demographic_parity_gap"] == pytest.approx(1 / (1 + w2) - 0.5)
    assert metrics["groups"]["a"]["recall@2"] == 1.0 and metrics["groups"]["b"]["recall@2"] == 0.0
    assert metrics["equal_opportunity_gap"] == 1.0


def test_constraint_bounds_the_parity_gap_at_a_measured_recall_cost(model_dir: Path) -> None:
    max_gap = 0.01
    report = audit_model_dir(model_dir, ["spend_tier", "region"], k=10, max_gap=max_gap)
    for name, item in report["attributes"].items():
        before, after = item["before"], item["after"]
        assert sum(g["users"] for g in before["groups"].values()) >= 200
        assert after["demographic_parity_gap"] <= max_gap + 1e-9
        assert item["recall_cost"] == pytest.approx(before["recall@10"] - after["recall@10"])
        assert abs(item["recall_cost"]) < 0.05  # a small offset, not a different recommender
        print(f"\n{name}: parity gap {before['demographic_parity_gap']:.4f} -> {after['demographic_parity_gap']:.4f}, "
              f"equal-opportunity gap {before['equal_opportunity_gap']:.4f} -> {after['equal_opportunity_gap']:.4f}, "
              f"Recall@10 {before['recall@10']:.4f} -> {after['recall@10']:.4f}")
    spend = report["attributes"]["spend_tier"]
    assert spend["before"]["demographic_parity_gap"] > max_gap  # the constraint had work to do
    assert any(offset != 0.0 for offset in spend["offsets"].values())


def test_kefu_audit_recommendations_writes_json_and_png(model_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(model_dir=str(model_dir), group=["age_band", "spend_tier"], k=10, max_gap=0.02,
                              out=str(tmp_path / "fair"))
    assert run_audit(args) == 0
    report = json.loads((tmp_path / "fair" / "fairness.json").read_text())
    assert set(report["attributes"]) == {"age_band", "spend_tier"} and report["max_gap"] == 0.02
    assert (tmp_path / "fair" / "fairness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "parity gap" in capsys.readouterr().out
    with pytest.raises(KefuError, match="no trained recommender"):
        run_audit(argparse.Namespace(**{**vars(args), "model_dir": str(tmp_path / "none")}))
    with pytest.raises(KefuError, match="--max-gap"):
        run_audit(argparse.Namespace(**{**vars(args), "max_gap": 2.0}))
