"""The change between two decisions, and the classes of changes (`esms_rules.diff`, docs/diff.md).

`change(a, b)` is the set of atoms by which two decisions on one dossier differ; `class_key`
keeps what makes a class (the codes gained or lost and the call); `elementary` tells the
classes found apart from the changes that are unions of them.
"""
from __future__ import annotations

from .decision import Decision


# ---- the change between two decisions ------------------------------------------------------
def _amount_kind(v):
    return "null" if v is None else "montant"


def change(a: Decision, b: Decision) -> frozenset:
    """The atoms by which decision `b` differs from decision `a` (empty: decided alike)."""
    atoms = set()
    for name in ("eligible", "recevable", "call"):
        x, y = getattr(a, name), getattr(b, name)
        if x != y:
            atoms.add((name, x, y))
    if a.amount_eur != b.amount_eur:
        atoms.add(("amount_eur", _amount_kind(a.amount_eur), _amount_kind(b.amount_eur)))
    for kind in ("reasons", "warnings"):
        ca, cb = {r.code for r in getattr(a, kind)}, {r.code for r in getattr(b, kind)}
        atoms |= {(kind, "+", c) for c in cb - ca} | {(kind, "-", c) for c in ca - cb}
    for sa, sb in zip(a.structures, b.structures, strict=True):
        if sa.eligible != sb.eligible:
            atoms.add(("structure_eligible", sa.eligible, sb.eligible))
        for kind in ("reasons", "warnings"):
            ca, cb = {r.code for r in getattr(sa, kind)}, {r.code for r in getattr(sb, kind)}
            atoms |= {("structure_" + kind, "+", c) for c in cb - ca} | {("structure_" + kind, "-", c) for c in ca - cb}
        if sa.funded_share != sb.funded_share:
            atoms.add(("funded_share", "changed", "changed"))
    return frozenset(atoms)


DERIVED = ("eligible", "recevable", "amount_eur", "structure_eligible", "funded_share")


def class_key(atoms: frozenset) -> frozenset:
    """What makes a class: the codes gained or lost and the call; eligibility, recevability,
    amounts and shares follow from those when any is there (else they are the class)."""
    primary = frozenset(a for a in atoms if a[0] not in DERIVED)
    return primary or atoms


def noise(key: frozenset, a: Decision, b: Decision) -> int:
    """Codes of either decision that the class does not explain: a witness reads best without them."""
    own = {x[2] for x in key if x[0] in ("reasons", "warnings")}
    return len({r.code for d in (a, b) for r in d.reasons + d.warnings} - own)


def elementary(keys) -> tuple[list, dict]:
    """The keys that are not the union of smaller keys found, and the others' decomposition."""
    keys = sorted(set(keys), key=lambda k: (len(k), sorted(map(repr, k))))
    base: list[frozenset] = []
    combos: dict[frozenset, list] = {}
    for k in keys:
        parts = [b for b in base if b < k]
        if parts and frozenset().union(*parts) == k:
            combos[k] = parts
        else:
            base.append(k)
    return base, combos
