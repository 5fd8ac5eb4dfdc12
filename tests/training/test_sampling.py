"""Group sampling rules: one passage per grade, long and short groups, determinism, resumable order."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from synrank.data.groups import Passage, TrainingGroup
from synrank.errors import TrainingError
from synrank.training.sampling import GroupItem, GroupSampler, drop_short, select_binary, select_passages


def group(grades: list[int], qid: str = "q") -> TrainingGroup:
    return TrainingGroup(qid, f"query {qid}", [Passage(f"p{i} g{g}", g) for i, g in enumerate(grades)])


def test_one_passage_per_grade_sorted_descending():
    g = group([0, 3, 1, 2, 3, 1, 0, 2])
    for seed in range(20):
        picked = select_passages(g, 4, np.random.default_rng(seed))
        assert [p.grade for p in picked] == [3, 2, 1, 0]
    # every passage of a grade is drawn sometimes (uniform within grade)
    seen = Counter(select_passages(g, 4, np.random.default_rng(s))[0].text for s in range(200))
    assert set(seen) == {"p1 g3", "p4 g3"} and min(seen.values()) > 60


def test_more_grades_than_g_keeps_the_top_grade():
    g = group([0, 1, 2, 3, 4, 5])
    tops, others = set(), Counter()
    for seed in range(300):
        picked = [p.grade for p in select_passages(g, 3, np.random.default_rng(seed))]
        assert len(picked) == 3 and len(set(picked)) == 3 and picked == sorted(picked, reverse=True)
        tops.add(picked[0])
        others.update(picked[1:])
    assert tops == {5}
    assert set(others) == {0, 1, 2, 3, 4}  # the other grades are chosen at random


def test_free_slots_filled_without_replacement():
    g = group([3, 0, 0, 0, 0])
    for seed in range(30):
        picked = select_passages(g, 4, np.random.default_rng(seed))
        assert [p.grade for p in picked] == [3, 0, 0, 0]
        assert len({p.text for p in picked}) == 4


def test_short_group_resample_pads_from_lower_grades():
    g = group([3, 1])
    for seed in range(30):
        picked = select_passages(g, 4, np.random.default_rng(seed))
        assert [p.grade for p in picked] == [3, 1, 1, 1]
        assert sum(p.text == "p0 g3" for p in picked) == 1  # the positive is never duplicated


def test_short_group_with_only_top_grade_pads_from_it():
    picked = select_passages(group([2]), 3, np.random.default_rng(0))
    assert [p.text for p in picked] == ["p0 g2"] * 3


def test_short_group_drop_policy():
    items = [GroupItem(group([3, 1], "a")), GroupItem(group([3, 2, 1, 0], "b"))]
    kept, dropped = drop_short(items, 4)
    assert dropped == 1 and [it.group.query_id for it in kept] == ["b"]
    with pytest.raises(TrainingError, match="fewer than group_size=4"):
        select_passages(group([3, 1]), 4, np.random.default_rng(0), short_groups="drop")


def _items(n: int) -> list[GroupItem]:
    return [GroupItem(group([3, 2, 1, 0, 2, 1], f"q{i}")) for i in range(n)]


def test_sampler_is_deterministic_and_covers_each_epoch():
    a = GroupSampler(_items(10), batch_size=3, group_size=4, seed=5)
    b = GroupSampler(_items(10), batch_size=3, group_size=4, seed=5)
    batches_a = [a.next_batch() for _ in range(7)]
    batches_b = [b.next_batch() for _ in range(7)]
    assert [x.passages for x in batches_a] == [x.passages for x in batches_b]
    first_epoch = [i for x in batches_a[:3] for i in x.item_indices]
    assert len(set(first_epoch)) == 9  # 3 full batches of a 10-item epoch, last item dropped
    assert batches_a[3].item_indices != batches_a[0].item_indices  # epoch 1 is reshuffled
    c = GroupSampler(_items(10), batch_size=3, group_size=4, seed=6)
    assert [c.next_batch().item_indices for _ in range(3)] != [x.item_indices for x in batches_a[:3]]


def test_sampler_state_resumes_the_same_stream():
    full = GroupSampler(_items(11), batch_size=2, group_size=3, seed=1)
    stream = [full.next_batch() for _ in range(12)]
    part = GroupSampler(_items(11), batch_size=2, group_size=3, seed=1)
    for _ in range(7):
        part.next_batch()
    resumed = GroupSampler(_items(11), batch_size=2, group_size=3, seed=1)
    resumed.load_state_dict(part.state_dict())
    rest = [resumed.next_batch() for _ in range(5)]
    assert [(x.queries, x.passages, x.grades) for x in rest] == \
        [(x.queries, x.passages, x.grades) for x in stream[7:]]


def test_sampler_state_from_other_data_is_refused():
    s = GroupSampler(_items(10), batch_size=2, group_size=3, seed=1)
    other = GroupSampler(_items(12), batch_size=2, group_size=3, seed=1)
    with pytest.raises(TrainingError, match="n_items"):
        s.load_state_dict(other.state_dict())


def test_shard_splits_queries_and_their_passages():
    batch = GroupSampler(_items(8), batch_size=4, group_size=3, seed=0).next_batch()
    parts = [batch.shard(r, 2) for r in range(2)]
    assert sum((p.queries for p in parts), []) == batch.queries
    assert sum((p.passages for p in parts), []) == batch.passages
    assert sum((p.grades for p in parts), []) == batch.grades
    with pytest.raises(TrainingError, match="multiple of the number of processes"):
        batch.shard(0, 3)


def test_too_few_items_for_a_batch():
    with pytest.raises(TrainingError, match="fewer than batch_size"):
        GroupSampler(_items(3), batch_size=4, group_size=2, seed=0)


def test_binary_groups_one_positive_then_negatives():
    """SyCL's binary InfoNCE groups: 1 passage with grade >= 2, then 2 below 2, each drawn at random."""
    group = TrainingGroup("q1", "query", [Passage("a", 3), Passage("b", 2), Passage("c", 1), Passage("d", 0)])
    seen_pos = set()
    for seed in range(40):
        chosen = select_binary(group, 3, np.random.default_rng(seed), threshold=2)
        assert chosen[0].grade >= 2 and all(p.grade < 2 for p in chosen[1:])
        assert len({p.text for p in chosen[1:]}) == 2  # without replacement while enough negatives exist
        seen_pos.add(chosen[0].text)
    assert seen_pos == {"a", "b"}  # the positive is drawn, not always the top grade
    with pytest.raises(TrainingError, match="binary group needs both"):
        select_binary(TrainingGroup("q2", "query", [Passage("x", 0)]), 3, np.random.default_rng(0), 2)
