"""Author mistakes -> diagnostics, pinned by goldens (tests/check/bad/*.esms -> *.err).

Each case file is one mistake. Its first line names the diagnostic codes it must produce and
a title (`# code[, code…]: title`); the comment lines after it explain the mistake to policy
authors. `docs/diagnostics.md` is generated from these cases, so every example in it is the
exact output of the checker. Regenerate the goldens and the page after a deliberate change:

    ESMS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_check.py

and review the diff.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from esms_rules import fmt
from esms_rules.check import check
from esms_rules.diagnostics import PolicyError
from esms_rules.load import link, load_program

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "check" / "bad"
MODULES = Path("tests") / "check" / "modules"     # relative: paths in the goldens stay portable
DOCS = ROOT / "docs" / "diagnostics.md"
UPDATE = os.environ.get("ESMS_UPDATE_GOLDEN") == "1"
CASES = sorted(p.stem for p in BAD.glob("*.esms"))

# Diagnostics by pipeline stage, in the order of docs/diagnostics.md.
STAGES = [
    ("Parsing", "parse.py: the text against the grammar", [
        "syntax", "unterminated-string", "bad-date", "too-deep"]),
    ("Loading", "load.py: policy files, imports and overrides", [
        "no-such-policy", "not-a-policy", "unknown-import", "import-cycle", "unreadable", "duplicate-code",
        "duplicate-name", "bad-override", "nothing-to-override", "nul-character"]),
    ("Header", "check.py, stage `header`", ["bad-policy-id"]),
    ("Schema", "check.py, stage `schema`: enums, records and facts", [
        "duplicate-enum-value", "duplicate-field", "unknown-type", "bad-constraint"]),
    ("Tables", "check.py, stage `tables`", [
        "bad-table-key", "duplicate-key", "incomplete-table"]),
    ("Names and types", "infer.py, in stages `defs`, `rules` and `outputs`: every expression", [
        "unknown-name", "unknown-field", "not-a-record", "type-mismatch", "maybe-null",
        "unknown-enum-value", "missing-arguments", "bare-table", "bare-builtin", "not-a-table",
        "unknown-table-key", "not-a-list", "unknown-function", "wrong-arity", "bad-time-zone",
        "repeated-outside-rule"]),
    ("Rules and exceptions", "check.py, stage `rules`", [
        "unknown-rule", "exception-cycle", "misplaced-clause", "duplicate-clause", "unknown-code",
        "missing-code", "missing-severity", "missing-when", "missing-message", "missing-citation",
        "missing-applies", "exceptions-without-priority", "bad-interpolation", "bad-binder",
        "multiple-item-lists"]),
    ("Campaign rules", "check.py, stage `campaign`: rules over the set of dossiers (docs/campaign.md)", [
        "bad-join", "bad-severity", "no-history", "duplicate-history", "history-without-dossier"]),
    ("Parameters and cycles", "check.py, stages `params` and `cycles`", [
        "unset-param", "cyclic-definition"]),
    ("Warnings", "check.py: what runs, but is probably not what the author meant", ["shared-code"]),
    ("Citations", "cite.py, on every `source` of a module that has a register `documents.toml` beside it", [
        "missing-citation-tag", "bad-citation", "unknown-document", "unverified-quote", "unbalanced-quote",
        "missing-interpretation", "tag-mismatch", "bad-document", "bad-register"]),
    ("Internal errors", "any stage", ["internal"]),
]
DOCUMENTED = [code for _, _, codes in STAGES for code in codes]


def header(name: str) -> tuple[list[str], str, str]:
    """(codes, title, explanation) from a case file's leading comments."""
    lines = (BAD / f"{name}.esms").read_text(encoding="utf-8").splitlines()
    m = re.fullmatch(r"# ([a-z-]+(?:, [a-z-]+)*): (.+)", lines[0])
    assert m, f"{name}.esms must start with `# code: title`"
    explanation = []
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        explanation.append(line[1:].strip())
    return m.group(1).split(", "), m.group(2), " ".join(explanation)


