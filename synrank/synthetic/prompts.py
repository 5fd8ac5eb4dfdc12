"""Versioned prompts for graded synthetic passages.

Every record carries :data:`PROMPT_VERSION`; any change to a wording below must bump it, so data made
with different prompts is never mixed silently. Prompts are chat messages (``[{"role", "content"}]``);
each backend applies its model's chat template (or sends them to a chat endpoint as they are).

Three families:

* **per-level** (paper-faithful): one prompt per grade, giving the grade's definition;
* **all-in-one**: one prompt that asks for all four grades as a JSON object;
* **anchored answer**: "answer this question" for a *source* query; the grade comes from how the source
  relates to the target query (see :mod:`synrank.synthetic.strategies`), not from the model.
"""

from __future__ import annotations

PROMPT_VERSION = "synrank-prompts/1"

#: Grade → (short name, definition). 3 is the most relevant.
LEVELS: dict[int, tuple[str, str]] = {
    3: ("perfectly relevant", "fully and directly answers the query"),
    2: ("highly relevant", "answers the query, but only partially or mixed with extra material"),
    1: ("related", "is on the topic of the query but does not answer it"),
    0: ("irrelevant", "shares some surface words or the broad domain with the query but is about something else"),
}

STYLE = ("Write it as a passage from a web page, roughly 60 to 120 words, in plain prose. "
         "Do not mention the query, the question, or any relevance level.")

SYSTEM = "You write short, factual web passages."

_PER_LEVEL = (
    "Query: {query}\n\n"
    "Write a passage that is {name} to this query: it {definition}.\n"
    "{style}"
)

_ALL_IN_ONE = (
    "Query: {query}\n\n"
    "Write four different passages for this query, one for each relevance level:\n"
    "{levels}\n"
    "{style}\n"
    'Reply with only a JSON object of the form {{"3": "...", "2": "...", "1": "...", "0": "..."}}.'
)

#: The wording that worked best in the pilot (see docs/synthetic.md): a plain answering task, which even a
#: 135M model follows; it is used for every grade's source query in the anchored strategy.
_ANCHORED_ANSWER = (
    "Question: {query}\n"
    "Write a 60-word paragraph that directly and completely answers this question, with specific facts."
)


def _chat(user: str, system: str | None = SYSTEM) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": user})
    return msgs


def per_level_messages(query: str, grade: int) -> list[dict[str, str]]:
    """One prompt for one grade of ``query`` (paper-style definitions)."""
    if grade not in LEVELS:
        raise ValueError(f"grade must be one of {sorted(LEVELS)}, got {grade!r}")
    name, definition = LEVELS[grade]
    return _chat(_PER_LEVEL.format(query=query, name=name, definition=definition, style=STYLE))


def all_in_one_messages(query: str, grades: tuple[int, ...] = (3, 2, 1, 0)) -> list[dict[str, str]]:
    """One prompt asking for every grade at once as JSON keyed by the grade number."""
    levels = "\n".join(f'- "{g}": {LEVELS[g][0]}: it {LEVELS[g][1]}.' for g in grades)
    text = _ALL_IN_ONE.format(query=query, levels=levels, style=STYLE)
    if tuple(grades) != (3, 2, 1, 0):
        keys = ", ".join(f'"{g}": "..."' for g in grades)
        text = text.rsplit("Reply", 1)[0] + f"Reply with only a JSON object of the form {{{keys}}}."
    return _chat(text)


def anchored_messages(source_query: str) -> list[dict[str, str]]:
    """The answer prompt for one source query; no system message (the pilot used none)."""
    return _chat(_ANCHORED_ANSWER.format(query=source_query), system=None)


def render_plain(messages: list[dict[str, str]]) -> str:
    """Flatten chat messages for models without a chat template (base models)."""
    return "\n\n".join(m["content"] for m in messages) + "\n\n"
