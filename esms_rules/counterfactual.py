"""Counterfactuals: the smallest change of a dossier's facts that lifts each blocking reason.

`suggest(policy, dossier)` evaluates the dossier, then, for each blocking reason (dossier
level, then structure level), asks the generators registered for its code for candidate
changes, smallest first. Every candidate is applied to a copy of the dossier and evaluated
again with the same policy; the first one whose change removes the reason becomes a
`Suggestion`. A candidate that does not remove its reason is never returned.

A change is a JSON Patch (RFC 6902: ``{"op": "replace" | "add" | "remove", "path", "value"}``),
so that a person can read it and a program can apply it (`apply_patch`). "Removes the reason":

- dossier level: the code is no longer among the decision's `reasons`;
- structure level, changed in place: that structure no longer has the code;
- structure level, structure removed (a duplicate): fewer structures with that FINESS have it.

A suggestion may make another reason appear (adding structures to a grouping filed to the
national call can make it regional, hence `WRONG_CALL`): such codes are listed in
`Suggestion.introduces` and said in the text.

New codes are supported by registering a generator::

    @generator("MY_CODE")
    def _my_code(ctx: Context):
        yield Candidate("texte en français", [replace("/path", value)])
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import attrs
from dateutil import tz

from . import types
from .decision import Decision
from .diagnostics import DossierError
from .french import french
from .policy import Policy
from .registry import load_policy, policy_for
from .render import call_name

PARIS = tz.gettz("Europe/Paris")
MAX_ADDED = 100          # the most structures GROUPING_TOO_SMALL may suggest adding


# ---- JSON Patch ------------------------------------------------------------------------
def replace(path: str, value) -> dict:
    return {"op": "replace", "path": path, "value": value}


def add(path: str, value) -> dict:
    return {"op": "add", "path": path, "value": value}


def remove(path: str) -> dict:
    return {"op": "remove", "path": path}


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"not a JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_patch(dossier: dict, patch: Iterable[dict]) -> dict:
    """A copy of `dossier` with the JSON Patch operations (replace, add, remove) applied in order."""
    out = copy.deepcopy(dossier)
    for op in patch:
        *parents, last = _pointer(op["path"])
        target = out
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if isinstance(target, list):
            if op["op"] == "add":
                target.insert(len(target) if last == "-" else int(last), copy.deepcopy(op["value"]))
            elif op["op"] == "remove":
                del target[int(last)]
            else:
                target[int(last)] = copy.deepcopy(op["value"])
        else:
            if op["op"] == "remove":
                del target[last]
            else:
                target[last] = copy.deepcopy(op["value"])
    return out


def _patch_value(v) -> str:
    """A value of a patch for people: JSON, except booleans and null said in French."""
    if isinstance(v, bool):
        return "oui" if v else "non"
    if v is None:
        return "aucune valeur"
    return json.dumps(v, ensure_ascii=False)


def describe_patch(patch: Iterable[dict]) -> list[str]:
    """One line per operation, for people."""
    lines = []
    for op in patch:
        path = op["path"]
        if op["op"] == "remove":
            lines.append(f"retirer {path}")
        elif op["op"] == "add":
            v = op["value"]
            if isinstance(v, dict) and "finess" in v:
                label = f"{v.get('finess')} ({v.get('name')}, département {v.get('department')})"
            else:
                label = _patch_value(v)
            lines.append(f"ajouter à {path.removesuffix('/-')} : {label}")
        else:
            lines.append(f"{path} = {_patch_value(op['value'])}")
    return lines


# ---- suggestions ----------------------------------------------------------------------------
@attrs.frozen
class Suggestion:
    """A verified change of the dossier that lifts one blocking reason."""

    code: str                       # the reason code the change lifts
    rule: str                       # the rule that raised it
    text: str                       # in French, concrete
    patch: tuple = attrs.field(converter=tuple, hash=False)   # JSON Patch operations (RFC 6902)
    dossier: dict = attrs.field(default=None, eq=False, hash=False, repr=False)  # the changed dossier
    level: str = "dossier"          # dossier | structure
    finess: str | None = None       # structure level: the structure's FINESS
    index: int | None = None        # structure level: its position in `structures`
    introduces: tuple[str, ...] = ()  # codes the change makes appear

    @property
    def changes(self) -> list[str]:
        return describe_patch(self.patch)

    def to_dict(self) -> dict:
        return {"code": self.code, "rule": self.rule, "level": self.level, "finess": self.finess,
                "index": self.index, "text": self.text, "patch": list(self.patch),
                "introduces": list(self.introduces)}


@attrs.frozen
class Candidate:
    """A change to try: its French text, its patch, and alternatives said in the text if they lift too."""

    text: str
    patch: list
    alternatives: tuple[tuple[str, list], ...] = ()


@attrs.define
class Context:
    """What a generator knows: the policy, the dossier, its decision and the reason to lift."""

    policy: Policy
    dossier: dict
    decision: Decision
    code: str
    rule: str
    index: int | None = None        # structure level: the structure's position

    @property
    def structure(self) -> dict | None:
        return self.dossier["structures"][self.index] if self.index is not None else None

    def item(self) -> tuple[dict, int]:
        """The structure a structure-level generator works on, and its position."""
        if self.index is None:
            raise ValueError(f"{self.code} is a structure-level code: the context names no structure")
        return self.dossier["structures"][self.index], self.index

    def definition(self, name: str, default=None):
        """The value of a policy definition (from the trace), e.g. `deadline`, `minimum`, `n`."""
        trace = self.decision.trace
        if trace is not None:
            for d in trace.definitions:
                if d.name == name:
                    return d.value
        return default

    def read(self, name: str, default=None):
        """A value the fired rule read (from the trace), else the definition of that name."""
        trace = self.decision.trace
        node = trace.fired(self.rule, self.index) if trace is not None else None
        for r in node.reads if node is not None else ():
            if r.name == name:
                return r.value
        return self.definition(name, default)

    def region_of(self, department) -> str | None:
        table = self.policy.checked.tables.get("region_of")
        return table.mapping.get(department) if table is not None else None

    def enum_values(self, field: str) -> tuple:
        """The values of an enum field of the structure record (e.g. `sector`)."""
        structures = self.policy.checked.facts.field("structures")
        rec = structures.type.element if structures is not None and isinstance(structures.type, types.List) else None
        f = rec.field(field) if isinstance(rec, types.Record) else None
        return tuple(f.type.values) if f is not None and isinstance(f.type, types.Enum) else ()


GENERATORS: dict[str, list[Callable[[Context], Iterator[Candidate]]]] = {}


def generator(code: str):
    """Register a candidate generator for a reason code (several may be registered, tried in order)."""
    def deco(fn):
        GENERATORS.setdefault(code, []).append(fn)
        return fn
    return deco


def suggest(policy, dossier: dict, *, decision: Decision | None = None) -> list[Suggestion]:
    """Verified suggestions, one per blocking reason that some registered change lifts.

    `policy` is a `Policy`, a bundled policy name or a path, or None for the policy in force.
    `decision`, if the caller already has it, is the decision of `dossier` under that policy:
    the dossier is then not evaluated again (unless `decision` has no full trace: the generators
    read it). Every suggestion is still verified by evaluating the changed dossier.
    Raises `DossierError` if the dossier itself breaks the contract, `ValueError` if `decision`
    was rendered by another policy.
    """
    policy = load_policy(policy) if policy is not None else policy_for(dossier)
    if decision is not None and decision.sha256 != policy.sha256:
        raise ValueError(f"the decision was rendered by policy {decision.policy_id} ({decision.sha256}), "
                         f"not {policy.id} ({policy.sha256})")
    if decision is None or decision.trace is None or decision.trace.shape != "full":
        decision = policy.evaluate(dossier, trace="full")   # the generators read any definition
    out: list[Suggestion] = []
    seen = set()
    for r in decision.reasons:
        if (r.code, r.rule) in seen:
            continue
        seen.add((r.code, r.rule))
        s = _first_lifting(Context(policy, dossier, decision, r.code, r.rule))
        if s is not None:
            out.append(s)
    for i, st in enumerate(decision.structures):
        for r in st.reasons:
            s = _first_lifting(Context(policy, dossier, decision, r.code, r.rule, i))
            if s is not None:
                out.append(s)
    return out


def lifts(code: str, before: Decision, after: Decision, index: int | None = None) -> bool:
    """Whether `after` no longer has the reason `code` that `before` had (see the module doc)."""
    if index is None:
        return code not in {r.code for r in after.reasons}
    if len(after.structures) == len(before.structures):
        return code not in {r.code for r in after.structures[index].reasons}
    finess = before.structures[index].finess

    def count(d):
        return sum(1 for s in d.structures if s.finess == finess and code in {r.code for r in s.reasons})
    return count(after) < count(before)


def _codes(d: Decision) -> set[str]:
    return {r.code for r in d.reasons} | {r.code for s in d.structures for r in s.reasons}


def _try(ctx: Context, patch) -> tuple[dict, Decision] | None:
    try:
        changed = apply_patch(ctx.dossier, patch)
        after = ctx.policy.evaluate(changed, trace=False)
    except (DossierError, KeyError, IndexError, TypeError, ValueError):
        return None
    if not lifts(ctx.code, ctx.decision, after, ctx.index):
        return None
    return changed, after


def _first_lifting(ctx: Context) -> Suggestion | None:
    for gen in GENERATORS.get(ctx.code, ()):
        for cand in gen(ctx):
            got = _try(ctx, cand.patch)
            if got is None:
                continue
            changed, after = got
            text = cand.text
            for alt_text, alt_patch in cand.alternatives:
                if _try(ctx, alt_patch) is not None:
                    text += f" (ou {alt_text})"
            introduced = tuple(sorted(_codes(after) - _codes(ctx.decision)))
            if introduced:
                text += f" ; cela ferait apparaître : {', '.join(introduced)}"
            st = ctx.structure
            return Suggestion(ctx.code, ctx.rule, text, tuple(cand.patch), changed,
                              "structure" if ctx.index is not None else "dossier",
                              st.get("finess") if st is not None else None, ctx.index, introduced)
    return None


# ---- helpers for generators -----------------------------------------------------------------
def _plural(k: int, one: str, many: str) -> str:
    return one if k == 1 else many


def _label(s: dict) -> str:
    return f"{s.get('finess')} ({s.get('name')})"


def _counted(ctx: Context) -> list[int]:
    """Indexes of the structures that are counted (no structure-level reason)."""
    return [i for i, s in enumerate(ctx.decision.structures) if s.eligible]


def _new_finess(template: str, used: set[str]) -> Iterator[str]:
    prefix = (str(template) + "000")[:3]
    for k in range(999999, -1, -1):
        f = f"{prefix}{k:06d}"
        if f not in used:
            used.add(f)
            yield f


def _as_date(v):
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v[:10])
        except ValueError:
            return None
    return None


# ---- generators, one family per code ------------------------------------------------------------
@generator("GROUPING_TOO_SMALL")
def _grouping_too_small(ctx: Context):
    """k copies of a counted structure in the most represented region, k = 1, 2, … (minimal k)."""
    structures = ctx.dossier.get("structures") or []
    counted = _counted(ctx)
    if counted:
        regions = Counter(ctx.region_of(structures[i].get("department")) or structures[i].get("department")
                          for i in counted)
        top = max(regions.values())
        best = next(r for r in (ctx.region_of(structures[i].get("department")) or structures[i].get("department")
                                for i in counted) if regions[r] == top)
        template = next(structures[i] for i in counted
                        if (ctx.region_of(structures[i].get("department")) or structures[i].get("department")) == best)
        template = copy.deepcopy(template)
    elif structures and (fixed := _fixed_structure(ctx)) is not None:
        template = fixed  # nothing counted: a structure as its own suggestions would fix it
    else:  # an empty grouping: an example EHPAD
        template = {"finess": "750000000", "name": "EHPAD", "department": "75", "category": "EHPAD",
                    "casf_item": 6, "sector": "PA", "financed_by": ["ARS", "CD"], "confort_share": 0.0}
    region = ctx.region_of(template.get("department"))
    where = f"en {region}" if region else f"dans le département {template.get('department')}"
    used = {str(s.get("finess")) for s in structures}
    fresh = _new_finess(template.get("finess", "000"), used)
    n = len(counted)
    minimum = ctx.definition("minimum")
    cap = min(MAX_ADDED, max(minimum - n, 0) + 10) if isinstance(minimum, int) else MAX_ADDED
    added: list[dict] = []
    for k in range(1, cap + 1):
        s = dict(template, finess=next(fresh), name=f"ESSMS supplémentaire {k}")
        added.append(s)
        text = (f"{k} ESSMS {_plural(k, 'éligible', 'éligibles')} de plus {where} "
                f"(le dossier en compterait {n + k}, comme {_label(template)})")
        yield Candidate(text, [add("/structures/-", x) for x in added])


def _fixed_structure(ctx: Context) -> dict | None:
    """The first structure whose structure-level reasons all have a verified suggestion, so fixed."""
    for i, result in enumerate(ctx.decision.structures):
        if isinstance(ctx.dossier["structures"][i].get("finess"), str) and any(
                x.get("finess") == ctx.dossier["structures"][i]["finess"] for x in ctx.dossier["structures"][:i]):
            continue  # a duplicate: its copy would be one too
        dossier = ctx.dossier
        for r in result.reasons:
            fix = _first_lifting(Context(ctx.policy, dossier, ctx.policy.evaluate(dossier), r.code, r.rule, i))
            if fix is None or fix.dossier is None or len(fix.dossier["structures"]) != len(dossier["structures"]):
                break
            dossier = fix.dossier
        else:
            return copy.deepcopy(dossier["structures"][i])
    return None


@generator("GROUPING_TOO_LARGE")
def _grouping_too_large(ctx: Context):
    """Remove the last k counted structures, k = 1, 2, … (minimal k)."""
    structures = ctx.dossier.get("structures") or []
    counted = _counted(ctx)
    for k in range(1, len(counted) + 1):
        gone = counted[-k:]
        kept = len(counted) - k
        names = ", ".join(str(structures[i].get("finess")) for i in gone)
        keep = "ne garder qu'une structure" if kept == 1 else f"ne garder que {kept} structures"
        text = f"{keep} : retirer {k} {_plural(k, 'structure', 'structures')} du dossier ({names})"
        yield Candidate(text, [remove(f"/structures/{i}") for i in sorted(gone, reverse=True)])


@generator("WRONG_CALL")
def _wrong_call(ctx: Context):
    expected = ctx.decision.call
    if expected is None:
        return
    n = ctx.definition("n")
    regions = ctx.definition("regions")
    size = ""
    if n is not None:
        size = f" : un dossier de {n} {_plural(n, 'structure', 'structures')}"
        if isinstance(regions, (list, tuple)):
            size += f" sur {len(regions)} {_plural(len(regions), 'région', 'régions')}"
        size += " en relève"
    yield Candidate(f"déposer au titre de l'appel à projets {call_name(expected)} (et non de l'appel à projets "
                    f"{call_name(ctx.dossier.get('call'))}){size}", [replace("/call", expected)])


@generator("LATE_SUBMISSION")
def _late_submission(ctx: Context):
    deadline = _as_date(ctx.read("deadline"))
    if deadline is None:
        return
    at = dt.datetime.combine(deadline, dt.time(23, 59), tzinfo=PARIS)
    call = ctx.dossier.get("call")
    yield Candidate(f"déposer au plus tard le {french(deadline)} à 23:59 heure de Paris "
                    f"(date limite de l'appel à projets {call_name(call)})", [replace("/submitted_at", at.isoformat())])


@generator("DUI_NOT_SEGUR_REFERENCED")
def _dui_not_segur_referenced(ctx: Context):
    yield Candidate("utiliser un logiciel référencé Ségur (DSR vague 1 de son domaine)",
                    [replace("/software/segur_referenced", True)],
                    (("un logiciel compatible avec Mon espace santé", [replace("/software/mes_compatible", True)]),))
    yield Candidate("utiliser un logiciel compatible avec Mon espace santé",
                    [replace("/software/mes_compatible", True)])


@generator("AHI_CANDIDATE_TOO_LATE")
def _ahi_candidate_too_late(ctx: Context):
    signed = ctx.dossier.get("convention_signed_on")
    referenced = [replace("/software/segur_referenced", True)]
    if signed is not None:
        when = f"au plus tard le {french(_as_date(signed))} (date de signature de la convention)"
        if _try(ctx, referenced) is not None:
            text = f"logiciel référencé Ségur, ou candidat au référencement Ségur {when}"
        else:
            text = f"logiciel candidat au référencement Ségur {when}"
        yield Candidate(text, [replace("/software/segur_candidate_on", signed)])
    yield Candidate("utiliser un logiciel référencé Ségur", referenced)


@generator("OTHER_EU_FUNDING")
def _other_eu_funding(ctx: Context):
    funding = ctx.dossier.get("other_eu_funding") or []
    bad = [i for i, f in enumerate(funding) if isinstance(f, dict) and f.get("same_object")]
    if not bad:
        return
    names = [str(funding[i].get("programme")) for i in bad]
    listed = ", ".join(names[:-1]) + " et " + names[-1] if len(names) > 1 else names[0]
    what = (f"le financement européen {listed}" if len(bad) == 1
            else f"les financements européens {listed}")
    yield Candidate(f"retirer {what} portant sur le même objet",
                    [replace(f"/other_eu_funding/{i}/same_object", False) for i in bad])


@generator("EDITOR_NOT_REFERENCED")
def _editor_not_referenced(ctx: Context):
    yield Candidate("choisir un éditeur référencé par le Resah", [replace("/software/resah_referenced", True)],
                    (("un logiciel référencé Ségur", [replace("/software/segur_referenced", True)]),))
    yield Candidate("utiliser un logiciel référencé Ségur", [replace("/software/segur_referenced", True)])


@generator("NOT_ESSMS")
def _not_essms(ctx: Context):
    s, index = ctx.item()
    same = [x.get("casf_item") for x in ctx.dossier["structures"]
            if x.get("casf_item") is not None and x.get("sector") == s.get("sector")]
    every = [x.get("casf_item") for x in ctx.dossier["structures"] if x.get("casf_item") is not None]
    item = Counter(same or every).most_common(1)[0][0] if (same or every) else 6
    yield Candidate(f"{_label(s)} : n'est finançable que si elle relève d'un item de l'article L.312-1 I "
                    f"du CASF (par exemple l'item {item}) ; sinon, la retirer du dossier",
                    [replace(f"/structures/{index}/casf_item", item)])


@generator("CONFORT_ONLY")
def _confort_only(ctx: Context):
    s, index = ctx.item()
    yield Candidate(f"{_label(s)} : déclarer une part d'activités essentielles (part de confort inférieure "
                    f"à 100 %, par exemple 99 % ; seule la part essentielle est financée)",
                    [replace(f"/structures/{index}/confort_share", 0.99)])


@generator("SECTOR_NOT_ELIGIBLE")
def _sector_not_eligible(ctx: Context):
    s, index = ctx.item()
    others = [v for v in ctx.enum_values("sector") if v != s.get("sector")]
    lifting = []
    for v in others:  # collect every covered sector, then suggest the first
        if _try(ctx, [replace(f"/structures/{index}/sector", v)]) is not None:
            lifting.append(v)
    if lifting:
        yield Candidate(f"{_label(s)} : structure d'un secteur couvert par le programme "
                        f"({', '.join(lifting)}), et non {s.get('sector')}",
                        [replace(f"/structures/{index}/sector", lifting[0])])


@generator("DUPLICATE_STRUCTURE")
def _duplicate_structure(ctx: Context):
    s, index = ctx.item()
    first = next(i for i, x in enumerate(ctx.dossier["structures"]) if x.get("finess") == s.get("finess"))
    yield Candidate(f"retirer le doublon du FINESS {s.get('finess')} (structure n° {index + 1}, "
                    f"déjà listée en n° {first + 1})", [remove(f"/structures/{index}")])