def diagnose(name: str) -> PolicyError:
    text = (BAD / f"{name}.esms").read_text(encoding="utf-8")
    try:
        checked = check(link(text, f"tests/check/bad/{name}.esms", MODULES))
    except PolicyError as e:
        return e
    assert checked.warnings, f"{name}.esms: no error and no warning"
    return PolicyError(checked.warnings, checked.program.sources)   # a case that only warns


def golden(path: Path, got: str) -> None:
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"no golden {path.name}: run with ESMS_UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)    # file names in diagnostics are relative to the working directory


# ---- the corpus of mistakes -------------------------------------------------------------
def test_at_least_the_classic_mistakes():
    must = {"unknown_name_typo", "type_mismatch_comparison", "missing_citation", "unknown_code",
            "exceptions_without_priority", "cyclic_definition", "unknown_table_key", "bad_date",
            "unterminated_string", "unknown_import", "maybe_null", "unknown_enum_value",
            "unknown_field", "nothing_to_override", "duplicate_name", "repeated_outside_rule",
            "unset_param", "incomplete_table"}
    assert must <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_bad_policy(name):
    err = diagnose(name)
    codes, _, _ = header(name)
    assert sorted({d.code for d in err.diagnostics}) == sorted(codes)
    for d in err.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1
        assert d.message and not d.message[0].isupper() and not d.message.endswith("."), d.message
    golden(BAD / f"{name}.err", err.render() + "\n")


def _no_such_policy() -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_program("esms-numerique-2019")
    return info.value


def _not_a_policy() -> PolicyError:
    from esms_rules.evaluate import Policy
    with pytest.raises(PolicyError) as info:
        Policy.from_text("# Shared declarations.\nfact nb_structures: int\n", "shared.esms")
    return info.value


def _raises(make) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        make()
    return info.value


def _internal(monkeypatch) -> PolicyError:
    real = fmt.literal
    monkeypatch.setattr(fmt, "literal", lambda lit: "16" if lit.value == 15 else real(lit))
    with pytest.raises(PolicyError) as info:
        fmt.format_source("def minimum: int = 15\n")
    return info.value


CITED = Path("tests") / "check" / "cited"       # policies beside a register of documents


