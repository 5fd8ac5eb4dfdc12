import pytest

from synrank.synthetic.query_sources import content_words
from synrank.synthetic.strategies import (
    AnchoredStrategy,
    DirectJSONStrategy,
    DirectStrategy,
    Ineligible,
    Job,
    QueryPool,
)


@pytest.fixture(scope="module")
def anchored(msmarco_queries):
    return AnchoredStrategy(QueryPool(msmarco_queries), seed=0)


def test_direct_plans_one_prompt_per_level():
    jobs = DirectStrategy((3, 2, 1, 0)).plan("1", "what is a roth ira")
    assert [j.grade for j in jobs] == [3, 2, 1, 0]
    assert all(j.source_query == "what is a roth ira" for j in jobs)


def test_direct_json_parse_and_failures():
    s = DirectJSONStrategy((3, 2, 1, 0))
    job = s.plan("1", "q")[0]
    assert job.grade is None
    ok = s.parse(job, 'Sure! {"3": "a", "2": "b", "1": "c", "0": "d"} done')
    assert ok == {3: "a", 2: "b", 1: "c", 0: "d"}
    for bad, why in (("no json here", "no JSON"), ('{"3": "a", "2": ', "no JSON"), ('{"3": "a"}', "grade 2"),
                     ('{"3": "a", "2": "b", "1": "c", "0": }', "unparseable")):
        with pytest.raises(ValueError, match=why):
            s.parse(job, bad)


def test_narrowing_cuts_trailing_qualifier_keeping_two_content_words(anchored):
    src, rule = anchored.narrowed("average cost of a kitchen remodel in texas")
    assert src == "average cost of a kitchen remodel" and rule == "cut-qualifier"
    # a cut that would leave fewer than two content words is not used
    res = anchored.narrowed("symptoms of flu in adults")
    assert res is None or len(set(content_words(res[0]))) >= 2


def test_anchored_sources_relate_to_target_as_designed(anchored, msmarco_queries):
    planned = 0
    for qid, q in list(msmarco_queries.items())[:60]:
        try:
            jobs = anchored.plan(qid, q)
        except Ineligible:
            continue
        planned += 1
        by = {j.grade: j for j in jobs}
        assert by[3].source_query == q and by[3].source_rule == "self"
        assert len(set(content_words(by[2].source_query))) >= 2
        tcw = set(content_words(q))
        sib = set(content_words(by[1].source_query))
        assert sib & tcw and not tcw <= sib and by[1].source_query_id != qid
        if by[0].source_rule.startswith("shared-word"):
            assert len(set(content_words(by[0].source_query)) & tcw) == 1
        assert all(isinstance(j, Job) and j.messages[-1]["content"].startswith("Question: ") for j in jobs)
    assert planned >= 20


def test_anchored_never_uses_an_excluded_source(msmarco_queries):
    s = AnchoredStrategy(QueryPool(msmarco_queries), exclude=lambda t: t == "average cost of a kitchen remodel")
    res = s.narrowed("average cost of a kitchen remodel in texas")
    assert res is not None  # narrowed() itself is pure; plan() applies the exclusion
    try:
        jobs = s.plan("x", "average cost of a kitchen remodel in texas")
    except Ineligible:
        return
    assert all(j.source_query != "average cost of a kitchen remodel" for j in jobs)


def test_bad_levels_rejected():
    with pytest.raises(ValueError):
        DirectStrategy((3, 3))
    with pytest.raises(ValueError):
        DirectStrategy((4,))
