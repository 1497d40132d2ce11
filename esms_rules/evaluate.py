"""Policies, decisions and the public evaluation API.

A `Policy` holds a checked policy, its validator and its compiled evaluators (one per
mode, compiled on first use). `Policy.evaluate` gives a `Decision` (the contract's
decision, with reasons, warnings and the trace); `Policy.decide` gives only a `Verdict`,
the fast path; `Policy.evaluate_many` runs either over an iterable, lazily, turning a bad
dossier into a `DossierError` result instead of stopping the batch.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Iterable, Iterator, NamedTuple

import attrs

from . import __version__
from .check import CheckedPolicy, RuleInfo, check
from .compile import compile_policy
from .diagnostics import Diagnostic, DossierError, PolicyError, Problem
from .span import Span
from .load import bundled_dir, bundled_names, link, load_program
from .explain import json_number
from .validate import Validator, _kind

CONTRACT_SOURCE = "Contrat dossier/décision v1.1"


@attrs.frozen
class Reason:
    """One finding: a stable code, the rule that raised it, a French message, its citation."""

    code: str
    rule: str
    message: str
    source: str
    level: str = "dossier"
    severity: str = "blocking"

    def to_dict(self) -> dict:
        return {"code": self.code, "rule": self.rule, "message": self.message, "source": self.source,
                "level": self.level, "severity": self.severity}


@attrs.frozen
class StructureResult:
    finess: object
    eligible: bool
    funded_share: object
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[Reason, ...] = ()

    def to_dict(self) -> dict:
        share = None if self.funded_share is None else float(self.funded_share)
        d = {"finess": self.finess, "eligible": self.eligible, "funded_share": share,
             "reasons": [r.to_dict() for r in self.reasons]}
        if self.warnings:
            d["warnings"] = [r.to_dict() for r in self.warnings]
        return d


class Verdict(NamedTuple):
    """The fast path's answer: no reasons, no trace."""

    eligible: bool
    recevable: bool
    outputs: dict


@attrs.frozen(eq=False)
class Decision:
    dossier: object
    policy_id: str
    sha256: str
    recevable: bool
    eligible: bool
    call: object
    amount_eur: object
    structures: tuple[StructureResult, ...]
    reasons: tuple[Reason, ...]
    warnings: tuple[Reason, ...]
    outputs: dict
    engine: str = __version__
    _trace_builder: object = attrs.field(default=None, repr=False)

    @cached_property
    def trace(self):
        """The explanation tree (`explain.Trace`), built on first access from what the run recorded."""
        return self._trace_builder() if self._trace_builder is not None else None

    def to_dict(self, trace: bool = True) -> dict:
        d = {
            "dossier": self.dossier,
            "policy": {"id": self.policy_id, "sha256": self.sha256, "engine": self.engine},
            "recevable": self.recevable,
            "eligible": self.eligible,
            "call": self.call,
            "amount_eur": json_number(self.amount_eur),
            "structures": [s.to_dict() for s in self.structures],
            "reasons": [r.to_dict() for r in self.reasons],
            "warnings": [r.to_dict() for r in self.warnings],
        }
        if trace:
            d["trace"] = self.trace.to_dict() if self.trace is not None else {}
        return d

    def to_json(self, trace: bool = True, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(trace), ensure_ascii=False, indent=indent, sort_keys=False)


_ARITHMETIC = (ArithmeticError, OverflowError)


def _out_of_range(e: Exception, dossier) -> DossierError:
    """A value the policy cannot compute with (a decimal beyond precision, a date past 9999)."""
    ident = dossier.get("id") if isinstance(dossier, dict) else None
    return DossierError([Problem("$", f"a value of this dossier is out of the range the policy can compute "
                                      f"with ({type(e).__name__}: {e})")], ident if isinstance(ident, str) else None)


# ---- French rendering of values in messages -------------------------------
def french(v) -> str:
    if v is None:
        return "non renseigné"
    if isinstance(v, bool):
        return "oui" if v else "non"
    if isinstance(v, dt.datetime):
        off = v.strftime("%z")
        return v.strftime("%d/%m/%Y à %H:%M") + (f" (UTC{off[:3]}:{off[3:]})" if off else "")
    if isinstance(v, dt.date):
        return v.strftime("%d/%m/%Y")
    if isinstance(v, Decimal):
        s = format(v.normalize(), "f") if v != 0 else "0"
        return s.replace(".", ",")
    if isinstance(v, (list, tuple)):
        return ", ".join(french(x) for x in v) if v else "aucun"
    if isinstance(v, dict):
        return french(next(iter(v.values()), None))
    return str(v)


