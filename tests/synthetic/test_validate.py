from synrank.synthetic.dedup import Deduplicator, text_key
from synrank.synthetic.validate import ValidationConfig, check_group, check_passage, clean_passage

CFG = ValidationConfig()
GOOD = ("A Roth IRA is an individual retirement account funded with after-tax dollars. Qualified withdrawals "
        "in retirement, including investment growth, are tax free. Contribution limits are set each year by "
        "the IRS, and eligibility phases out at higher incomes. Unlike a traditional IRA there are no required "
        "minimum distributions during the owner's lifetime.")


def test_good_passage_passes():
    assert check_passage(GOOD, "what is a roth ira", CFG) is None


def test_rejects_have_reasons():
    q = "what is a roth ira"
    assert check_passage("", q, CFG) == "empty"
    assert check_passage("Too short to be a passage.", q, CFG).startswith("too short")
    assert check_passage(" ".join(["word"] * 300), q, CFG).startswith("too long")
    assert check_passage(" ".join(["ira roth"] * 20), q, CFG).startswith("repetitive")
    assert check_passage(" ".join(["what is a roth ira"] * 2 + ["is a roth ira what"] * 5), q,
                         ValidationConfig(min_unique_ratio=0.0)) == "a copy of the query"
    why = check_passage(GOOD + " This passage is highly relevant to the query.", q, CFG)
    assert why.startswith("talks about the task")


def test_clean_passage_strips_labels_quotes_and_cut_off_sentence():
    assert clean_passage('Passage: "Hello there. Bye."', truncated=False) == "Hello there. Bye."
    t = clean_passage("One full sentence here. Another full one. And a cut off", truncated=True)
    assert t == "One full sentence here. Another full one."
    assert clean_passage("no end at all", truncated=True) == "no end at all"


def test_group_check_flags_near_identical_lower_grade():
    bad = check_group({3: GOOD, 2: GOOD.replace("IRS", "I.R.S."), 1: "something else entirely " * 10}, CFG)
    assert list(bad) == [2] and "grade-3" in bad[2]


def test_dedup_normalizes_case_and_punctuation():
    d = Deduplicator()
    d.add("Hello, World!")
    assert d.seen("hello world") and not d.seen("hello there")
    assert text_key("A b") == text_key("a, B")
