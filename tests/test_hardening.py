"""Hostile input, by class (issue 13): each property generates its inputs rather than listing them.

- duplicate keys, lone surrogates, NaN/Infinity and over-long integers in JSON text are refused
  by `jsonio.loads` at their JSON path, wherever they stand;
- the same values given as Python objects to the API are refused by the validator at their path
  (a lone surrogate, an integer past the digits Python converts), never a crash;
- offsets past ±23:59 are not date-times; records nested past the validator's depth are refused;
- decimals are written exactly, never as a rounded float or `Infinity`;
- outputs never replace a link, a FIFO or a device, never overwrite an input, never leave a
  temporary file behind when the command is terminated;
- text shown to a terminal carries no control or bidi character.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import dossiers

import esms_rules
from esms_rules import jsonio
from esms_rules.diagnostics import DossierError
from esms_rules.validate import MAX_DEPTH, MAX_INT_DIGITS

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- JSON trees, and a serializer that can plant a fault at one place ---------------------
keys = st.text(st.characters(codec="utf-8", exclude_characters='"\\'), min_size=1, max_size=6)
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8)
trees = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(keys, kids, min_size=1, max_size=4), max_leaves=25)


def places(value, path="$"):
    """(path, value) for every node of a tree, the root included, in document order."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from places(v, f"{path}.{k}" if path != "$" else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from places(v, f"{path}[{i}]")


def serialize(value, path="$", plant=None):
    """JSON text of a tree; at the node whose path is `plant[0]`, the text `plant[1](node)` instead."""
    if plant is not None and path == plant[0]:
        return plant[1](value)
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            sub = f"{path}.{k}" if path != "$" else k
            parts.append(json.dumps(k) + ":" + serialize(v, sub, plant))
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list):
        return "[" + ",".join(serialize(v, f"{path}[{i}]", plant) for i, v in enumerate(value)) + "]"
    return json.dumps(value)


def refused_paths(text) -> list[str]:
    with pytest.raises(jsonio.JsonInputError) as e:
        jsonio.loads(text)
    return [p.path for p in e.value.problems]


@SETTINGS
@given(trees, st.data())
def test_a_duplicate_key_is_refused_at_its_path(tree, data):
    objects = [(p, v) for p, v in places(tree) if isinstance(v, dict)]
    assume(objects)
    path, obj = data.draw(st.sampled_from(objects))
    key = data.draw(st.sampled_from(sorted(obj)))
    twice = lambda node: serialize(node, path)[:-1] + "," + json.dumps(key) + ":0}"  # noqa: E731
    assert refused_paths(serialize(tree, plant=(path, twice))) == [f"{path}.{key}" if path != "$" else key]


@SETTINGS
@given(trees, st.data(), st.integers(0xD800, 0xDFFF), st.text(max_size=4), st.text(max_size=4))
def test_a_lone_surrogate_is_refused_at_its_path(tree, data, code, before, after):
    path, _ = data.draw(st.sampled_from(list(places(tree))))
    bad = lambda node: json.dumps(before + chr(code) + after)  # noqa: E731  (ensure_ascii: a \\u escape)
    assert refused_paths(serialize(tree, plant=(path, bad))) == [path]


@SETTINGS
@given(trees, st.data(), st.integers(MAX_INT_DIGITS + 1, MAX_INT_DIGITS + 3000), st.booleans())
def test_an_over_long_integer_is_refused_at_its_path(tree, data, digits, negative):
    path, _ = data.draw(st.sampled_from(list(places(tree))))
    big = lambda node: ("-" if negative else "") + "7" * digits  # noqa: E731
    assert refused_paths(serialize(tree, plant=(path, big))) == [path]


@SETTINGS
@given(trees, st.data(), st.sampled_from(["NaN", "Infinity", "-Infinity"]))
def test_nan_and_infinity_are_not_json(tree, data, word):
    path, _ = data.draw(st.sampled_from(list(places(tree))))
    assert refused_paths(serialize(tree, plant=(path, lambda node: word))) == [path]


@SETTINGS
@given(trees)
def test_ordinary_json_reads_as_json_does(tree):
    text = serialize(tree)
    assert jsonio.loads(text) == json.loads(text)
    assert jsonio.loads(text.encode("utf-8")) == json.loads(text)


def test_surrogate_pairs_written_as_escapes_are_text():
    assert jsonio.loads('"\\ud83d\\ude00"') == "\U0001F600"


# ---- the same faults given to the API as Python values -------------------------------------
TEXT_PLACES = [("id",), ("applicant", "name"), ("structures", 0, "name"), ("structures", 0, "finess")]


def put(d, keys, value):
    target = d
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value


