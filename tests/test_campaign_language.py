"""Campaign rules in the policy language: parse, check (errors located with a caret), format.

The rules themselves are evaluated in tests/test_campaign.py; the diagnostics each have a case
in tests/check/bad/campaign_*.esms (goldens, and docs/diagnostics.md).
"""
from __future__ import annotations

import pytest

from esms_rules import ast
from esms_rules.check import check, check_text
from esms_rules.diagnostics import PolicyError
from esms_rules.fmt import canonical, format_source
from esms_rules.load import MemorySources, link
from esms_rules.parse import parse_module

SCHEMA = """\
codes {
  SAME "même FINESS"
  FUNDED "déjà financé"
  CAP "plafond"
}

record structure {
  finess: text
  name: text
}

fact id: text
fact campaign: int
fact programme: text
fact structures: list of structure

history record funded {
  finess: text
  programme: text
  campaign: int
  dossier: text
}
"""

GROUP = """
campaign rule same_finess for s in structures where passes_all group by s.finess {
  code     SAME
  severity warning
  when     count(others) > 0
  message  "La structure {s.finess} figure aussi dans {others}."
  source   "[I] lecture : un FINESS par dossier"
}
def passes_all = campaign > 2000
"""

JOIN = """
campaign rule funded_before for s in structures
    join f in history on f.finess == s.finess and programme == f.programme where f.campaign < campaign {
  code     FUNDED
  severity warning
  when     count(matches) > 0
  message  "Déjà financée : {[f.dossier for f in matches]}."
  source   "[I] lecture"
}
"""

COUNT = """
campaign rule over_cap count s in structures where eligible {
  code     CAP
  severity info
  when     total > 56
  message  "{total} structures retenues, au-delà de 56."
  source   "[C] instruction : 56"
}
"""


def checked(text: str):
    return check(link(text, "camp.esms", sources=MemorySources({})))


def errors(text: str) -> list:
    result = check_text(text, "camp.esms", MemorySources({}))
    return [d for d in result.diagnostics if d.severity == "error"]


def test_the_three_forms_parse_into_one_declaration_node():
    items = parse_module(SCHEMA + GROUP + JOIN + COUNT).items
    rules = [d for d in items if isinstance(d, ast.CampaignRuleDecl)]
    assert [(r.name, r.form) for r in rules] == [("same_finess", "group"), ("funded_before", "join"),
                                               ("over_cap", "count")]
    group, join, count = rules
    assert group.rows.var == "s" and group.rows.list_name == "structures" and group.key is not None
    assert join.join_var == "f" and join.on is not None and join.join_where is not None
    assert count.rows.var == "s" and count.rows.condition == ast.Name("eligible")
    assert [d.history for d in items if isinstance(d, ast.RecordDecl)] == [False, True]
    # spans: the rule starts at `campaign`, the key where it is written
    assert group.span.line == SCHEMA.count("\n") + 2 and group.span.column == 1
    assert group.key.span.column == len("campaign rule same_finess for s in structures where passes_all group by ") + 1


def test_dossier_rows_and_override():
    text = SCHEMA + "override campaign rule c count dossiers {\n  code CAP\n}\n"
    (rule,) = [d for d in parse_module(text).items if isinstance(d, ast.CampaignRuleDecl)]
    assert rule.override and rule.rows.var is None and rule.rows.condition is None


def test_the_policy_checks_and_keeps_typed_campaign_rules():
    policy = checked(SCHEMA + GROUP + JOIN + COUNT)
    by_name = {r.name: r for r in policy.campaign_rules}
    assert set(by_name) == {"same_finess", "funded_before", "over_cap"}
    join = by_name["funded_before"]
    assert [ast.Attribute(ast.Name("s"), "finess"), ast.Name("programme")] == list(join.keys)
    assert [ast.Attribute(ast.Name("f"), "finess"), ast.Attribute(ast.Name("f"), "programme")] \
        == list(join.history_keys)
    assert policy.history is not None and policy.history.name == "funded"
    assert by_name["over_cap"].severity == "info" and by_name["same_finess"].severity == "warning"
    # a message's interpolations are typed like a rule's
    assert isinstance(by_name["same_finess"].message[1], ast.Attribute)


def test_campaign_count_and_history_stay_ordinary_names():
    """`campaign` is a fact, `history` a field, `count` a function: the words of the campaign
    rule's head are keywords only where the grammar expects them."""
    text = SCHEMA + """
record log { history: text  group: int  on: bool }
fact logs: list of log
def n = count(s for s in structures where campaign > 2020)
def same = [l.history for l in logs where l.on and l.group > 0]
""" + GROUP
    policy = checked(text)
    assert "n" in policy.defs and "same" in policy.defs and len(policy.campaign_rules) == 1


