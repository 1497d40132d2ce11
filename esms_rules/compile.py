"""CheckedPolicy -> Python source -> code object: the evaluator's fast path.

Only checked AST nodes are rendered. Literals are written with `repr` once their type is
known (str, int, bool, None) or passed as named constants (Decimal, dates, tables); every
Python identifier comes from a counter, and policy names are kept only as data, so nothing
an author wrote can become code. The source is registered in `linecache` under a unique
name so tracebacks and `inspect` can show it, and `emit()` returns it for review
(`esms-rules compile --emit python`).

Three modes share one generator:
- "decision": eligible, recevable and the outputs; nothing recorded;
- "reasons":  also each fired rule with the values its message needs;
- "trace":    every rule evaluation with the facts it read, and every definition's value;
- "compact":  the same records, but only those on the deciding path (rules that fired, rules
              overridden, exceptions that applied, whatever became of them): no record of a
              rule that passed or of an exception that did not apply (explain.py's compact trace).
Each returns the named shape of `runtime.RESULTS[mode]` (`DecisionResult`, `ReasonsResult` with
`Fired` items, `TraceResult` (modes "trace" and "compact") whose records are plain tuples laid
out as `runtime.TraceRecord`), built in the generated code with `tuple.__new__`, without a
Python-level constructor call.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import linecache
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from . import ast, builtins, runtime
from .check import CheckedPolicy, RuleInfo
from .runtime import NO_ITEM, NO_RULE, DecisionResult, Fired, Outcome, ReasonsResult, TraceResult

MODES = ("decision", "reasons", "trace", "compact")
TRACING = ("trace", "compact")   # the modes that return a TraceResult
FLAT_AFTER = 16   # exceptions of one rule tested in an `elif` chain; more: flat `if`s (see _Gen.rule)



Scope = dict[str, Any]
"""Policy names in scope -> the Python code that holds them (and "#repeated": {id(key): flags})."""


class _Gen(ast.ExprVisitor[Scope, str]):
    """The Python back end: `visit(e, scope)` is the Python expression of `e`.

    Built-in functions are written by `builtins.TABLE[name].python(gen, call, scope)`, which may
    use `expr`, `gen`, `iterable`, `const` and set `uses_failed`."""

    # Hooks for partial.PartialGen, the three-valued subclass: the items with a blocking reason
    # (a set of ids here, a dict id -> status there), and an output `for s in list`.
    FAILED_INIT = "set()"

    def item_output(self, element: str, var: str, list_code: str) -> str:
        return f"[{element} for {var} in {list_code}]"

    def __init__(self, policy: CheckedPolicy, mode: str, prologue=None, verdict=None, facts_out=False):
        self.p = policy
        self.mode = mode
        self.prologue = prologue
        self.verdict = verdict
        self.facts_out = facts_out
        self.consts: dict[str, object] = {"_rt": runtime}
        self.const_ids: dict = {}
        self.lines: list[str] = []
        self.names: dict[str, str] = {}     # policy value name -> python local
        self.functions: dict[str, str] = {}  # policy function -> python nested function
        self.counter = 0
        self.uses_failed = False   # does the code read or fill FAILED (items with a blocking reason)?
        self.fused_items: set[str] = set()   # item lists whose rules run inside the prologue's loop
        self.inlined: set[str] = set()       # functions inlined at each call (see function())

    # -- naming
    def fresh(self, prefix="t"):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any, prefix: str = "K") -> str:
        key: tuple[str, Any] | None = (type(value).__name__,
                                       value if not isinstance(value, (dict, list, set)) else id(value))
        try:
            if key in self.const_ids:
                return self.const_ids[key]
        except TypeError:
            key = None
        name = self.fresh(prefix)
        self.consts[name] = value
        if key is not None:
            self.const_ids[key] = name
        return name

    def lit(self, v) -> str:
        if v is None or isinstance(v, (bool, int, str)):
            return repr(v)
        if isinstance(v, (Decimal, dt.date, dt.datetime)):
            return self.const(v)
        raise TypeError(f"no literal form for {type(v).__name__}")

    def emit(self, line, depth):
        self.lines.append("    " * depth + line)

    # -- expressions: the visitor, one method per node class
    def expr(self, e: ast.Expr, scope: Scope) -> str:
        return self.visit(e, scope)

    def visit_Literal(self, e: ast.Literal, scope: Scope) -> str:
        return self.lit(e.value)

    def visit_Name(self, e: ast.Name, scope: Scope) -> str:
        if e.name in scope:
            return scope[e.name]
        return self.names[e.name]

    def visit_Attribute(self, e: ast.Attribute, scope: Scope) -> str:
        return f"{self.expr(e.obj, scope)}[{e.name!r}]"

    def visit_Lookup(self, e: ast.Lookup, scope: Scope) -> str:
        assert isinstance(e.obj, ast.Name)   # the checker allows only tables
        table = self.p.tables[e.obj.name]
        tname = self.const(table.mapping, "TABLE")
        key = self.expr(e.key, scope)
        if self.p.type_of(e) == table.value_type:
            return f"{tname}[{key}]"
        return f"{tname}.get({key})"

    def visit_ListExpr(self, e: ast.ListExpr, scope: Scope) -> str:
        if all(isinstance(i, ast.Literal) for i in e.items):
            return self.const(tuple(i.value for i in e.items if isinstance(i, ast.Literal)), "LIST") \
                if e.items else "()"
        return "[" + ", ".join(self.expr(i, scope) for i in e.items) + "]"

    def visit_Comprehension(self, e: ast.Comprehension, scope: Scope) -> str:
        return "[" + self.gen(e.generator, scope) + "]"

    def visit_Generator(self, e: ast.Generator, scope: Scope) -> str:
        return "[" + self.gen(e, scope) + "]"

    def visit_Unary(self, e: ast.Unary, scope: Scope) -> str:
        inner = self.expr(e.operand, scope)
        return f"(not {inner})" if e.op == "not" else f"(-{inner})"

    def visit_If(self, e: ast.If, scope: Scope) -> str:
        return (f"({self.expr(e.then, scope)} if {self.expr(e.condition, scope)} "
                f"else {self.expr(e.otherwise, scope)})")

    def visit_Binary(self, e: ast.Binary, scope: Scope) -> str:
        a, b = self.expr(e.left, scope), self.expr(e.right, scope)
        op = e.op
        if op in ("<", "<=", ">", ">=", "==", "!="):
            # speed: compare with end_of_day's instant in UTC, the same instant (an aware
            # datetime compares with one in a fixed-offset zone several times faster)
            a, b = (self.utc_instant(x, code, scope) for x, code in ((e.left, a), (e.right, b)))
        if op in ("==", "!=") and (ast.is_null(e.left) or ast.is_null(e.right)):
            op = "is" if op == "==" else "is not"
        if op in ("in", "not in") and isinstance(e.right, ast.ListExpr) and e.right.items \
                and all(isinstance(i, ast.Literal) for i in e.right.items):
            b = self.const(frozenset(i.value for i in e.right.items if isinstance(i, ast.Literal)), "SET")
        return f"({a} {op} {b})"

    def utc_instant(self, e: ast.Expr, code: str, scope: Scope) -> str:
        if not (isinstance(e, ast.Call) and e.func == "end_of_day" and e.func not in self.p.defs):
            return code
        day, zone = e.args
        assert isinstance(zone, ast.Literal) and isinstance(zone.value, str)
        if isinstance(day, ast.Literal):
            assert isinstance(day.value, dt.date)
            return self.const(_end_of_day_utc(day.value, zone.value))
        cache, fn = _end_of_day_utc_in(zone.value)
        code = self.expr(day, scope)
        if code.isidentifier():
            return f"({self.const(cache, 'EODC')}.get({code}) or {self.const(fn, 'EOD')}({code}))"
        return f"{self.const(fn, 'EOD')}({code})"

    def gen(self, g: ast.Generator, scope: Scope, element: bool = True) -> str:
        var = self.fresh("g")
        inner = {**scope, g.var: var}
        src = self.expr(g.source, scope)
        el = self.expr(g.element, inner) if element else var
        cond = f" if {self.expr(g.condition, inner)}" if g.condition is not None else ""
        return f"{el} for {var} in {src}{cond}"

    def iterable(self, a: ast.Expr, scope: Scope) -> str:
        """An aggregate's argument: a generator stays lazy; a list is used as it is."""
        if isinstance(a, ast.Comprehension):
            a = a.generator
        if isinstance(a, ast.Generator):
            return "(" + self.gen(a, scope) + ")"
        return self.expr(a, scope)

    def visit_Call(self, e: ast.Call, scope: Scope) -> str:
        f, args = e.func, e.args
        if f not in self.p.defs:
            return builtins.TABLE[f].python(self, e, scope)
        info = self.p.defs[f]
        arg_code = [self.expr(a, scope) for a in args]
        if f in self.functions:  # emitted once as a nested function: see function()
            return f"{self.functions[f]}({', '.join(arg_code)})"
        inner, binds = dict(scope), []
        for (pname, _), code in zip(info.params, arg_code, strict=True):
            if code.isidentifier():
                inner[pname] = code
            else:
                v = self.fresh("a")
                inner[pname] = v
                binds.append((v, code))
        body = self.expr(info.expr, inner)
        if binds:
            return f"(lambda {', '.join(v for v, _ in binds)}: {body})({', '.join(c for _, c in binds)})"
        return body

    # -- rules
    def rule(self, r: RuleInfo, scope: Scope, depth: int, item: str) -> None:
        """Evaluate a rule and its exceptions (highest priority first, Catala's default logic).

        In mode "trace", each exception tested and found not to apply is recorded once, inside
        the test of the next one (`elif (TRACE.append(…) or applies_k):`): the code grows
        linearly with the number of exceptions. Beyond FLAT_AFTER exceptions the `elif` chain
        becomes flat `if`s guarded by a flag, because CPython compiles a long `elif` chain (nested
        `if` nodes) in more than linear time.
        """
        exceptions = r.exceptions
        if not exceptions:
            self.base(r, scope, depth, item)
            return
        flag = self.fresh("s") if len(exceptions) > FLAT_AFTER else None   # True while none applied
        if flag is not None:
            self.emit(f"{flag} = True", depth)
        for k, x in enumerate(exceptions):
            assert x.applies is not None
            cond = self.expr(x.applies, scope)
            if k:
                before = self.record_code(exceptions[k - 1], scope, item, Outcome.NOT_APPLICABLE)
                if before is not None:
                    cond = f"({before} or {cond})"    # list.append returns None
            if flag is None:
                self.emit(f"{'if' if k == 0 else 'elif'} {cond}:", depth)
            else:
                self.emit(f"if {cond}:" if k == 0 else f"if {flag} and {cond}:", depth)
                self.emit(f"{flag} = False", depth + 1)
            self.record(r, scope, depth + 1, item, Outcome.OVERRIDDEN, by=x)
            if x.code is None:
                self.record(x, scope, depth + 1, item, Outcome.LIFTED)
                if self.mode not in TRACING and flag is None:
                    self.emit("pass", depth + 1)
            else:
                self.rule(x, scope, depth + 1, item)
        self.emit("else:" if flag is None else f"if {flag}:", depth)
        self.record(exceptions[-1], scope, depth + 1, item, Outcome.NOT_APPLICABLE)
        self.base(r, scope, depth + 1, item)

    def base(self, r: RuleInfo, scope, depth, item):
        if r.when is None:  # an exception whose outcome follows whenever it applies
            self.fire(r, scope, depth, item)
            return
        cond = self.expr(r.when, scope)
        self.emit(f"if {cond}:", depth)
        self.fire(r, scope, depth + 1, item)
        if self.mode == "trace" or (self.mode == "compact" and r.target is not None):
            self.emit("else:", depth)
            self.record(r, scope, depth + 1, item, Outcome.PASSED)

    def fire(self, r: RuleInfo, scope, depth, item):
        if r.severity in ("blocking", "inadmissible"):
            if item:
                self.uses_failed = True
                assert r.binder is not None
                self.emit(f"FAILED.add(id({scope[r.binder.var]}))", depth)
            else:
                self.emit("ok = False", depth)
            if r.severity == "inadmissible":
                self.emit("rec = False", depth)
        if self.mode == "decision":
            if r.severity == "warning":
                self.emit("pass", depth)
            return
        self.record(r, scope, depth, item, Outcome.FIRED)

    def record(self, r: RuleInfo, scope: Scope, depth: int, item: str, outcome: Outcome,
               by: RuleInfo | None = None) -> None:
        code = self.record_code(r, scope, item, outcome, by)
        if code is not None:
            self.emit(code, depth)

    def record_code(self, r: RuleInfo, scope: Scope, item: str, outcome: Outcome,
                    by: RuleInfo | None = None) -> str | None:
        """The statement recording `outcome` of `r` in this mode (an expression: `X.append(…)`), or None."""
        if self.mode == "decision" or (self.mode == "reasons" and outcome != Outcome.FIRED):
            return None
        if self.mode == "compact" and (outcome == Outcome.NOT_APPLICABLE
                                       or (outcome == Outcome.PASSED and r.target is None)):
            return None
        msg = "(" + "".join(self.expr(p, scope) + ", " for p in r.message if not isinstance(p, str)) + ")" \
            if outcome == Outcome.FIRED else "None"
        item_code = item or repr(NO_ITEM)
        if self.mode == "reasons":
            return f"FIRED.append({self.new(Fired)}{r.index}, {item_code}, {msg})))"
        # reads are paths and definitions only, safe to evaluate whatever the outcome
        reads = "(" + "".join(self.expr(x.expr, scope) + ", " for x in r.reads) + ")"
        extra = by.index if by is not None else NO_RULE
        # a plain tuple laid out as runtime.TraceRecord (speed: see runtime.TraceResult)
        return f"TRACE.append(({r.index}, {item_code}, {int(outcome)}, {reads}, {msg}, {extra}))"

    def new(self, cls: type) -> str:
        """The start of `cls(…)` for a NamedTuple class, built at tuple speed: `NEW(cls, (` …"""
        return f"{self.const(tuple.__new__, 'NEW')}({self.const(cls, 'SHAPE')}, ("

    def wanted(self, r: RuleInfo) -> bool:
        """In mode "decision", a rule whose every outcome is a warning changes nothing: skip it."""
        return self.mode != "decision" or any(x.severity in ("blocking", "inadmissible") for x in r.walk())

    def items_loop(self, list_name: str, depth):
        rules = [r for r in self.p.item_rules(list_name) if self.wanted(r)]
        src = self.names[list_name]
        var = self.fresh("it")
        idx = self.fresh("i")
        repeated: dict[int, str] = {}
        for r in rules:
            assert r.binder is not None
            for x in r.walk():
                for key in x.repeated:
                    flags = self.fresh("rep")
                    kv = self.fresh("g")
                    key_code = self.expr(key, {r.binder.var: kv})
                    self.emit(f"{flags} = _rt.repeated_flags([{key_code} for {kv} in {src}])", depth)
                    repeated[id(key)] = f"{flags}[{idx}]"
        self.emit(f"for {idx}, {var} in enumerate({src}):", depth)
        for r in rules:
            assert r.binder is not None
            scope: Scope = {r.binder.var: var, "#repeated": repeated}
            self.rule(r, scope, depth + 1, idx)
        if not rules:
            self.emit("pass", depth + 1)

    # -- item rules inside the prologue's loop (one pass over the items)
    def item_hook(self, list_name: str):
        """With a prologue, in modes "decision" and "reasons": when every rule of `list_name`
        reads only its own item (no fact or definition; see `item_local`), a function
        `hook(item, index, depth) -> (lines before the loop, lines in it)` that the prologue
        calls once it has validated an item into local `item`: the rules then run in the same
        pass as validation, instead of a second loop (`items_loop`). Otherwise None.

        The order of evaluation is the one of `items_loop` (item by item, rules in order), and
        `repeated(key)` is the same flag (an earlier item had an equal key), kept in a set as
        the items come. Anything raised in the prologue makes it return None, so the caller
        runs the precise validator and the plain evaluator, which raise as they always did.
        """
        if self.mode not in ("decision", "reasons"):
            return None
        rules = [r for r in self.p.item_rules(list_name) if self.wanted(r)]
        if not rules or not all(self.item_local(r) for r in rules):
            return None

        def hook(item: str, index: str, depth: int) -> tuple[list[str], list[str]]:
            saved, before = self.lines, []
            repeated: dict[int, str] = {}
            body: list[str] = []
            for r in rules:
                assert r.binder is not None
                for x in r.walk():
                    for key in x.repeated:
                        seen, k, flag = self.fresh("seen"), self.fresh("k"), self.fresh("rep")
                        before.append("    " * (depth - 1) + f"{seen} = set()")
                        self.lines = body
                        self.emit(f"{k} = {self.expr(key, {r.binder.var: item})}", depth)
                        self.emit(f"{flag} = {k} in {seen}", depth)
                        self.emit(f"{seen}.add({k})", depth)
                        repeated[id(key)] = flag
            self.lines = body
            for r in rules:
                assert r.binder is not None
                self.rule(r, {r.binder.var: item, "#repeated": repeated}, depth, index)
            self.lines = saved
            self.fused_items.add(list_name)
            return before, body
        return hook

    def item_local(self, r: RuleInfo) -> bool:
        """Whether rule `r` and its exceptions read only their item (and constants, tables, and
        functions of the policy that read only their parameters)."""
        assert r.binder is not None
        exprs: list[ast.Expr] = []
        for x in r.walk():
            exprs += [e for e in (x.when, x.applies) if e is not None]
            exprs += [*x.repeated, *(part for part in x.message if not isinstance(part, str))]
        return all(self.reads_only(e, frozenset({r.binder.var})) for e in exprs)

    def reads_only(self, e: ast.Expr, bound: frozenset[str]) -> bool:
        """Whether `e` names nothing but `bound` (and the variables of its own generators)."""
        if isinstance(e, ast.Name):
            return e.name in bound
        if isinstance(e, ast.Lookup):      # a table, by its name: a constant
            return self.reads_only(e.key, bound)
        if isinstance(e, ast.Generator):
            inner = bound | {e.var}
            return self.reads_only(e.source, bound) and self.reads_only(e.element, inner) and \
                (e.condition is None or self.reads_only(e.condition, inner))
        if isinstance(e, ast.Call) and e.func in self.p.defs:   # a function inlined here, reading its parameters only
            info = self.p.defs[e.func]
            return bool(info.params) and e.func in self.inlined and \
                self.reads_only(info.expr, frozenset(name for name, _ in info.params)) and \
                all(self.reads_only(a, bound) for a in e.args)
        return all(self.reads_only(c, bound) for c in ast.children(e))

    # -- the whole function
    def function(self) -> str:
        p = self.p
        self.emit("def evaluate(d):", 0)
        for fname in [f.name for f in p.facts.fields]:
            self.names[fname] = self.fresh("f")
        self.inlined = _inlined(p)
        self.emit("ok = True", 1)
        self.emit("rec = True", 1)
        failed_at = len(self.lines)
        self.emit(f"FAILED = {self.FAILED_INIT}", 1)
        if self.mode == "reasons":
            self.emit("FIRED = []", 1)
        if self.mode in TRACING:
            self.emit("TRACE = []", 1)
        if self.prologue is None:  # `d` holds validated facts
            for fname in [f.name for f in p.facts.fields]:
                self.emit(f"{self.names[fname]} = d[{fname!r}]", 1)
        else:  # `d` is the raw dossier: the prologue checks it and loads each fact into its local
            hooks = {lst: h for lst in p.item_lists if (h := self.item_hook(lst)) is not None}
            lines, consts = self.prologue({f: self.names[f] for f in (x.name for x in p.facts.fields)}, hooks)
            if set(consts) & set(self.consts):
                raise AssertionError("prologue constants collide with the evaluator's")
            self.consts.update(consts)
            self.lines += lines
        value_defs = p.value_defs
        for name in value_defs:
            self.names[name] = self.fresh("v")
        # A function whose body calls no other function, or whose body with every call expanded is
        # small, is inlined at each call (cheap, and the code stays linear in size); the others
        # are emitted once, as nested functions, so that chains of calls cannot make the
        # generated code grow exponentially.
        nested = [n for n in p.def_order if isinstance(n, str) and p.defs[n].params and n not in self.inlined]
        for name in nested:
            self.functions[name] = self.fresh("fn")
        for name in nested:
            info = p.defs[name]
            params = {pname: self.fresh("p") for pname, _ in info.params}
            self.emit(f"def {self.functions[name]}({', '.join(params.values())}):", 1)
            self.emit(f"return {self.expr(info.expr, params)}", 2)
        for node in p.def_order:
            if isinstance(node, tuple):
                for lst in p.item_lists:
                    rules = p.item_rules(lst)
                    item_type = rules[0].item_type if rules else None
                    if item_type is not None and item_type.name == node[1] and lst not in self.fused_items:
                        self.items_loop(lst, 1)
            elif not p.defs[node].params:
                self.emit(f"{self.names[node]} = {self.expr(p.defs[node].expr, {})}", 1)
        for r in p.rules:
            if r.binder is None and self.wanted(r):
                self.rule(r, {}, 1, "")
        outs = []
        for o in p.outputs.values():
            scope = {"eligible": "ok"}
            if o.binder is None:
                outs.append(self.expr(o.expr, scope))
            else:
                v = self.fresh("o")
                element = self.expr(o.expr, {**scope, o.binder.var: v})
                outs.append(self.item_output(element, v, self.names[o.binder.list_name]))
        out = "(" + "".join(o + ", " for o in outs) + ")"
        if self.mode == "decision" and self.verdict is not None:
            # return the Verdict itself: `verdict` is (its class, the output names)
            fields = ", ".join(f"{name!r}: {code}" for name, code in zip(self.verdict[1], outs, strict=True))
            self.emit(f"return {self.new(self.verdict[0])}ok, rec, {{{fields}}}))", 1)
        elif self.mode == "decision":
            self.emit(f"return {self.new(DecisionResult)}ok, rec, {out}))", 1)
        elif self.mode == "reasons":
            result = f"{self.new(ReasonsResult)}ok, rec, {out}, FIRED))"
            if self.facts_out:     # and the facts the prologue loaded, in the schema's order
                result = f"({result}, ({''.join(self.names[f.name] + ', ' for f in p.facts.fields)}))"
            self.emit(f"return {result}", 1)
        else:
            defs = "(" + "".join(self.names[n] + ", " for n in value_defs) + ")"
            result = f"{self.new(TraceResult)}ok, rec, {out}, TRACE, {defs}))"
            if self.facts_out:     # as in mode "reasons"
                result = f"({result}, ({''.join(self.names[f.name] + ', ' for f in p.facts.fields)}))"
            self.emit(f"return {result}", 1)
        if not self.uses_failed:
            del self.lines[failed_at]  # speed: no blocking item rule, no passes()
        header = [f"# Generated by esms-rules from policy {p.id!r} (sha256 {p.sha256[:16]}…), mode {self.mode!r}.",
                  "# Do not edit: regenerate with `esms-rules compile --emit python`."]
        return "\n".join(header + self.lines) + "\n"


