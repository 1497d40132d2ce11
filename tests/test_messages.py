"""Messages: interpolations are expressions and nothing more; every character can be written
(issue 13, item 13).

In a policy's message, `{e}` shows the value of `e`; `\\{`, `\\}` and `\\\\` show a brace and a
backslash. The property: any text, made of any characters and interpolations, written with
these escapes, is shown as meant, and survives `fmt`.
"""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esms_rules import PolicyError
from esms_rules.fmt import format_source
from esms_rules.policy import Policy

HEAD = 'policy "p" {}\ncodes { X }\nfact n: int\nfact t: text\n'


def _policy(message_source: str) -> str:
    return HEAD + ('rule r {\n  code X\n  severity warning\n  when n > 0\n'
                   f'  message "{message_source}"\n  source "s"\n}}\n')


def _message(policy: Policy, facts: dict) -> str:
    d = policy.evaluate(facts)
    return next(w.message for w in d.warnings if w.code == "X")


_ESCAPES = {"\\": "\\\\", "{": "\\{", "}": "\\}", '"': '\\"'}

pieces = st.lists(st.one_of(
    st.text(alphabet="\\{}\" ab", min_size=1, max_size=4).map(lambda s: ("text", s)),
    st.sampled_from([("expr", "n"), ("expr", "t")])), max_size=8)


@settings(max_examples=150, deadline=None)
@given(pieces)
def test_any_text_is_shown_as_written(parts):
    source = "".join("".join(_ESCAPES.get(c, c) for c in v) if kind == "text" else "{" + v + "}"
                     for kind, v in parts)
    values = {"n": 7, "t": "\\{x}"}
    want = "".join(v if kind == "text" else str(values[v]) for kind, v in parts)
    text = _policy(source)
    policy = Policy.from_text(text)
    assert _message(policy, values) == want
    formatted = format_source(text)
    assert _message(Policy.from_text(formatted), values) == want
    assert format_source(formatted) == formatted


def test_a_backslash_before_an_interpolation():
    policy = Policy.from_text(_policy("C:\\\\{t}\\\\ et \\{n} = {n}"))
    assert _message(policy, {"n": 3, "t": "dossier"}) == "C:\\dossier\\ et {n} = 3"


@pytest.mark.parametrize("inside", ["n import os", "n # comment", "n\\nimport os", "n rule", "n def x = 1"])
def test_an_interpolation_is_one_expression(inside):
    text = _policy("value {" + inside + "} here")
    with pytest.raises(PolicyError) as info:
        Policy.from_text(text)
    [d] = info.value.diagnostics
    assert d.code == "bad-interpolation"
    line = text.splitlines().index(next(x for x in text.splitlines() if "message" in x)) + 1
    assert (d.span.line, d.span.column) == (line, text.splitlines()[line - 1].index("{") + 2)