def test_policy_header_keeps_its_campaign_field():
    text = 'policy "p" {\n  programme "x"\n  campaign 2025\n}\n' + SCHEMA + COUNT
    policy = checked(text)
    assert policy.header["campaign"] == 2025 and policy.campaign_rules[0].name == "over_cap"


@pytest.mark.parametrize("snippet, code, where", [
    # the key of a group must be a value that can be hashed and is never null
    (GROUP.replace("group by s.finess", "group by s"), "type-mismatch", "s {"),
    (GROUP.replace("count(others) > 0", "count(other) > 0"), "unknown-name", "other)"),
    (JOIN.replace("f.campaign < campaign", "f.campain < campaign"), "unknown-field", "f.campain"),
    (JOIN.replace("f.finess == s.finess", "f.finess == f.dossier"), "bad-join", "f.finess == f.dossier"),
    (JOIN.replace("programme == f.programme", "programme == f.programme + s.name"), "bad-join",
     "f.programme + s.name"),
    (JOIN.replace("f.finess == s.finess", "f.campaign == s.finess"), "type-mismatch", "f.campaign == s.finess"),
    (COUNT.replace("total > 56", "campaign > 56"), "unknown-name", "campaign > 56"),
    (COUNT.replace("severity info", "severity inadmissible"), "bad-severity", "severity inadmissible"),
    (COUNT.replace("  code     CAP\n", ""), "missing-code", "campaign rule over_cap"),
    (COUNT.replace("CAP\n", "CAPP\n"), "unknown-code", "code     CAPP"),
    (COUNT.replace("  source   \"[C] instruction : 56\"\n", ""), "missing-citation", "campaign rule over_cap"),
    (COUNT.replace("severity info", "severity info\n  priority 2"), "misplaced-clause", "priority 2"),
    (GROUP.replace("structures where", "structure where"), "bad-binder", "s in structure where"),
    (GROUP.replace("where passes_all", "where id"), "type-mismatch", "id group"),
])
def test_errors_are_located(snippet, code, where):
    text = SCHEMA + snippet
    found = errors(text)
    assert code in [d.code for d in found], [d.header() for d in found]
    d = next(d for d in found if d.code == code)
    line = text.splitlines()[d.span.line - 1]
    assert line[d.span.column - 1:].startswith(where), (line, d.span)
    assert "^" in d.render({"camp.esms": text})


def test_info_is_for_campaign_rules_only():
    text = SCHEMA + 'rule r {\n  code CAP\n  severity info\n  when true\n  message "m"\n  source "s"\n}\n'
    assert [d.code for d in errors(text)] == ["bad-severity"]


def test_a_misspelt_campaign_keyword_is_a_syntax_error():
    with pytest.raises(PolicyError) as info:
        parse_module(SCHEMA + GROUP.replace("campaign rule", "campain rule"), "camp.esms")
    d = info.value.diagnostics[0]
    assert d.code == "syntax" and "expected `campaign`" in d.message and d.span.column == 1


def test_duplicate_campaign_rule_needs_override():
    with pytest.raises(PolicyError) as info:
        checked(SCHEMA + COUNT + COUNT)
    assert [d.code for d in info.value.diagnostics] == ["duplicate-name"]


@pytest.mark.parametrize("text", [SCHEMA + GROUP + JOIN + COUNT,
                                  SCHEMA + "campaign rule c count dossiers {\n"
                                  "code CAP severity info when total > 1 message \"m\" source \"s\" }\n"])
def test_format_round_trip(text):
    out = format_source(text)
    assert canonical(parse_module(out).items) == canonical(parse_module(text).items)
    assert format_source(out) == out
    assert "history record funded {" in out


def test_format_layout_of_a_long_head():
    out = format_source(SCHEMA + JOIN)
    assert ("campaign rule funded_before\n"
            "    for s in structures\n"
            "    join f in history on f.finess == s.finess and programme == f.programme\n"
            "    where f.campaign < campaign {\n"
            "  code     FUNDED\n") in out
    short = format_source(SCHEMA + COUNT)
    assert "campaign rule over_cap count s in structures where eligible {\n  code     CAP\n" in short


def test_format_keeps_comments_in_a_campaign_rule():
    text = SCHEMA + GROUP.replace("  severity warning", "  # un avertissement seulement\n  severity warning")
    out = format_source(text)
    assert "  # un avertissement seulement\n  severity warning" in out