@lru_cache(maxsize=4096)
def _end_of_day_utc(day: dt.date, zone: str) -> dt.datetime:
    """runtime.end_of_day as the same instant in UTC: for comparisons only, never shown."""
    return runtime.end_of_day(day, zone).astimezone(dt.UTC)


@cache
def _end_of_day_utc_in(zone: str):
    """(cache, function) for one zone: `_end_of_day_utc(day, zone)` without lru_cache's key tuple."""
    cache: dict = {}

    def end(day):
        v = cache.get(day)
        if v is None:
            v = _end_of_day_utc(day, zone)
            if len(cache) < 4096:
                cache[day] = v
        return v
    return cache, end


INLINE_NODES = 32   # a function calling others is inlined when its body, calls expanded, has at most this many nodes


def _inlined(policy: CheckedPolicy) -> set[str]:
    """The functions (definitions with parameters) inlined at each call: leaves, and those whose
    body with every call expanded has at most INLINE_NODES nodes."""
    size: dict[str, int] = {}

    def expanded(name: str) -> int:     # capped: counting stops past INLINE_NODES
        if name not in size:
            n, stack = 0, [policy.defs[name].expr]
            while stack and n <= INLINE_NODES:
                e = stack.pop()
                n += 1
                if isinstance(e, ast.Call) and e.func in policy.defs and policy.defs[e.func].params:
                    n += expanded(e.func)
                stack.extend(ast.children(e))
            size[name] = n
        return size[name]

    functions = [n for n in policy.def_order if isinstance(n, str) and policy.defs[n].params]
    for name in functions:    # callees before callers: the recursion above stays one level deep
        expanded(name)
    return {n for n in functions if _is_leaf(policy, n) or size[n] <= INLINE_NODES}


