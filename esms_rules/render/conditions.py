"""Conditions written the French way, each name followed by the value the rule read for it.

A condition is rendered as a list of parts (kind, text): "op" French words and operators,
"name" an identifier of the policy, "call" a function of the policy, "value" the value the rule
read for the name just before, "lit" a literal of the policy. Each format marks the parts up its
own way (`condition_text`).
"""
from __future__ import annotations

from .. import ast
from ..infer import path_of
from .words import value_label

_OPS = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥", "+": "+", "-": "−", "*": "×",
        "/": "÷", "in": "parmi", "not in": "hors de", "and": "et", "or": "ou"}
_PREC = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "in": 4, "not in": 4,
         "+": 5, "-": 5, "*": 6, "/": 6}
_AGGREGATES = {"count": "nombre de", "sum": "somme de", "distinct": "valeurs distinctes de",
               "min": "minimum de", "max": "maximum de"}


def condition_parts(expr, reads=None) -> list[tuple[str, str]]:
    """`expr` (an `ast.Expr`) in French, each name followed by the value read for it in `reads`
    (a dict label → `FactRead`; None: names only, as declared)."""
    out: list[tuple[str, str]] = []
    values = reads or {}

    def op(s):
        out.append(("op", s))

    def prec(e):
        if isinstance(e, ast.Binary):
            return _PREC.get(e.op, 3)
        if isinstance(e, (ast.If, ast.Generator)):
            return 0
        if isinstance(e, ast.Unary):
            return 7 if e.op == "-" else 3
        return 9

    def sub(e, floor):
        if prec(e) < floor:
            op("(")
            walk(e)
            op(")")
        else:
            walk(e)

    def name(label):
        out.append(("name", label))
        r = values.get(label)
        if r is not None:
            out.append(("value", value_label(r.value, r.null, longest=5)))

    def generator(g, lead):
        op(lead)
        out.append(("name", g.var))
        op("de")
        sub(g.source, 8)
        if g.condition is not None:
            op("tel que")
            sub(g.condition, 3)
        op(":")
        sub(g.element, 3)

    def walk(e):
        label = path_of(e)
        if label is not None:
            name(label)
        elif isinstance(e, ast.Literal):
            if e.kind == "null":
                op("vide")
            elif e.kind == "string":
                out.append(("lit", e.value))
            else:
                out.append(("op", value_label(e.value)))
        elif isinstance(e, ast.Binary):
            if e.op in ("==", "!=") and isinstance(e.right, ast.Literal) and e.right.kind == "null":
                sub(e.left, 5)
                op("est vide" if e.op == "==" else "n'est pas vide")
                return
            p = _PREC.get(e.op, 3)
            sub(e.left, p)
            op(_OPS.get(e.op, e.op))
            sub(e.right, p + 1)
        elif isinstance(e, ast.Unary):
            op("non" if e.op == "not" else "−")
            sub(e.operand, 8)
        elif isinstance(e, ast.If):
            op("si")
            walk(e.condition)
            op("alors")
            walk(e.then)
            op("sinon")
            walk(e.otherwise)
        elif isinstance(e, ast.Lookup):
            sub(e.obj, 9)
            op("[")
            walk(e.key)
            op("]")
        elif isinstance(e, ast.Attribute):
            sub(e.obj, 9)
            op(".")
            out.append(("name", e.name))
        elif isinstance(e, ast.ListExpr):
            op("[")
            for k, x in enumerate(e.items):
                if k:
                    op(",")
                walk(x)
            op("]")
        elif isinstance(e, ast.Comprehension):
            op("[")
            generator(e.generator, "pour chaque")
            op("]")
        elif isinstance(e, ast.Generator):
            generator(e, "pour chaque")
        elif isinstance(e, ast.Call):
            call(e)
        else:   # a construct this renderer does not know: its identifier-free form
            op("…")

    def call(e):
        f, args = e.func, e.args
        gen = args[0] if len(args) == 1 and isinstance(args[0], ast.Generator) else None
        if f in ("any", "all") and gen is not None:
            generator(gen, "pour au moins un" if f == "any" else "pour tout")
        elif f in _AGGREGATES and len(args) == 1:
            op(_AGGREGATES[f])
            sub(args[0], 8) if gen is None else generator(gen, "pour chaque")
        elif f == "end_of_day" and len(args) == 2:
            op("la fin du jour")
            sub(args[0], 8)
            zone = args[1]
            if isinstance(zone, ast.Literal) and zone.value == "Europe/Paris":
                op(", heure de Paris")
            else:
                op("fuseau")
                walk(zone)
        elif f == "coalesce" and len(args) == 2:
            sub(args[0], 3)
            op(", à défaut")
            sub(args[1], 3)
        elif f == "passes" and len(args) == 1:
            sub(args[0], 8)
            op("n'a aucun motif de niveau structure")
        elif f == "repeated" and len(args) == 1:
            sub(args[0], 8)
            op("figure déjà plus haut dans la liste")
        elif f == "round" and len(args) == 2:
            op("arrondi de")
            sub(args[0], 8)
            op("à")
            walk(args[1])
            op("décimales")
        else:   # a function of the policy: its identifier, its arguments
            out.append(("call", f))
            op("(")
            for k, x in enumerate(args):
                if k:
                    op(",")
                walk(x)
            op(")")

    walk(expr)
    return out


def condition_text(parts, *, name=str, value=lambda s: f"[{s}]", lit=lambda s: f"« {s} »", op=str) -> str:
    """The parts of `condition_parts` on one line, each kind formatted by its function (markup)."""
    fmt = {"op": op, "name": name, "call": name, "value": value, "lit": lit}
    s, glue = "", True
    for kind, text in parts:
        tight = kind == "op" and text.startswith((",", ")", "]", ".", ":"))
        if not glue and not tight:
            s += " "
        s += fmt[kind](text)
        glue = kind == "call" or (kind == "op" and text in ("(", "[", "."))
    return s


def rule_conditions(node, values: bool = False) -> list[tuple[str, list]]:
    """What a rule node tested: (« s'applique si » / « condition », parts), with the values it read
    when `values`."""
    reads = {r.name: r for r in node.reads} if values else None
    out = []
    if node.applies is not None:
        out.append(("s'applique si", condition_parts(node.applies, reads)))
    if node.when is not None:
        out.append(("condition", condition_parts(node.when, reads)))
    return out


def other_reads(node) -> list:
    """The values a rule read that its conditions do not show (read by its message)."""
    shown: set[str] = set()
    for _, parts in rule_conditions(node):
        shown.update(t for k, t in parts if k in ("name", "call"))
    return [r for r in node.reads if r.name not in shown]