def _cited(name: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        check(load_program(CITED / f"{name}.esms"))
    return info.value


def _register(text: str) -> PolicyError:
    from esms_rules.cite import load_register
    _, errors = load_register(text, "documents.toml")
    return PolicyError(errors, {"documents.toml": text})


_CITED_CASES = {   # name: (code, title, the `source` written)
    "missing_citation_tag": ("missing-citation-tag", "a citation without its reading tag",
                             "ARS Exemple : « Tout dossier déposé après la date de clôture »"),
    "bad_citation": ("bad-citation", "a tag not followed by a document",
                     "[C] « Tout dossier déposé après la date de clôture »"),
    "unknown_document": ("unknown-document", "a document the register does not declare",
                         "[C] page-arss : « Tout dossier déposé après la date de clôture »"),
    "unverified_quote": ("unverified-quote", "a quote that is not word for word in the document",
                         "[C] page-ars : « Tout dossier déposé après la date limite sera refusé »"),
    "unbalanced_quote": ("unbalanced-quote", "a « without its »",
                         "[C] page-ars : « Tout dossier déposé après la date de clôture"),
    "missing_interpretation": ("missing-interpretation", "an [I] citation that does not say what it reads",
                               "[I] lecture"),
    "tag_mismatch": ("tag-mismatch", "our own interpretation cited as stating a rule [C]",
                     "[C] lecture : minuit s'entend heure de Paris"),
}

# Diagnostics that no policy file in tests/check/bad/ can show: (code, title, explanation, how).
API_CASES = {
    "no_such_policy": ("no-such-policy", "loading a bundled policy that does not exist",
                       "`load_policy(name)` and the command line take a file path or the name "
                       "of a bundled policy; here `load_program(\"esms-numerique-2019\")`.",
                       lambda mp: _no_such_policy()),
    "not_a_policy": ("not-a-policy", "evaluating with a module that has no `policy` header",
                     "A module without a header declares things for policies to import (like the "
                     "bundled `common`); it cannot decide a dossier by itself. Here "
                     "`Policy.from_text(\"# Shared declarations.\\nfact nb_structures: int\\n\", \"shared.esms\")`.",
                     lambda mp: _not_a_policy()),
    "nul_character": ("nul-character", "a NUL character in a policy file",
                      "Refused anywhere, comments included: invisible in editors, and the policy hash "
                      "separates modules with it. Here `link(\"policy \\\"p\\\" {}\\n# a\\0b\\n\", \"nul.esms\")`.",
                      lambda mp: _raises(lambda: link('policy "p" {}\n# a\0b\n', "nul.esms"))),
    "bad_policy_id": ("bad-policy-id", "a control character in a policy id",
                      "An escape such as `\\u0000` in the header's name would reach file names and "
                      "hashes. Here `policy \"a\\u0000b\" {}`.",
                      lambda mp: _raises(lambda: check(link('policy "a\\u0000b" {}\nfact n: int\n', "id.esms")))),
    "internal_fmt": ("internal", "a bug of esms-rules itself",
                     "Never the author's mistake: please report it with the policy. The formatter "
                     "raises it rather than write a policy whose meaning changed (shown here with "
                     "a deliberately broken printer, on `def minimum: int = 15`).",
                     lambda mp: _internal(mp)),
    **{name: (code, title, f"A policy of `{CITED}/`, beside the register `{CITED}/documents.toml`, whose rule "
                           f"cites `source \"{source}\"`.", lambda mp, name=name: _cited(name))
       for name, (code, title, source) in _CITED_CASES.items()},
    "bad_document": ("bad-document", "a document of the register with an unknown kind",
                     "The register `documents.toml` is checked with the first citation that needs it; here "
                     "`[page]` has `kind = \"blog\"`.",
                     lambda mp: _register('[page]\nkind = "blog"\nissuer = "ARS"\ntitle = "AAP"\n')),
    "bad_register": ("bad-register", "a register that is not valid TOML",
                     "Here `documents.toml` lacks a closing quote.",
                     lambda mp: _register('[page]\nkind = "call-page\n')),
}


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_api_diagnostic(name, monkeypatch):
    code, _, _, make = API_CASES[name]
    err = make(monkeypatch)
    assert [d.code for d in err.diagnostics] == [code]
    golden(BAD / f"{name}.err", err.render() + "\n")


# ---- properties of diagnostics ----------------------------------------------------------
def test_every_mistake_reported_at_once_sorted_by_position():
    text = (BAD / "unknown_name_typo.esms").read_text(encoding="utf-8")
    text = text.replace("fact nb_structures: int", "fact nb_structures: integer")
    text = text.replace("code     TOO_SMALL", "code     TOO_SMAL")
    with pytest.raises(PolicyError) as info:
        check(link(text, "several.esms"))
    lines = [(d.span.line, d.span.column) for d in info.value.diagnostics]
    assert lines == sorted(lines)
    assert {"unknown-type", "unknown-code", "unknown-name"} <= {d.code for d in info.value.diagnostics}


def test_did_you_mean():
    err = diagnose("unknown_name_typo")
    assert err.diagnostics[0].help == "did you mean `nb_structures`?"
    assert "did you mean `TOO_SMALL`?" in diagnose("unknown_code").render()
    assert "did you mean `common`?" in diagnose("unknown_import").render()
    assert "did you mean `regional`?" in diagnose("unknown_enum_value").render()


def test_conflicting_exceptions_name_every_span():
    err = diagnose("exceptions_without_priority")
    for d in err.diagnostics:
        assert d.related, "a conflict names the competing exception"


def test_diagnostics_as_json():
    d = diagnose("missing_citation").diagnostics[0].to_dict()
    assert d["code"] == "missing-citation" and d["file"] == "tests/check/bad/missing_citation.esms"
    assert d["line"] >= 1 and d["column"] >= 1


def test_bundled_policies_check_cleanly():
    from esms_rules.load import bundled_names
    for name in bundled_names():
        check(load_program(name))


# ---- docs/diagnostics.md ----------------------------------------------------------------
def _source_codes() -> set[str]:
    """Every diagnostic code the engine's source can raise."""
    codes = set()
    for path in (ROOT / "esms_rules").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'(?:error|bad|Diagnostic)\(\s*"([a-z][a-z-]*)"', text))
        if 'f"missing-{need}"' in text:
            codes |= {"missing-code", "missing-when", "missing-message", "missing-severity"}
    return codes