def render_message(rule: RuleInfo, values: tuple) -> str:
    out, it = [], iter(values)
    for part in rule.message:
        out.append(part if isinstance(part, str) else french(next(it)))
    return "".join(out)


# ---- policies ---------------------------------------------------------------
class Policy:
    """A checked, compiled policy. Build with `load_policy` or `Policy.from_text`."""

    def __init__(self, checked: CheckedPolicy):
        header = checked.program.header
        if header is None:
            root = checked.program.root
            raise PolicyError([Diagnostic(
                "not-a-policy", f"`{root.name}` is a module, not a policy: it has no `policy \"…\" {{ … }}` header",
                Span.point(root.file, 1, 1), "evaluate with a policy that imports it, e.g. `esms-numerique-2025`")],
                checked.program.sources)
        self.checked = checked
        self.id = checked.id
        self.sha256 = checked.sha256
        self.header = checked.header
        self.validator = Validator(checked.facts)
        self._compiled: dict[str, object] = {}
        self._output_names = tuple(checked.outputs)
        # what a reason says of its rule, worked out once: (code, rule, source, level, severity)
        self._reason_parts = [(r.code, r.name, r.source or "", r.level, r.severity) for r in checked.all_rules]
        self.compiled("decision")  # compile now, so that a policy that cannot compile fails to load
        self._decide_fast = None   # built on the first `decide` (see _fused_decider)

    @classmethod
    def from_text(cls, text: str, file: str = "<string>") -> "Policy":
        with _collector_paused():
            return cls(check(link(text, file)))

    def __repr__(self):
        return f"<Policy {self.id} sha256={self.sha256[:12]}>"

    @property
    def programme(self):
        return self.header.get("programme")

    @property
    def campaign(self):
        return self.header.get("campaign")

    def compiled(self, mode: str):
        fn = self._compiled.get(mode)
        if fn is None:
            with _collector_paused():
                fn = self._compiled[mode] = compile_policy(self.checked, mode)
        return fn

    # -- the fast path
    def decide(self, dossier: dict) -> Verdict:
        try:
            v = (self._decide_fast or self._fused_decider())(dossier)
            return v if v is not None else self._decide_slow(dossier)
        except _ARITHMETIC as e:
            raise _out_of_range(e, dossier) from None

    def _fused_decider(self):
        """Speed (docs/performance.md): the fast validator fused with the compiled "decision"
        evaluator, `dossier -> Verdict`, or None when the fast validator has a doubt."""
        from .validate import fused_evaluator
        fused = fused_evaluator(self.checked, verdict=(Verdict, self._output_names))
        self._decide_fast = fused or (lambda dossier: None)
        return self._decide_fast

    def _decide_slow(self, dossier: dict) -> Verdict:
        facts, _ = self.validator.convert(dossier)
        ok, rec, outs = self.compiled("decision")(facts)
        return Verdict(ok, rec, dict(zip(self._output_names, outs)))

    # -- decisions with reasons (and trace)
    def evaluate(self, dossier: dict, *, trace: bool = True) -> Decision:
        facts, unknown = self.validator.convert(dossier)
        try:
            if trace:
                ok, rec, outs, records, def_values = self.compiled("trace")(facts)
                fired = [(r[0], r[1], r[4]) for r in records if r[2] == 1]
            else:
                ok, rec, outs, fired = self.compiled("reasons")(facts)
                records = def_values = None
        except _ARITHMETIC as e:
            raise _out_of_range(e, dossier) from None
        return self._decision(dossier, facts, unknown, ok, rec, outs, fired, records, def_values)

    def evaluate_many(self, dossiers: Iterable[dict], *, mode: str = "trace") -> Iterator:
        """One result per input, in order: a Decision (a Verdict in mode "decision"), or a DossierError.

        `mode` is "trace" (decisions with their trace), "reasons" (without) or "decision".
        """
        if mode not in ("trace", "reasons", "decision"):
            raise ValueError(f"mode must be 'trace', 'reasons' or 'decision', not {mode!r}")
        if mode == "decision":  # speed: the per-record compiled path, one local call per dossier
            fast, slow = self._decide_fast or self._fused_decider(), self._decide_slow
            for d in dossiers:
                try:
                    v = fast(d)
                    yield v if v is not None else slow(d)
                except DossierError as e:
                    yield e
                except _ARITHMETIC as e:
                    yield _out_of_range(e, d)
            return
        for d in dossiers:
            try:
                yield self.evaluate(d, trace=(mode == "trace"))
            except DossierError as e:
                yield e

    def _decision(self, dossier, facts, unknown, ok, rec, outs, fired, records, def_values) -> Decision:
        rules, parts = self.checked.all_rules, self._reason_parts
        outputs = dict(zip(self._output_names, outs))
        reasons, warnings = [], []
        per_item: dict[int, list] = {}
        for idx, item, values in fired:
            code, name, source, level, severity = parts[idx]
            reason = Reason(code, name, render_message(rules[idx], values), source, level, severity)
            if item >= 0:
                per_item.setdefault(item, []).append(reason)
            elif severity == "warning":
                warnings.append(reason)
            else:
                reasons.append(reason)
        for path in unknown:
            warnings.append(Reason("UNKNOWN_FIELD", "contract", f"Champ inconnu ignoré : « {path} ».",
                                   CONTRACT_SOURCE, "dossier", "warning"))
        structures = []
        for lst in self.checked.item_lists:   # one at most (the checker's `multiple-item-lists`)
            key = self.checked.key_field(lst)
            shares = outputs.get("funded_share")
            for i, item in enumerate(facts[lst]):
                found = per_item.get(i, [])
                blocking = tuple(x for x in found if x.severity != "warning")
                structures.append(StructureResult(item[key], not blocking,
                                                  shares[i] if isinstance(shares, list) else None,
                                                  blocking, tuple(x for x in found if x.severity == "warning")))
        builder = None
        if records is not None:
            from .explain import build_trace
            builder = lambda: build_trace(self, facts, records, def_values, ok, rec)  # noqa: E731
        return Decision(dossier.get("id"), self.id, self.sha256, rec, ok, outputs.get("call"), outputs.get("amount_eur"),
                        tuple(structures), tuple(reasons), tuple(warnings), outputs, __version__, builder)