def test_highlighting_of_a_campaign_rule():
    pytest.importorskip("pygments")
    from pygments.token import Error, Keyword, Name, Operator

    from esms_rules.highlight import EsmsLexer
    text = 'policy "p" {\n  campaign 2025\n}\n' + SCHEMA + GROUP + JOIN + COUNT
    tokens = [(t, v) for t, v in EsmsLexer().get_tokens(text) if v.strip()]
    assert [v for t, v in tokens if t in Error] == []
    kinds = {}
    for t, v in tokens:
        kinds.setdefault(v, set()).add(t)
    assert Keyword.Declaration in kinds["campaign"] and Name in kinds["campaign"]   # a keyword, and a name
    assert kinds["same_finess"] == {Name.Function} and kinds["funded"] <= {Name.Function, Name}
    assert Operator.Word in kinds["group by"] and Operator.Word in kinds["join"]
    assert Name.Builtin in kinds["count"] and Operator.Word in kinds["count"]
    assert Keyword.Pseudo in kinds["info"]


# ---- definitions in campaign rules --------------------------------------------------------
CONSTANTS = """
def cap: int = 56
def doubled = cap * 2
def first_campaign(c: int): bool = c < 2021
def size = count(structures)
"""


def test_a_count_rule_and_the_history_side_use_the_policys_constants():
    text = SCHEMA + CONSTANTS + COUNT.replace("total > 56", "total > cap and total < doubled") \
        .replace("au-delà de 56", "au-delà de {cap}") \
        + JOIN.replace("f.campaign < campaign", "first_campaign(f.campaign)") \
            .replace("f.finess == s.finess", "f.finess == s.finess and f.campaign + cap == campaign + 56")
    policy = checked(text)
    by_name = {r.name: r for r in policy.campaign_rules}
    assert ast.Binary(">", ast.Name("total"), ast.Name("cap")) == by_name["over_cap"].when.left
    assert ast.Name("cap") in by_name["over_cap"].message
    assert by_name["funded_before"].join_where == ast.Call("first_campaign",
                                                           (ast.Attribute(ast.Name("f"), "campaign"),))


@pytest.mark.parametrize("snippet, message, where", [
    # a fact, or a definition that reads one (directly or through another), is one dossier's
    (COUNT.replace("total > 56", "total > size"), "definition `size` reads the facts of one dossier",
     "size"),
    (COUNT.replace("total > 56", "total > count(structures)"), "`structures` is a fact of one dossier",
     "structures)"),
    (COUNT.replace("au-delà de 56", "au-delà de {size}"), "definition `size` reads", "size}"),
    (COUNT.replace("total > 56", "total > capp"), "unknown name `capp`", "capp"),
    (JOIN.replace("f.finess == s.finess", "f.finess == s.finess and f.campaign + size == campaign"),
     "may only read `f` and the policy's constants, not `size`", "f.campaign + size"),
])
def test_a_count_rule_sees_no_dossier(snippet, message, where):
    text = SCHEMA + CONSTANTS + snippet
    found = [d for d in errors(text) if d.code in ("unknown-name", "bad-join")]
    assert found and message in found[0].message, [d.header() for d in found]
    line = text.splitlines()[found[0].span.line - 1]
    assert line[found[0].span.column - 1:].startswith(where), (line, found[0].span)
    if "capp" in snippet:
        assert "did you mean `cap`" in (found[0].help or ""), found[0].help
    elif found[0].code != "bad-join":
        assert "constants" in found[0].help


def test_definitions_of_one_dossier_are_still_seen_by_a_row():
    # a group rule's row is one dossier: its facts and every definition stay in scope
    text = SCHEMA + CONSTANTS + GROUP.replace("count(others) > 0", "count(others) > 0 and size < cap")
    assert len(checked(text).campaign_rules) == 1


def test_format_keeps_a_count_rule_with_a_definition():
    text = SCHEMA + CONSTANTS + COUNT.replace("total > 56", "total > cap")
    out = format_source(text)
    assert "  when     total > cap\n" in out and format_source(out) == out


def test_the_language_server_finds_a_constant_used_by_a_count_rule():
    pytest.importorskip("pygls")
    from esms_rules.load import bundled_dir
    from esms_rules.lsp import Analysis
    path = bundled_dir() / "mes-pilotes-2023.esms"
    text = path.read_text(encoding="utf-8")
    analysis = Analysis.of(text, path)
    assert [d for d in analysis.diagnostics if d.severity == "error"] == []
    (target,) = analysis.definition("pilots", before="  when     total > ")
    assert text.splitlines()[target.line - 1].startswith("def pilots: int = 56")
    uses = [text.splitlines()[s.line - 1] for s in analysis.references("pilots") if s.file == str(path)]
    assert any("total > pilots" in line for line in uses)
    assert "56" in (analysis.hover("pilots") or "")
