from synrank.synthetic import prompts


def test_per_level_prompt_carries_the_grade_definition_and_style():
    msgs = prompts.per_level_messages("how long to boil an egg", 1)
    user = msgs[-1]["content"]
    assert "how long to boil an egg" in user
    assert prompts.LEVELS[1][1] in user and "60 to 120 words" in user
    assert "Do not mention the query" in user


def test_all_in_one_prompt_asks_for_json_with_every_grade():
    user = prompts.all_in_one_messages("q")[-1]["content"]
    for g in (3, 2, 1, 0):
        assert f'"{g}"' in user
    assert "JSON object" in user
    sub = prompts.all_in_one_messages("q", (3, 0))[-1]["content"]
    assert '"2"' not in sub.split("Reply")[1]


def test_anchored_prompt_is_the_pilot_answer_prompt():
    msgs = prompts.anchored_messages("what is a roth ira")
    assert msgs == [{"role": "user", "content": "Question: what is a roth ira\nWrite a 60-word paragraph that "
                     "directly and completely answers this question, with specific facts."}]


def test_prompt_version_is_recorded_string():
    assert prompts.PROMPT_VERSION.startswith("synrank-prompts/")
