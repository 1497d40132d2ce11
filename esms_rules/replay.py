"""Replay: re-run a recorded decision and say precisely whether, and why, it differs.

`replay(decision, dossier)` takes a decision as written to JSON (`Decision.to_dict()`) and the
dossier it was rendered for. It finds the bundled policy whose sha256 is the decision's
`policy.sha256` (or uses the policy file given as `policy=`), evaluates the dossier again and
compares **every field** of the two decisions as JSON values, types included (`0` is not
`false`): the policy id, `dossier`, the digest of the dossier (`dossier_sha256`, which proves the
dossier given is the one decided), `recevable`, `eligible`, `call`, `amount_eur`, each reason and
warning field by field (code, rule, message, source, level, severity), every structure, any
other output, and the trace when the record kept one. A field added or removed is a difference.

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

import json

import attrs

from . import __version__, jsonio
from .french import french
from .registry import bundled_policies, load_policy
from .render import call_name

STATUSES = ("same", "policy-changed", "engine-changed", "outcome-changed", "policy-not-found")


@attrs.frozen
class ReplayResult:
    same: bool
    lines: list[str] = attrs.field(hash=False)
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
    named = decision.get("policy")
    recorded: dict = named if isinstance(named, dict) else {}
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
        found = next((b for b in bundled_policies() if b.sha256 == sha), None)
        if found is None:
            lines.append(f"aucune politique livrée n'a le hash {sha} (décision rendue avec {pid})")
            same_id = [b for b in bundled_policies() if b.id == pid]
            if same_id:
                for b in same_id:
                    lines.append(f"sous l'identifiant {pid}, la politique livrée a maintenant le hash {b.sha256}")
            else:
                lines.append(f"aucune politique livrée ne porte l'identifiant {pid}")
            lines.append("pour rejouer, fournir le fichier de la politique d'origine (policy=…)")
            return ReplayResult(False, lines, "policy-not-found", (), None, pid, sha)
        p = found
        lines.append(f"politique livrée : {p.id}, même hash {sha}")

    engine_changed = engine != __version__
    if engine_changed:
        lines.append(f"moteur : la décision a été rendue par esms-rules {engine}, rejouée avec {__version__}")
    evaluated = p.evaluate(dossier, trace="trace" in decision)
    # both sides as JSON values: the record was read from JSON, so is the re-evaluation
    now = json.loads(jsonio.dumps(evaluated.to_dict(trace="trace" in decision)))
    recorded_digest, digest = decision.get("dossier_sha256"), jsonio.digest(dossier)
    if recorded_digest is None:
        lines.append("la décision n'enregistre pas l'empreinte du dossier : rien ne prouve que le dossier "
                     "fourni est celui qui a été décidé")
    elif recorded_digest == digest:
        lines.append(f"dossier : même empreinte {digest}")
    diffs = _compare(decision, now)
    # the policy object: every field but the engine (reported above) and, with `policy=`, the hash
    skip = {"engine", "sha256"} if policy_changed else {"engine"}
    policy_diffs: list[tuple[str, str]] = []
    _walk({k: v for k, v in recorded.items() if k not in skip},
          {k: v for k, v in now["policy"].items() if k not in skip}, "policy", policy_diffs)
    if not isinstance(decision.get("policy"), dict):
        policy_diffs = [("policy", f"policy : {_shown(decision.get('policy', _ABSENT))} → un objet")]
    diffs = [("policy", line) for _, line in policy_diffs] + diffs
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


_ABSENT = object()
# Top-level fields whose difference is a difference of outcome, in the decision's order; the
# `policy` object is compared apart (hash, engine), `trace` only when the record kept one.
_ORDER = ["dossier", "dossier_sha256", "recevable", "eligible", "call", "amount_eur", "reasons", "warnings",
          "structures"]
_TRACE_LINES = 12     # at most this many lines name trace differences (then a count)


def _same(a, b) -> bool:
    """Equal as JSON values, JSON types included: `0` is not `false` nor `"0"`; `1` and `1.0` are one
    JSON number (a tool that rewrites the record may drop the `.0`)."""
    if type(a) is not type(b):
        numbers = (int, float)
        return (isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool)
                and not isinstance(b, bool) and a == b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _shown(v, path: str = "") -> str:
    if v is _ABSENT:
        return "(absent)"
    if path.endswith("call") and (v is None or isinstance(v, str)):
        return call_name(v)
    if isinstance(v, (bool, str)) or v is None:
        return french(v)
    if isinstance(v, (int, float)):
        return json.dumps(v)
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"


def _typed(a, b) -> tuple[str, str]:
    """How two differing values are shown: with their JSON types when only the type differs."""
    if a is not _ABSENT and b is not _ABSENT and type(a) is not type(b) and a == b:
        return (f"{json.dumps(a)} ({_JSON_TYPE.get(type(a), type(a).__name__)})",
                f"{json.dumps(b)} ({_JSON_TYPE.get(type(b), type(b).__name__)})")
    return _shown(a), _shown(b)


_JSON_TYPE = {bool: "booléen", int: "entier", float: "nombre", str: "texte", list: "liste", dict: "objet",
              type(None): "null"}


def _codes(reasons) -> list:
    return [r.get("code") if isinstance(r, dict) else r for r in (reasons if isinstance(reasons, list) else [])]


def _walk(a, b, path: str, out: list[tuple[str, str]]) -> None:
    """(path, line) for every leaf where `a` and `b` differ, objects key by key."""
    if _same(a, b):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            _walk(a.get(k, _ABSENT), b.get(k, _ABSENT), f"{path}.{k}" if path else k, out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}[{i}]", out)
        return
    old, new = _typed(a, b) if not path.endswith("call") else (_shown(a, path), _shown(b, path))
    out.append((path, f"{path} : {old} → {new}"))


def _reasons(a, b, label: str, out: list[tuple[str, str]]) -> None:
    """Lists of reasons: the codes first; with the same codes, each reason field by field."""
    if _same(a, b):
        return
    if not (isinstance(a, list) and isinstance(b, list)) or _codes(a) != _codes(b):
        out.append((label, f"{label} : {french(_codes(a))} → {french(_codes(b))}"))
        return
    for x, y in zip(a, b):
        if not (isinstance(x, dict) and isinstance(y, dict)):
            _walk(x, y, label, out)
            continue
        code = y.get("code")
        for k in list(x) + [k for k in y if k not in x]:
            u, v = x.get(k, _ABSENT), y.get(k, _ABSENT)
            if _same(u, v):
                continue
            if k == "message" and isinstance(u, str) and isinstance(v, str):
                out.append((label, f"{label} : message de {code} : « {u} » → « {v} »"))
            else:
                old, new = _typed(u, v)
                out.append((label, f"{label} : {k} de {code} : {old} → {new}"))


def _compare(old: dict, new: dict) -> list[tuple[str, str]]:
    """(field, French line) for each difference between a recorded and a re-evaluated decision:
    every field of both, types included, but `policy` (compared apart) and `trace` when the
    record has none."""
    out: list[tuple[str, str]] = []
    seen = list(dict.fromkeys(_ORDER + [k for k in list(old) + list(new) if k != "policy"]))
    fields = [k for k in seen if k in old or k in new]
    if "trace" not in old:
        fields.remove("trace") if "trace" in fields else None
    for f in fields:
        a, b = old.get(f, _ABSENT), new.get(f, _ABSENT)
        if _same(a, b):
            continue
        if f in ("reasons", "warnings"):
            _reasons(a, b, f, out)
        elif f == "structures" and isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                out.append((f, f"structures : {len(a)} → {len(b)}"))
                continue
            for i, (x, y) in enumerate(zip(a, b)):
                if not (isinstance(x, dict) and isinstance(y, dict)):
                    _walk(x, y, f"structures[{i}]", out)
                    continue
                label = f"structures[{i}] ({y.get('finess')})"
                for k in list(x) + [k for k in y if k not in x]:
                    u, v = x.get(k, _ABSENT), y.get(k, _ABSENT)
                    if k in ("reasons", "warnings") and isinstance(u, list) and isinstance(v, list):
                        _reasons(u, v, f"{label}.{k}", out)
                    elif not _same(u, v):
                        old_v, new_v = _typed(u, v)
                        out.append((f, f"{label}.{k} : {old_v} → {new_v}"))
        elif f == "trace":
            found: list[tuple[str, str]] = []
            _walk(a, b, "trace", found)
            out.extend(found[:_TRACE_LINES])
            if len(found) > _TRACE_LINES:
                out.append(("trace", f"trace : {len(found) - _TRACE_LINES} autres différences"))
        else:
            found = []
            _walk(a, b, f, found)
            out.extend((f, line) for _, line in found)
    return [(path.split(".")[0].split("[")[0].split(" ")[0], line) for path, line in out]