def test_every_diagnostic_code_has_an_example():
    examples = {c for name in CASES for c in header(name)[0]} | {v[0] for v in API_CASES.values()}
    missing_docs = _source_codes() - set(DOCUMENTED)
    assert not missing_docs, f"add these codes to STAGES (and an example): {sorted(missing_docs)}"
    assert set(DOCUMENTED) <= examples, sorted(set(DOCUMENTED) - examples)


def render_docs() -> str:
    by_code: dict[str, list] = {}
    for name in CASES:
        codes, title, explanation = header(name)
        by_code.setdefault(codes[0], []).append((name, title, explanation))
    for name, (code, title, explanation, _) in sorted(API_CASES.items()):
        by_code.setdefault(code, []).append((name, title, explanation))
    out = [
        "# Diagnostics",
        "",
        "<!-- Generated from tests/check/bad/ by tests/test_check.py: edit the cases there, then run",
        "     ESMS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_check.py -->",
        "",
        "Every problem esms-rules finds in a policy is reported before anything runs, all at once,",
        "sorted by position. Each diagnostic has a stable code, which you can search for here:",
        "",
        "```text",
        "tests/check/bad/unknown_name_typo.esms:13:12: error[unknown-name]: unknown name `nb_structure`",
        "   13 |   when     nb_structure < 15",
        "      |            ^^^^^^^^^^^^",
        "  help: did you mean `nb_structures`?",
        "```",
        "",
        "- the first line gives the place (`file:line:column`), the code in brackets and a one-line",
        "  message; names from the policy are in backticks;",
        "- then the line of the policy, with carets under the faulty part;",
        "- `note:` lines point at other places involved (the first declaration of a duplicate, the",
        "  competing exception of a conflict);",
        "- `help:` says how to fix it, often with a *did you mean* suggestion.",
        "",
        "Diagnostics are written in English, for policy authors and developers, like compiler",
        "messages; the reason messages that policies give to applicants are in French. Programs get",
        "the same data from `PolicyError.diagnostics` (`Diagnostic.to_dict()` for JSON).",
        "",
        "Each example below is a small policy from `tests/check/bad/` and the exact output the",
        "checker gives for it.",
        "",
        "## Index",
        "",
    ]
    for stage, _, codes in STAGES:
        out.append(f"- {stage}: " + ", ".join(f"[`{c}`](#{c})" for c in codes))
    for stage, where, codes in STAGES:
        out += ["", f"## {stage}", "", f"*{where}*"]
        for code in codes:
            out += ["", f'<a id="{code}"></a>', "", f"### `{code}`"]
            for name, title, explanation in by_code[code]:
                out += ["", f"**{title[0].upper() + title[1:]}.**" + (f" {explanation}" if explanation else "")]
                policy = BAD / f"{name}.esms"
                if policy.exists():
                    body = policy.read_text(encoding="utf-8").rstrip("\n")
                    if len(body) > 2000:
                        body = body[:160] + " …"
                    out += ["", f"`tests/check/bad/{name}.esms`:", "", "```esms", body, "```"]
                result = (BAD / f"{name}.err").read_text(encoding="utf-8").rstrip("\n")
                out += ["", "```text", result, "```"]
    return "\n".join(out) + "\n"


def test_docs_are_up_to_date():
    golden(DOCS, render_docs())