def dotted(keys) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
    return out


def all_paths(call):
    with pytest.raises(DossierError) as e:
        call()
    return [p.path for p in e.value.problems]


@SETTINGS
@given(dossiers("esms-numerique-2025"), st.sampled_from(TEXT_PLACES), st.integers(0xD800, 0xDFFF))
def test_api_refuses_a_lone_surrogate_in_text(dossier, where, code):
    assume(dossier["structures"] or "structures" not in where)
    policy = esms_rules.load_policy("esms-numerique-2025")
    put(dossier, where, "x" + chr(code))
    for call in (lambda: policy.evaluate(dossier), lambda: policy.decide(dossier)):
        assert dotted(where) in all_paths(call)
    [result] = list(policy.evaluate_many([dossier], mode="reasons"))
    assert isinstance(result, DossierError) and dotted(where) in [p.path for p in result.problems]


@SETTINGS
@given(dossiers("esms-numerique-2025"), st.integers(0xD800, 0xDFFF))
def test_api_refuses_a_lone_surrogate_in_an_unknown_key(dossier, code):
    dossier["extra" + chr(code)] = 1
    paths = all_paths(lambda: esms_rules.load_policy("esms-numerique-2025").evaluate(dossier))
    assert paths == [ascii("extra" + chr(code))[1:-1]]


@SETTINGS
@given(dossiers("esms-numerique-2025"), st.integers(MAX_INT_DIGITS + 1, MAX_INT_DIGITS + 500),
       st.sampled_from([("campaign",), ("structures", 0, "casf_item"), ("structures", 0, "confort_share")]))
def test_api_refuses_integers_past_the_digits_read(dossier, digits, where):
    assume(dossier["structures"] or "structures" not in where)
    policy = esms_rules.load_policy("esms-numerique-2025")
    put(dossier, where, 10 ** digits)
    if where == ("campaign",):
        for call in (lambda: policy.evaluate(dossier), lambda: policy.decide(dossier)):
            assert "campaign" in all_paths(call)
    else:
        for call in (lambda: policy.evaluate(dossier), lambda: policy.decide(dossier)):
            assert dotted(where) in all_paths(call)


@SETTINGS
@given(dossiers("esms-numerique-2025"), st.integers(0, 99), st.integers(0, 99), st.sampled_from("+-"),
       st.sampled_from(["%H:%M:%S", "%H:%M"]))
def test_an_offset_is_at_most_23_59(dossier, hours, minutes, sign, time_form):
    policy = esms_rules.load_policy("esms-numerique-2025")
    when = dt.datetime(2025, 9, 1, 10, 0).strftime("%Y-%m-%dT" + time_form)
    dossier["submitted_at"] = f"{when}{sign}{hours:02d}:{minutes:02d}"
    if hours < 24 and minutes < 60:
        policy.evaluate(dossier, trace=False)
        policy.decide(dossier)
    else:
        for call in (lambda: policy.evaluate(dossier), lambda: policy.decide(dossier)):
            assert all_paths(call) == ["submitted_at"]


RECURSIVE = textwrap.dedent("""\
    policy "recursive" {
      programme "essai"
      campaign 2025
    }
    record node {
      name: text
      child: node?
    }
    fact root: node
    codes {
      LEAF "une seule feuille"
    }
    rule leaf {
      code LEAF
      severity blocking
      when root.child == null
      message "l'arbre n'a qu'une feuille"
      source "essai"
    }
    """)


@settings(max_examples=8, deadline=None)
@given(st.integers(MAX_DEPTH + 1, 6 * MAX_DEPTH))
def test_records_nested_past_the_limit_are_refused_not_a_crash(depth):
    policy = esms_rules.Policy.from_text(RECURSIVE, "recursive.esms")
    node: dict = {"name": "feuille", "child": None}
    for i in range(depth):
        node = {"name": str(i), "child": node}
    dossier = {"id": "profond", "root": node}
    for call in (lambda: policy.evaluate(dossier), lambda: policy.decide(dossier)):
        [path] = all_paths(call)
        assert path.count("child") == MAX_DEPTH
    [result] = list(policy.evaluate_many([dossier]))
    assert isinstance(result, DossierError)
    shallow = {"id": "ok", "root": {"name": "a", "child": {"name": "b", "child": None}}}
    assert policy.evaluate(shallow).eligible


# ---- writing ------------------------------------------------------------------------------
@SETTINGS
@given(st.decimals(allow_nan=False, allow_infinity=False)
       | st.builds(lambda d, e: d.scaleb(e), st.decimals(allow_nan=False, allow_infinity=False, places=12),
                   st.integers(-5000, 5000)))