def _is_leaf(policy: CheckedPolicy, name: str) -> bool:
    """Does the body of function `name` call no other function of the policy?"""
    stack = [policy.defs[name].expr]
    while stack:
        e = stack.pop()
        if isinstance(e, ast.Call) and e.func in policy.defs and policy.defs[e.func].params:
            return False
        stack.extend(ast.children(e))
    return True



def emit(policy: CheckedPolicy, mode: str = "reasons", *, prologue=None, verdict=None,
         facts_out: bool = False) -> tuple[str, dict]:
    """The Python source of the evaluator for `mode`, and the constants it refers to.

    `prologue(targets, hooks) -> (lines, constants)`, if given, replaces the loading of validated
    facts: it receives the local each fact goes to, and for item lists whose rules read only
    their item, the hook that writes those rules (`_Gen.item_hook`), and returns the first lines
    of the body (indented one level), which read the raw dossier `d` (see validate.fast_prologue).
    `verdict=(cls, output_names)`, in mode "decision", makes the function return
    `cls(ok, rec, {name: output})`. `facts_out`, in mode "reasons" with a prologue, makes it
    return `(ReasonsResult, facts)`, the facts' values in the order of the schema's fields.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    g = _Gen(policy, mode, prologue, verdict, facts_out)
    return g.function(), g.consts


BUILTINS = {"len": len, "sum": sum, "any": any, "all": all, "min": min, "max": max,
            "id": id, "set": set, "enumerate": enumerate}


def load_source(source: str, consts: dict, name: str, builtins: dict, label: str):
    """Compile generated source, register it in linecache, and return its function `name`."""
    filename = f"<esms-rules {label} {hashlib.sha256(source.encode()).hexdigest()[:12]}>"
    code = compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = dict(consts)
    namespace["__builtins__"] = builtins
    exec(code, namespace)  # the source was generated from checked AST nodes and types only
    return namespace[name]


def compile_policy(policy: CheckedPolicy, mode: str = "reasons", *, prologue=None, verdict=None,
                   facts_out: bool = False, builtins: dict | None = None):
    """A plain Python function `evaluate(validated_dossier) -> tuple` for `mode` (see `emit`)."""
    try:
        source, consts = emit(policy, mode, prologue=prologue, verdict=verdict, facts_out=facts_out)
        return load_source(source, consts, "evaluate", {**BUILTINS, **(builtins or {})}, f"{policy.id} {mode}")
    except (RecursionError, SyntaxError) as e:
        # Leaf functions are inlined: deep bodies can nest beyond what Python accepts
        # (RecursionError, or "too many nested parentheses"). Anything else is our bug.
        from .diagnostics import Diagnostic, PolicyError
        from .span import Span
        deep = isinstance(e, RecursionError) or "nested" in str(e)
        raise PolicyError([Diagnostic(
            "too-deep" if deep else "internal",
            "definitions call each other too deeply to be compiled" if deep else f"generated code is invalid: {e}",
            Span.point(policy.program.root.file, 1, 1),
            "call fewer functions inside functions" if deep else "please report this bug with the policy")],
            policy.program.sources) from None