# ---- loading and the registry of bundled policies ---------------------------
@lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> Policy:
    with _collector_paused():
        return Policy(check(load_program(path)))


@contextlib.contextmanager
def _collector_paused():
    """Building a policy makes many small objects and no reference cycles: pausing the cyclic
    garbage collector meanwhile keeps load time linear in the size of the policy (its passes
    otherwise rescan the growing heap). The caller's setting is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_policy(path_or_name) -> Policy:
    """A policy by file path, or a bundled policy by name (e.g. "esms-numerique-2025")."""
    if isinstance(path_or_name, Policy):
        return path_or_name
    from .load import resolve_path
    p = resolve_path(path_or_name)
    return _load_cached(str(p.resolve()), p.stat().st_mtime)


@lru_cache(maxsize=1)
def bundled_policies() -> tuple[Policy, ...]:
    """Every bundled policy with a `policy` header (library modules such as `common` excluded)."""
    out = []
    for name in bundled_names():
        text = (bundled_dir() / f"{name}.esms").read_text(encoding="utf-8")
        if not any(line.startswith("policy ") for line in text.splitlines()):
            continue
        out.append(load_policy(name))
    return tuple(sorted(out, key=lambda p: (str(p.programme), p.campaign or 0)))


def policy_for(dossier) -> Policy:
    """The bundled policy in force for the dossier's programme and campaign, or DossierError."""
    if not isinstance(dossier, dict):
        raise DossierError([Problem("$", f"a dossier is a JSON object, not {_kind(dossier)}")])
    programme = dossier.get("programme", "esms-numerique")
    campaign = dossier.get("campaign")
    candidates = [p for p in bundled_policies() if p.programme == programme and p.campaign == campaign
                  and not isinstance(campaign, bool)]
    if candidates:
        return max(candidates, key=lambda p: str(p.header.get("effective", "")))
    policies = bundled_policies()
    problems: list[Problem] = []
    if policies:  # report the schema's problems too, so the author sees everything at once
        try:
            policies[-1].validator.convert(dossier)
        except DossierError as e:
            problems = e.problems
    if not any(p.path in ("campaign", "programme") for p in problems):  # an invalid programme says it all
        pairs = ", ".join(f"{p.programme} {p.campaign}" for p in policies)
        problems.append(Problem("campaign", f"no policy in force for programme {programme!r} and campaign "
                                            f"{campaign!r} (bundled: {pairs})"))
    ident = dossier.get("id")
    raise DossierError(problems, ident if isinstance(ident, str) else None)


def evaluate(dossier: dict, *, policy=None, trace: bool = True) -> Decision:
    """Evaluate one dossier, with the given policy or the bundled one in force for it."""
    p = load_policy(policy) if policy is not None else policy_for(dossier)
    return p.evaluate(dossier, trace=trace)