def test_decimals_are_written_exactly(d):
    text = jsonio.dumps({"amount_eur": d, "list": [d]})
    back = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    assert back["amount_eur"] == d and back["list"] == [d]
    assert "Infinity" not in text and "NaN" not in text


@SETTINGS
@given(trees)
def test_the_digest_does_not_depend_on_key_order(tree):
    def reordered(v):
        if isinstance(v, dict):
            return {k: reordered(v[k]) for k in reversed(list(v))}
        if isinstance(v, list):
            return [reordered(x) for x in v]
        return v
    assert jsonio.digest(tree) == jsonio.digest(reordered(tree))


def test_the_digest_tells_types_apart():
    assert len({jsonio.digest(v) for v in (0, False, None, 0.5, "0", [0])}) == 6


@SETTINGS
@given(st.text())
def test_text_for_a_terminal_has_no_control_or_bidi_character(text):
    shown = jsonio.terminal_safe(text)
    for ch in shown:
        assert ch in "\n\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u202a\u202b\u202c\u202d"
                                   "\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def test_encode_keeps_a_lone_surrogate_as_an_escape():
    assert json.loads(jsonio.encode({"id": "a\ud800"})) == {"id": "a\ud800"}


def test_output_follows_a_symbolic_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with jsonio.output(str(link)) as out:
        out.write("new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_output_writes_into_a_fifo_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with jsonio.output(str(fifo)) as out:
        out.write("décision\n")
    reader.join(10)
    assert got == ["décision\n".encode()] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_to_a_device_leaves_the_device():
    with jsonio.output(os.devnull) as out:
        out.write("rien")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_output_refuses_an_input_file(tmp_path):
    src = tmp_path / "dossiers.jsonl"
    src.write_text("{}\n")
    alias = tmp_path / "alias.jsonl"
    alias.symlink_to(src)
    for name in (src, alias):
        with pytest.raises(jsonio.OutputError, match="also an input"):
            with jsonio.output(str(name), inputs=[str(src)]):
                pass
    assert src.read_text() == "{}\n"


def test_output_to_stdout_is_utf8_whatever_the_locale():
    code = "from esms_rules import jsonio\nwith jsonio.output(None) as o: o.write('\\u00e9\\ud800\\n')"
    env = {**os.environ, "PYTHONIOENCODING": "latin-1", "LC_ALL": "C", "PYTHONUTF8": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout
    assert out == "é\\ud800\n".encode()


def test_termination_leaves_no_temporary_file(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        from esms_rules import jsonio
        jsonio.exit_on_termination()
        with jsonio.output({str(tmp_path / 'out.jsonl')!r}) as o:
            o.write('x' * 100000)
            print('writing', flush=True)
            time.sleep(60)
        """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=os.environ.copy())
    assert proc.stdout.readline() == b"writing\n"
    for sig in (signal.SIGTERM,):
        proc.send_signal(sig)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert list(Path(tmp_path).iterdir()) == []


@settings(max_examples=10, deadline=None)
@given(st.integers(MAX_INT_DIGITS, MAX_INT_DIGITS + 2000))
def test_integers_past_python_s_digit_limit_are_written(digits):
    n = 10 ** digits + 7
    assert json.loads(jsonio.dumps({"n": n}), parse_int=Decimal) == {"n": Decimal(n)}


BIG = textwrap.dedent("""\
    policy "grand" {
      programme "essai"
      campaign 2025
    }
    fact k: int
    def k4 = k * k * k * k
    def k16 = k4 * k4 * k4 * k4
    codes {
      GRAND "grand"
    }
    rule grand {
      code GRAND
      severity warning
      when k16 > 0
      message "valeur {k16}"
      source "essai"
    }
    output total = k16
    """)


@settings(max_examples=5, deadline=None)
@given(st.integers(280, 400))
def test_policy_arithmetic_past_the_digit_limit_is_written_not_a_crash(digits):
    policy = esms_rules.Policy.from_text(BIG, "grand.esms")
    decision = policy.evaluate({"id": "grand", "k": 10 ** digits})
    data = json.loads(decision.to_json(), parse_int=Decimal)
    assert data["outputs"]["total"] == Decimal(10 ** (16 * digits))
    assert decision.warnings[0].code == "GRAND"


def test_the_decision_records_the_digest_of_its_dossier(example_dossier):
    decision = esms_rules.evaluate(example_dossier)
    assert decision.to_dict()["dossier_sha256"] == jsonio.digest(example_dossier)
    assert list(decision.to_dict())[:3] == ["dossier", "dossier_sha256", "policy"]


# ---- policy text: the line shown is the line the span names ------------------------------------
LINE_BREAKS_IN_COMMENTS = ["\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\v"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(LINE_BREAKS_IN_COMMENTS), min_size=1, max_size=4), st.integers(0, 3))
def test_diagnostics_show_the_right_line_after_odd_breaks_in_comments(breaks, blank_lines):
    text = (f'# commentaire {"".join(breaks)} suite\n' + "\n" * blank_lines
            + 'policy "p" {\n  programme "x"\n  campaign 2025\n}\nfact n: int\ndef m = n + inconnu\n')
    with pytest.raises(esms_rules.PolicyError) as e:
        esms_rules.Policy.from_text(text, "p.esms")
    rendered = str(e.value)
    assert "def m = n + inconnu" in rendered, rendered


def test_a_bom_is_not_a_character_of_the_policy(tmp_path):
    source = Path(esms_rules.__file__).parent.parent / "policies"
    for f in source.glob("*.esms"):
        (tmp_path / f.name).write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    (tmp_path / "documents.toml").write_bytes((source / "documents.toml").read_bytes())   # hashed too
    with_bom = esms_rules.load_policy(str(tmp_path / "esms-numerique-2025.esms"))
    assert with_bom.sha256 == esms_rules.load_policy("esms-numerique-2025").sha256


# ---- the command line: every row written, inputs and devices safe ----------------------------
def _dossier_line(d: dict) -> str:
    return json.dumps(d, ensure_ascii=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(dossiers("esms-numerique-2025"), min_size=2, max_size=5), st.data())
def test_a_hostile_row_never_loses_the_others(run_cli, tmp_path_factory, rows, data):
    bad_at = data.draw(st.integers(0, len(rows) - 1))
    kind = data.draw(st.sampled_from(["surrogate", "duplicate", "big", "nan"]))
    lines = [_dossier_line(d) for d in rows]
    if kind == "surrogate":
        lines[bad_at] = lines[bad_at].replace('"id": "', '"id": "\\udc80', 1)
        where = "id"
    elif kind == "duplicate":
        lines[bad_at] = lines[bad_at][:-1] + ', "call": "national"}'
        where = "call"
    elif kind == "big":
        lines[bad_at] = lines[bad_at].replace('"campaign": 2025', '"campaign": ' + "9" * 5000, 1)
        where = "campaign"
    else:
        lines[bad_at] = lines[bad_at].replace('"campaign": 2025', '"campaign": NaN', 1)
        where = "campaign"
    src = tmp_path_factory.mktemp("rows") / "dossiers.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = src.with_name("decisions.jsonl")
    result = run_cli("evaluate", src, "--no-trace", "-o", out)
    assert result.exit_code == 2, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(rows)
    for i, record in enumerate(records):
        if i == bad_at:
            assert record["error"] == "invalid_json" and [p["path"] for p in record["problems"]] == [where]
        else:
            assert record["dossier"] == rows[i]["id"] and "eligible" in record


def test_output_naming_an_input_is_refused(run_cli, tmp_path):
    src = tmp_path / "dossiers.jsonl"
    src.write_text((EXAMPLES / "batch-2025.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    before = src.read_bytes()
    result = run_cli("evaluate", src, "-o", src)
    assert result.exit_code == 2 and "also an input" in result.output
    assert src.read_bytes() == before


@pytest.mark.parametrize("command", [["explain", "--example", "dossier-2025"], ["policies"],
                                     ["compile", "esms-numerique-2025", "--emit", "python"]])
def test_cli_output_does_not_depend_on_the_locale(command):
    env = {"PYTHONIOENCODING": "latin-1", "LC_ALL": "C", "PYTHONUTF8": "0"}
    outs = []
    for extra in ({}, env):
        run = subprocess.run([sys.executable, "-m", "esms_rules", *command],
                             env={**os.environ, **extra}, capture_output=True)
        assert run.returncode == 0, run.stderr.decode("utf-8", "replace")
        outs.append(run.stdout)
    assert outs[0] == outs[1] and not outs[0].isascii()     # UTF-8 both times, non-ASCII included


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@settings(max_examples=40, deadline=None)
@given(st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)), st.times(), st.integers(-12, 12))
def test_dates_are_written_with_four_digit_years(day, time, hours):
    from esms_rules.french import french
    assert french(day) == f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
    if dt.date(2, 1, 1) <= day <= dt.date(9998, 12, 31):
        shown = french(dt.datetime.combine(day, time, dt.timezone(dt.timedelta(hours=hours))))
        dates = re.findall(r"\d+/\d+/\d+", shown)
        assert dates and all(re.fullmatch(r"\d{2}/\d{2}/\d{4}", d) for d in dates), shown
