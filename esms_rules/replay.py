"""Replay: re-run a recorded decision and say precisely whether, and why, it differs.

`replay(decision, dossier)` takes a decision as written to JSON (`Decision.to_dict()`) and the
dossier it was rendered for. It finds the bundled policy whose sha256 is the decision's
`policy.sha256` (or uses the policy file given as `policy=`), evaluates the dossier again and
compares the outcome: `dossier`, `recevable`, `eligible`, `call`, `amount_eur`, the reason and
warning codes (and their messages), and every structure (FINESS, éligible, part financée, codes).

Status, most telling first:

- `policy-not-found`: no bundled policy has that hash (the lines say which policy is now bundled
  under the decision's policy id, and with which hash); nothing was re-evaluated;
- `policy-changed`: the policy file given with `policy=` does not have the decision's hash; the
  outcome differences, if any, follow from it and are listed;
- `outcome-changed`: same policy, and the outcome differs (`fields` names the fields);
- `engine-changed`: same policy and same outcome, but another engine version recorded it;
- `same`: same policy, same engine, same outcome.

`same` is true only for status `same`; `outcome_same` tells whether the outcome reproduced.
"""
from __future__ import annotations

from decimal import Decimal

import attrs

from . import __version__
from .evaluate import bundled_policies, french, load_policy
from .render import call_name

STATUSES = ("same", "policy-changed", "engine-changed", "outcome-changed", "policy-not-found")


@attrs.frozen
class ReplayResult:
    same: bool
    lines: list = attrs.field(converter=list, hash=False)
    status: str
    fields: tuple[str, ...] = ()        # the outcome fields that differ
    outcome_same: bool | None = None    # None when nothing could be re-evaluated
    policy_id: str | None = None        # the policy replayed against
    sha256: str | None = None
    engine: str = __version__

    def to_dict(self) -> dict:
        return {"status": self.status, "same": self.same, "outcome_same": self.outcome_same,
                "fields": list(self.fields), "lines": list(self.lines),
                "policy": {"id": self.policy_id, "sha256": self.sha256, "engine": self.engine}}


def replay(decision: dict, dossier: dict, *, policy=None) -> ReplayResult:
    """Re-evaluate `dossier` with the policy that `decision` names by hash and compare."""
    recorded = decision.get("policy") or {}
    pid, sha, engine = recorded.get("id"), recorded.get("sha256"), recorded.get("engine")
    lines: list[str] = []
    policy_changed = False
    if policy is not None:
        p = load_policy(policy)
        if p.sha256 != sha:
            policy_changed = True
            lines.append(f"politique fournie : {p.id} de hash {p.sha256}, mais la décision a été rendue "
                         f"avec {pid} de hash {sha}")
        else:
            lines.append(f"politique fournie : {p.id}, même hash {sha}")
    else:
        p = next((b for b in bundled_policies() if b.sha256 == sha), None)
        if p is None:
            lines.append(f"aucune politique livrée n'a le hash {sha} (décision rendue avec {pid})")
            same_id = [b for b in bundled_policies() if b.id == pid]
            if same_id:
                for b in same_id:
                    lines.append(f"sous l'identifiant {pid}, la politique livrée a maintenant le hash {b.sha256}")
            else:
                lines.append(f"aucune politique livrée ne porte l'identifiant {pid}")
            lines.append("pour rejouer, fournir le fichier de la politique d'origine (policy=…)")
            return ReplayResult(False, lines, "policy-not-found", (), None, pid, sha)
        lines.append(f"politique livrée : {p.id}, même hash {sha}")

    engine_changed = engine != __version__
    if engine_changed:
        lines.append(f"moteur : la décision a été rendue par esms-rules {engine}, rejouée avec {__version__}")
    now = p.evaluate(dossier).to_dict(trace=False)
    diffs = _compare(decision, now)
    fields = tuple(dict.fromkeys(f for f, _ in diffs))
    lines.extend(line for _, line in diffs)
    if not diffs:
        lines.append("résultat identique : " + _summary(now))
    if policy_changed:
        status = "policy-changed"
    elif diffs:
        status = "outcome-changed"
    elif engine_changed:
        status = "engine-changed"
    else:
        status = "same"
    return ReplayResult(status == "same", lines, status, fields, not diffs, p.id, p.sha256)


def _summary(d: dict) -> str:
    codes = [r.get("code") for r in d.get("reasons") or []]
    return (f"recevable {french(d.get('recevable'))}, éligible {french(d.get('eligible'))}, "
            f"appel {call_name(d.get('call'))}, montant {french(d.get('amount_eur'))}, "
            f"motifs {french(codes)}")


def _number(v):
    if v is None or isinstance(v, bool):
        return v
    try:
        return Decimal(str(v)).quantize(Decimal("0.000000001"))
    except Exception:  # noqa: BLE001 - not a number: compared as is
        return v


def _codes(reasons) -> list:
    return [r.get("code") if isinstance(r, dict) else r for r in (reasons or [])]


def _compare(old: dict, new: dict) -> list[tuple[str, str]]:
    """(field, French line) for each difference between a recorded and a re-evaluated decision."""
    out: list[tuple[str, str]] = []
    for f in ("dossier", "recevable", "eligible", "call"):
        if old.get(f) != new.get(f):
            fr = call_name if f == "call" else french
            out.append((f, f"{f} : {fr(old.get(f))} → {fr(new.get(f))}"))
    if _number(old.get("amount_eur")) != _number(new.get("amount_eur")):
        out.append(("amount_eur", f"amount_eur : {french(old.get('amount_eur'))} → "
                                  f"{french(new.get('amount_eur'))}"))
    for f in ("reasons", "warnings"):
        a, b = old.get(f) or [], new.get(f) or []
        if _codes(a) != _codes(b):
            out.append((f, f"{f} : {french(_codes(a))} → {french(_codes(b))}"))
        else:
            for x, y in zip(a, b):
                if isinstance(x, dict) and x.get("message") != y.get("message"):
                    out.append((f, f"{f} : message de {x.get('code')} : « {x.get('message')} » → "
                                   f"« {y.get('message')} »"))
    a, b = old.get("structures") or [], new.get("structures") or []
    if len(a) != len(b):
        out.append(("structures", f"structures : {len(a)} → {len(b)}"))
    for i, (x, y) in enumerate(zip(a, b)):
        label = f"structures[{i}] ({y.get('finess')})"
        if x.get("finess") != y.get("finess"):
            out.append(("structures", f"{label}.finess : {french(x.get('finess'))} → {french(y.get('finess'))}"))
        if x.get("eligible") != y.get("eligible"):
            out.append(("structures", f"{label}.eligible : {french(x.get('eligible'))} → "
                                      f"{french(y.get('eligible'))}"))
        if _number(x.get("funded_share")) != _number(y.get("funded_share")):
            out.append(("structures", f"{label}.funded_share : {french(x.get('funded_share'))} → "
                                      f"{french(y.get('funded_share'))}"))
        for f in ("reasons", "warnings"):
            if _codes(x.get(f)) != _codes(y.get(f)):
                out.append(("structures", f"{label}.{f} : {french(_codes(x.get(f)))} → {french(_codes(y.get(f)))}"))
    return out
