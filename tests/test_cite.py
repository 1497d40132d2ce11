"""Citations: the register of documents, the verbatim check of quotes, and what reasons cite."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import esms_rules
from esms_rules.check import check
from esms_rules.cite import REGISTER, load_register, normalize, parse, render
from esms_rules.cli import cli
from esms_rules.diagnostics import PolicyError
from esms_rules.load import link, load_program

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
SHARED = ROOT.parent / "shared"

REAL_QUOTE = ("« Tout dossier déposé après la date de clôture de l'appel à projets le concernant sera considéré "
              "comme non recevable »")


def run_check(*args):
    result = CliRunner().invoke(cli, ["check", *map(str, args)])
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def copy_of_policies(tmp_path):
    """The bundled policies and their register, in a folder of their own."""
    for f in POLICIES.iterdir():
        if f.suffix in (".esms", ".toml"):
            shutil.copy(f, tmp_path / f.name)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def diagnose(folder: Path, file: str) -> list:
    with pytest.raises(PolicyError) as e:
        check(load_program(folder / file))
    return e.value.diagnostics


# ---- the bundled policies ----------------------------------------------------------------
def test_check_passes_on_the_bundled_policies():
    result = run_check(POLICIES)
    assert result.exit_code == 0, result.output
    assert "no errors" in result.output


def test_check_rejects_an_invented_quote(copy_of_policies):
    # the quote the issue found: a deadline put in words the source does not have
    edit(copy_of_policies / "esms-numerique-2025.esms",
         "« L'appel à projets régional est ouvert jusqu'au lundi 15 septembre 2025 à minuit »",
         "« jusqu'au 15 septembre 2025 à minuit »")
    result = run_check(copy_of_policies)
    assert result.exit_code == 1
    assert "error[unverified-quote]: « jusqu'au 15 septembre 2025 à minuit » is not verbatim" in result.output
    assert re.search(r"esms-numerique-2025\.esms:\d+:\d+: error\[unverified-quote\]", result.output)
    assert "document declared at" in result.output and "documents.toml" in result.output


def test_a_changed_word_inside_a_long_quote_is_caught(copy_of_policies):
    edit(copy_of_policies / "common.esms", REAL_QUOTE, REAL_QUOTE.replace("non recevable", "irrecevable"))
    codes = [d.code for d in diagnose(copy_of_policies, "esms-numerique-2025.esms")]
    assert codes == ["unverified-quote"]


def test_a_quote_must_come_from_the_document_it_is_credited_to(copy_of_policies):
    # verbatim in the Hauts-de-France page, but credited to the 2024 article
    edit(copy_of_policies / "common.esms", "[C] ars-hdf-2025 : " + REAL_QUOTE,
         "[C] geroscopie-2024-02-11 : " + REAL_QUOTE)
    assert [d.code for d in diagnose(copy_of_policies, "esms-numerique-2025.esms")] == ["unverified-quote"]


@pytest.mark.parametrize("old, new, code", [
    ("[C] ars-hdf-2025 : " + REAL_QUOTE, "[C] ars-hdf-2052 : " + REAL_QUOTE, "unknown-document"),
    ("[C] ars-hdf-2025 : " + REAL_QUOTE, "ARS Hauts-de-France : " + REAL_QUOTE, "missing-citation-tag"),
    ("[C] ars-hdf-2025 : " + REAL_QUOTE, "[C] ars-hdf-2025 — " + REAL_QUOTE, "bad-citation"),
    ("[C] ars-hdf-2025 : " + REAL_QUOTE, "[C] ars-hdf-2025 : « Tout dossier déposé", "unbalanced-quote"),
    ("[C] ars-hdf-2025 : " + REAL_QUOTE, "[I] ars-hdf-2025", "missing-interpretation"),
    ("[I] esms-rules-lecture, heure limite :", "[C] esms-rules-lecture, heure limite :", "tag-mismatch"),
])
def test_malformed_citations_are_rejected_where_they_are_written(copy_of_policies, old, new, code):
    edit(copy_of_policies / "common.esms", old, new)
    diagnostics = diagnose(copy_of_policies, "esms-numerique-2025.esms")
    assert [d.code for d in diagnostics] == [code]
    d = diagnostics[0]
    assert d.span.file.endswith("common.esms") and d.span.line > 1 and d.help
    if code == "unknown-document":
        assert "did you mean `ars-hdf-2025`" in d.render()


def test_the_register_is_checked_too(copy_of_policies):
    edit(copy_of_policies / REGISTER, 'kind = "faq"', 'kind = "blog"')
    edit(copy_of_policies / REGISTER, 'kept_from = "notes de recherche du projet, domain.md, S19', 'xkept = "')
    diagnostics = diagnose(copy_of_policies, "esms-numerique-2025.esms")
    assert {d.code for d in diagnostics} == {"bad-document"}
    assert all(d.span.file.endswith(REGISTER) for d in diagnostics)
    text = "\n".join(d.message for d in diagnostics)
    assert "kind is 'blog'" in text and "unknown field `xkept`" in text and "does not say where" in text


def test_the_policy_hash_covers_the_register(copy_of_policies):
    before = load_program(copy_of_policies / "esms-numerique-2025.esms").sha256
    edit(copy_of_policies / REGISTER, 'issuer = "ARS Hauts-de-France"', 'issuer = "ARS des Hauts-de-France"')
    assert load_program(copy_of_policies / "esms-numerique-2025.esms").sha256 != before


def test_a_policy_without_a_register_keeps_free_text_sources(tmp_path):
    (tmp_path / "p.esms").write_text('policy "p" { programme "x" campaign 2025 }\nimport common\n'
                                     'def regional_deadline = null\ndef multiregional_deadline = null\n'
                                     'def national_deadline = null\n'
                                     'def extra = 1\n  source "Une note libre « non vérifiée »"\n', encoding="utf-8")
    checked = check(load_program(tmp_path / "p.esms"))
    assert checked.defs["extra"].source == "Une note libre « non vérifiée »"
    # the bundled module it imports is still cited from the bundled register
    assert checked.defs["threshold"].source.startswith("Géroscopie 11/02/2024, Les appels à projets régionaux : « ")


# ---- the verbatim comparison -------------------------------------------------------------
def register(passage: str):
    docs, errors = load_register(f'[d]\nkind = "article"\nissuer = "X"\ntitle = "T"\nkept_from = "ici"\n'
                                 f'passages = ["{passage}"]\n', "documents.toml")
    assert not errors
    return docs


@pytest.mark.parametrize("excerpt, held", [
    ("l'ARS et le porteur", True),                      # straight apostrophe for a curly one
    ("l’ARS  et\u00a0le porteur", True),                # curly apostrophe, doubled and no-break spaces
    ("date de la signature […] et le porteur", True),   # an elision, in order
    ("et le porteur [...] date de la signature", False),  # out of order
    ("l'ARS et les porteurs", False),                   # one letter changed
    ("L'ARS et le porteur", False),                     # case is the source's
    ("[…]", False),
])
def test_verbatim_means_word_for_word_typography_aside(excerpt, held):
    docs = register("au plus tard à la date de la signature de la convention entre l’ARS et le porteur.")
    assert docs["d"].holds(excerpt) is held


def test_parse_and_render():
    cites = parse("[C] d, § 2 : « a b » c ; [I] e : notre lecture ; [GAP] f : rien")
    assert [(c.tag, c.document, c.locator, c.excerpts) for c in cites] == \
        [("C", "d", "§ 2", ["a b"]), ("I", "e", None, []), ("GAP", "f", None, [])]
    docs = register("a b")
    shown = render(cites, docs)
    assert shown.startswith("X, T, § 2 : « a b » c [C] ; e — interprétation : notre lecture [I]")
    assert shown.endswith("f — interprétation : rien [GAP]")
    assert parse("sans étiquette") == "missing-citation-tag" and parse("[C]") == "bad-citation"


# ---- what the bundled reasons cite -------------------------------------------------------
def every_bundled_source():
    for policy in esms_rules.bundled_policies():
        for r in policy.checked.all_rules:
            yield policy.id, r.name, r.source
        for name, d in policy.checked.defs.items():
            if d.source:
                yield policy.id, name, d.source
        for name, t in policy.checked.tables.items():
            if t.source:
                yield policy.id, name, t.source


def test_no_bundled_reason_or_warning_cites_the_contract():
    sources = list(every_bundled_source())
    assert len(sources) > 50
    for pid, name, source in sources:
        assert not re.search(r"contrat|contract", source, re.I), (pid, name, source)
        if re.search(r"\[(I|GAP)\]", source):
            assert "interprétation : " in source, (pid, name, source)
    d = esms_rules.evaluate({**_dossier(), "colour": "blue"}).to_dict()
    unknown = [w for w in d["warnings"] if w["code"] == "UNKNOWN_FIELD"]
    assert unknown and "interprétation : " in unknown[0]["source"] and "ontrat" not in unknown[0]["source"]
    assert all("«" not in w["message"] for w in unknown)


def test_bundled_messages_quote_nothing_unverified():
    # a message may not smuggle in a quote: « » in messages only through citations
    for policy in esms_rules.bundled_policies():
        for r in policy.checked.all_rules:
            assert "«" not in "".join(p for p in r.message if isinstance(p, str)), (policy.id, r.name)


@pytest.mark.skipif(not (SHARED / "sources").is_dir(), reason="needs ../shared beside the checkout")
def test_every_kept_passage_is_in_the_sources_the_project_holds():
    """What the register keeps is word for word in ../shared/sources, or among the French words
    that ../shared/research/domain.md quotes between « »."""
    held = normalize(" ".join(p.read_text(encoding="utf-8") for p in (SHARED / "sources").glob("*.txt")))
    domain = {normalize(q) for q in re.findall(r"«\s*(.*?)\s*»", (SHARED / "research" / "domain.md").read_text())}
    docs, errors = load_register((POLICIES / REGISTER).read_text(encoding="utf-8"), REGISTER)
    assert not errors
    kept = [(d.id, p) for d in docs.values() for p in d.passages]
    assert len(kept) >= 20
    for ident, passage in kept:
        words = normalize(passage)
        assert words in held or words in domain, (ident, passage)


def _dossier():
    return {"id": "T", "campaign": 2025, "call": "regional", "submitted_at": "2025-09-01T10:00:00+02:00",
            "convention_signed_on": None,
            "applicant": {"name": "P", "legal_form": "private", "gcsms": False},
            "software": {"action": "acquisition", "segur_referenced": True, "segur_candidate_on": None,
                         "resah_referenced": False, "mes_compatible": False},
            "other_eu_funding": [],
            "structures": [{"finess": f"35000{i:04d}", "name": "E", "department": "35", "category": "EHPAD",
                            "casf_item": 6, "sector": "PA", "financed_by": ["ARS"], "confort_share": 0.0}
                           for i in range(15)]}


def test_a_decision_carries_the_rendered_citation():
    d = esms_rules.evaluate({**_dossier(), "submitted_at": "2025-09-16T00:00:00+02:00"}).to_dict()
    late = next(r for r in d["reasons"] if r["code"] == "LATE_SUBMISSION")
    assert late["source"].startswith("ARS Hauts-de-France 2025 : " + REAL_QUOTE + " [C] ; ")
    assert "esms-rules, heure limite — interprétation : " in late["source"]
    assert late["source"].endswith("[I]")


def test_in_memory_programs_are_unaffected():
    text = (POLICIES / "esms-numerique-2025.esms").read_text(encoding="utf-8")
    checked = check(link(text, "<string>"))
    assert checked.defs["regional_deadline"].source.startswith("[C] ars-hdf-2025")   # no register: as written


def test_docs_quote_only_what_the_register_keeps():
    """docs/policies.md: every « » outside code is verbatim in a passage of the register."""
    docs, _ = load_register((POLICIES / REGISTER).read_text(encoding="utf-8"), REGISTER)
    kept = normalize(" ".join(p for d in docs.values() for p in d.passages) + " " +
                     " ".join(d.title for d in docs.values()))
    text = re.sub(r"```.*?```", "", (ROOT / "docs" / "policies.md").read_text(encoding="utf-8"), flags=re.S)
    quotes = [normalize(q) for q in re.findall(r"«\s*(.*?)\s*»", text.replace("<br>", " "), flags=re.S)]
    assert len(quotes) > 20
    for q in quotes:
        assert all(normalize(part) in kept for part in re.split(r"\[(?:…|\.\.\.)\]", q) if part.strip()), q


def test_policy_comments_quote_only_what_the_register_keeps():
    docs, _ = load_register((POLICIES / REGISTER).read_text(encoding="utf-8"), REGISTER)
    kept = normalize(" ".join(p for d in docs.values() for p in d.passages) + " " +
                     " ".join(d.title for d in docs.values()))
    for path in POLICIES.glob("*.esms"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("#"):
                for q in re.findall(r"«\s*(.*?)\s*»", line):
                    assert normalize(q) in kept, f"{path.name}:{n}: « {q} »"


def test_a_broken_register_is_one_error_not_one_per_citation(copy_of_policies):
    (copy_of_policies / REGISTER).write_text('[ars-hdf-2025\nkind = "call-page"\n', encoding="utf-8")
    diagnostics = diagnose(copy_of_policies, "esms-numerique-2025.esms")
    assert [d.code for d in diagnostics] == ["bad-register"]
    assert diagnostics[0].span.file.endswith(REGISTER) and diagnostics[0].span.line == 1
