"""`Policy`: a checked policy, its dossier validator and its compiled evaluators.

`Policy.evaluate` gives a `Decision` (the contract's decision, with reasons, warnings and
the trace); `Policy.decide` gives only a `Verdict`, the fast path; `Policy.evaluate_many`
runs either over an iterable, lazily, turning a bad dossier into a `DossierError` result
instead of stopping the batch.

Evaluating never imports the parser: this module reaches `load` and `check` (the front end)
only to build a policy from text (`Policy.from_text`, `load_policy`, unpickling).
"""
from __future__ import annotations

import contextlib
import functools
import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import ROUND_HALF_EVEN, Context, DivisionByZero, InvalidOperation, Overflow, getcontext, setcontext
from itertools import repeat
from typing import TYPE_CHECKING, Any, TypeVar

from . import __version__
from .compile import compile_policy
from .decision import (
    AMOUNT,
    CALL,
    CONTRACT_SOURCE,
    SHARE,
    Decision,
    Reason,
    StructureResult,
    Verdict,
    reason_dict,
    structure_dict,
)
from .diagnostics import Diagnostic, DossierError, PolicyError, Problem
from .explain import build_trace, message_nulls, trace_shape
from .french import french
from .jsonio import number_json, str_json, value_json
from .span import Span
from .validate import Validator

if TYPE_CHECKING:
    from .check import CheckedPolicy

__all__ = ["Policy"]
log = logging.getLogger(__name__)

_ARITHMETIC = (ArithmeticError, OverflowError)

#: The decimal context every evaluation runs in, whatever the caller's (`decimal.getcontext()`
#: of the calling thread is restored after each dossier): Python's default settings, fixed.
ENGINE_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN, Emin=-999999, Emax=999999, capitals=1, clamp=0,
                         traps=[InvalidOperation, DivisionByZero, Overflow])

_T = TypeVar("_T")
_A = TypeVar("_A")
_R = TypeVar("_R")
_S = TypeVar("_S")


def in_engine_context(fn: Callable[[_A], _T], arg: _A) -> _T:
    """`fn(arg)` computed in `ENGINE_CONTEXT` (cheaper than `decimal.localcontext`: no copy)."""
    saved = getcontext()
    if saved is ENGINE_CONTEXT:
        return fn(arg)
    setcontext(ENGINE_CONTEXT)
    try:
        return fn(arg)
    finally:
        setcontext(saved)


def _out_of_range(e: Exception, dossier: object) -> DossierError:
    """A value the policy cannot compute with (a decimal beyond precision, a date past 9999)."""
    ident = dossier.get("id") if isinstance(dossier, dict) else None
    return DossierError([Problem("$", f"a value of this dossier is out of the range the policy can compute "
                                      f"with ({type(e).__name__}: {e})")], ident if isinstance(ident, str) else None)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
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


@functools.lru_cache(maxsize=16)
def from_sources(root: str, sources: tuple[tuple[str, str], ...], sha256: str) -> Policy:
    """The policy of file `root` among the texts `sources` (file name, text), imports taken
    from these texts only; PolicyError when its hash is not `sha256`."""
    from .check import check
    from .load import MemorySources, link
    texts = dict(sources)
    with collector_paused():
        policy = Policy(check(link(texts[root], root, sources=MemorySources(texts))))
    if policy.sha256 != sha256:
        raise PolicyError([Diagnostic("sha256-mismatch", f"the texts of policy `{policy.id}` hash to "
                                      f"{policy.sha256}, not {sha256}", Span.point(root, 1, 1))], texts)
    return policy


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
        self.id: str = checked.id
        self.sha256: str = checked.sha256
        self.header: dict[str, Any] = checked.header
        self.validator = Validator(checked.facts)
        self._compiled: dict[str, Callable[..., Any]] = {}
        self._output_names = tuple(checked.outputs)
        # what a reason says of its rule, worked out once: (code, rule, source, level, severity);
        # the last, index -1, is the engine's UNKNOWN_FIELD warning
        # an exception that only lifts its rule has no code nor severity: it never gives a reason
        self._reason_parts: list[tuple[str, str, str, str, str]] = [
            (r.code or "", r.name, r.source or "", r.level, r.severity or "") for r in checked.all_rules]
        self._reason_parts.append(("UNKNOWN_FIELD", "contract", CONTRACT_SOURCE, "dossier", "warning"))
        # the same as the JSON text around the message (`CompiledFindings.json`)
        self._reason_json = [(f'{{"code": {value_json(code)}, "rule": {value_json(rule)}, "message": ',
                              f', "source": {value_json(source)}, "level": {value_json(level)}, '
                              f'"severity": {value_json(severity)}}}')
                             for code, rule, source, level, severity in self._reason_parts]
        self._message_nulls = [message_nulls(checked, r) for r in checked.all_rules]   # how a null reads
        # each message as a format string, `{}` for each value (speed: see `message`)
        self._message_formats = ["".join(part.replace("{", "{{").replace("}", "}}") if isinstance(part, str) else "{}"
                                         for part in r.message) for r in checked.all_rules]
        self.compiled("decision")  # compile now, so that a policy that cannot compile fails to load
        self._decide_fast: Callable[[dict[str, Any]], Verdict | None] | None = None  # see _fused_decider
        self._reasons_fast: Callable[[dict[str, Any]], Any] | None = None   # see _fused_reasons
        self._fact_names = tuple(f.name for f in checked.facts.fields)
        lists = checked.item_lists   # one at most (the checker's `multiple-item-lists`)
        self._items = (lists[0], checked.key_field(lists[0])) if lists else None   # the list, its key field

    def message(self, index: int, values: tuple[Any, ...]) -> str:
        """The message of rule `index` with these values: `french.render_message`, faster."""
        nulls = self._message_nulls[index]
        return self._message_formats[index].format(*[
            v if type(v) is str else french(v, null) for v, null in zip(values, nulls, strict=True)])

    @classmethod
    def from_text(cls, text: str, file: str = "<string>") -> Policy:
        from .check import check
        from .load import link
        start = time.perf_counter()
        with collector_paused():
            policy = cls(check(link(text, file)))
        log.info("policy %s built from text %s: sha256 %s, %.0f ms", policy.id, file, policy.sha256,
                 (time.perf_counter() - start) * 1000)
        return policy

    def __repr__(self) -> str:
        return f"<Policy {self.id} sha256={self.sha256[:12]}>"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its source texts and sha256: the receiving process (a worker of a process
        pool, Dask, Spark, Ray) parses, checks and compiles them again, once per process, and
        verifies the hash, so the policy it runs is the one that was sent."""
        program = self.checked.program
        return (from_sources, (program.root.file, tuple(program.sources.items()), self.sha256))

    @property
    def programme(self) -> str | None:
        return self.header.get("programme")

    @property
    def campaign(self) -> int | None:
        return self.header.get("campaign")

    def compiled(self, mode: str) -> Callable[..., Any]:
        fn = self._compiled.get(mode)
        if fn is None:
            with collector_paused():
                fn = self._compiled[mode] = compile_policy(self.checked, mode)
        return fn

    # -- the fast path
    def decide(self, dossier: dict[str, Any]) -> Verdict:
        try:
            v = in_engine_context(self._decide_fast or self._fused_decider(), dossier)
            return v if v is not None else in_engine_context(self._decide_slow, dossier)
        except _ARITHMETIC as e:
            raise _out_of_range(e, dossier) from None

    def _fused_decider(self) -> Callable[[dict[str, Any]], Verdict | None]:
        """Speed (docs/performance.md): the fast validator fused with the compiled "decision"
        evaluator, `dossier -> Verdict`, or None when the fast validator has a doubt."""
        from .validate import fused_evaluator
        fused = fused_evaluator(self.checked, "decision", verdict=(Verdict, self._output_names))
        self._decide_fast = fused or (lambda dossier: None)
        return self._decide_fast

    def _decide_slow(self, dossier: dict[str, Any]) -> Verdict:
        facts, _ = self.validator.convert(dossier)
        ok, rec, outs = self.compiled("decision")(facts)
        return Verdict(ok, rec, dict(zip(self._output_names, outs, strict=True)))

    # -- decisions with reasons (and trace)
    def evaluate(self, dossier: dict[str, Any], *, trace: bool | str = True, partial: bool = False) -> Decision:
        """The decision, with its trace: `trace` True or "compact" (the deciding path, the default),
        "full" (every evaluation), False or "none" (no trace; docs/trace.md). `partial=True`: a
        dossier still being written, some facts unknown, decided in three-valued logic (no trace;
        docs/partial.md)."""
        if partial:
            return in_engine_context(self._evaluate_partial, dossier)
        shape = trace_shape(trace)
        return in_engine_context(lambda d: self._evaluate(d, shape), dossier)

    def _evaluate_partial(self, dossier: dict[str, Any]) -> Decision:
        from .partial import evaluate_partial
        try:
            decision: Decision = evaluate_partial(self, dossier)
        except _ARITHMETIC as e:
            raise _out_of_range(e, dossier) from None
        return decision

    def _evaluate(self, dossier: dict[str, Any], shape: str | None) -> Decision:
        traced = None
        try:
            if shape is None:
                fused = (self._reasons_fast or self._fused_reasons())(dossier)
                if fused is not None:   # a dossier the fast validator proved valid, without unknown fields
                    (ok, rec, outs, fired), values = fused
                    return self._decision(dossier, dict(zip(self._fact_names, values, strict=True)), [],
                                          ok, rec, outs, fired, None, None)
                facts, unknown = self.validator.precise(dossier)
                ok, rec, outs, fired = self.compiled("reasons")(facts)
            else:   # the compiled "trace" mode records every evaluation, "compact" the deciding path
                mode = "trace" if shape == "full" else "compact"
                fused = self._fused_traced(mode)(dossier)
                if fused is not None:
                    traced, values = fused
                    facts, unknown = dict(zip(self._fact_names, values, strict=True)), []
                else:
                    facts, unknown = self.validator.convert(dossier)
                    traced = self.compiled(mode)(facts)
                ok, rec, outs = traced[:3]
                fired = traced.fired()
        except _ARITHMETIC as e:
            raise _out_of_range(e, dossier) from None
        return self._decision(dossier, facts, unknown, ok, rec, outs, fired, traced, shape)

    def _fused_reasons(self) -> Callable[[dict[str, Any]], Any]:
        """Speed: the fast validator fused with the compiled "reasons" evaluator, `dossier ->
        (ReasonsResult, facts' values)`, or None when the fast validator has a doubt."""
        from .validate import fused_evaluator
        fused = fused_evaluator(self.checked, "reasons")
        self._reasons_fast = fused or (lambda dossier: None)
        return self._reasons_fast

    def _fused_traced(self, mode: str) -> Callable[[dict[str, Any]], Any]:
        """Speed: the fast validator fused with the compiled "trace" or "compact" evaluator,
        `dossier -> (TraceResult, facts' values)`, or None when the fast validator has a doubt."""
        fn = self._compiled.get("fused " + mode)
        if fn is None:
            from .validate import fused_evaluator
            with collector_paused():
                fn = self._compiled["fused " + mode] = fused_evaluator(self.checked, mode) or (lambda dossier: None)
        return fn

    def evaluate_many(self, dossiers: Iterable[dict[str, Any]], *,
                      mode: str = "trace") -> Iterator[Decision | Verdict | DossierError]:
        """One result per input, in order: a Decision (a Verdict in mode "decision"), or a DossierError.

        `mode` is "trace" (decisions with their compact trace), "full" (with the full trace),
        "reasons" (without) or "decision".
        """
        if mode not in ("trace", "full", "reasons", "decision"):
            raise ValueError(f"mode must be 'trace', 'full', 'reasons' or 'decision', not {mode!r}")
        from .dataframe import rows
        results = self._results(rows(dossiers), mode)     # a pandas DataFrame: one dossier per row
        return _summarised(self, results) if log.isEnabledFor(logging.INFO) else results

    def _results(self, dossiers: Iterable[dict[str, Any]], mode: str) -> Iterator[Decision | Verdict | DossierError]:
        if mode == "decision":  # speed: the per-record compiled path, one local call per dossier
            fast, slow = self._decide_fast or self._fused_decider(), self._decide_slow
            for d in dossiers:
                try:
                    v = in_engine_context(fast, d)
                    yield v if v is not None else in_engine_context(slow, d)
                except DossierError as e:
                    yield e
                except _ARITHMETIC as e:
                    yield _out_of_range(e, d)
            return
        for d in dossiers:
            try:
                yield self.evaluate(d, trace="full" if mode == "full" else mode == "trace")
            except DossierError as e:
                yield e

    def _decision(self, dossier: dict[str, Any], facts: dict[str, Any], unknown: list[str], ok: bool, rec: bool,
                  outs: Any, fired: Any, traced: Any, shape: str | None) -> Decision:
        outputs = dict(zip(self._output_names, outs, strict=True))
        shares = outputs.get(SHARE)
        items = self._items
        findings = CompiledFindings(self, fired, unknown, facts[items[0]] if items else (), items[1] if items else "",
                                    shares if isinstance(shares, list) else None)
        builder = None
        if traced is not None:
            builder = functools.partial(build_trace, self, facts, traced, shape or "full", findings.message)
        return Decision(dossier.get("id"), self.id, self.sha256, rec, ok, outputs.get(CALL), outputs.get(AMOUNT),
                        None, None, None, outputs, __version__, builder, dossier, findings)


class CompiledFindings:
    """`decision.Findings` of one compiled run: the rules that fired, as (rule index, item index or
    -1, message values), the unknown fields' paths, the items (structures) with their key field
    and funded shares. Reasons are worded (`Policy.message`) when built, not before, and once:
    the trace's nodes of the same rules read the same messages (`message`)."""

    __slots__ = ("fired", "items", "key", "policy", "said", "shares", "unknown")

    def __init__(self, policy: Policy, fired: list[Any], unknown: list[str], items: Sequence[dict[str, Any]],
                 key: str, shares: list[Any] | None):
        self.policy, self.fired, self.unknown, self.items, self.key, self.shares = \
            policy, fired, unknown, items, key, shares
        self.said: dict[tuple[int, int], str] = {}

    def message(self, idx: int, item: int, values: tuple[Any, ...]) -> str:
        """The message of rule `idx` for `item` (-1: the dossier) with these values, worded once
        per run (a rule is evaluated at most once per item)."""
        said = self.said.get((idx, item))
        if said is None:
            said = self.said[idx, item] = self.policy.message(idx, values)
        return said

    def _grouped(self, reason: Callable[[int, str], _R]) -> tuple[dict[int, tuple[list[_R], list[_R]]], list[_R],
                                                                   list[_R]]:
        """The reasons made by `reason(rule index, message)` (index -1: the engine's UNKNOWN_FIELD):
        each item's (blocking, warnings) by item index, the dossier's reasons, its warnings."""
        parts, message = self.policy._reason_parts, self.message
        reasons: list[_R] = []
        warnings: list[_R] = []
        per_item: dict[int, tuple[list[_R], list[_R]]] = {}
        for idx, item, values in self.fired:
            made = reason(idx, message(idx, item, values))
            warning = parts[idx][4] == "warning"
            if item >= 0:
                per_item.setdefault(item, ([], []))[warning].append(made)
            elif warning:
                warnings.append(made)
            else:
                reasons.append(made)
        for path in self.unknown:
            warnings.append(reason(-1, f"Champ inconnu ignoré : {path}."))
        return per_item, reasons, warnings

    def _assemble(self, reason: Callable[[int, str], _R],
                  structure: Callable[[Any, bool, Any, list[_R], list[_R]], _S]) -> tuple[list[_S], list[_R], list[_R]]:
        """The structures, reasons and warnings, made by `reason` (see `_grouped`) and
        `structure(key, eligible, share, blocking, warnings)`."""
        per_item, reasons, warnings = self._grouped(reason)
        key, shares = self.key, self.shares
        structures = []
        for i, item in enumerate(self.items):
            blocking, warns = per_item.get(i) or ([], [])
            structures.append(structure(item[key], not blocking, shares[i] if shares is not None else None,
                                        blocking, warns))
        return structures, reasons, warnings

    def build(self) -> tuple[tuple[StructureResult, ...], tuple[Reason, ...], tuple[Reason, ...]]:
        parts = self.policy._reason_parts

        def reason(idx: int, message: str) -> Reason:
            code, rule, source, level, severity = parts[idx]
            return Reason(code, rule, message, source, level, severity)

        structures, reasons, warnings = self._assemble(reason, lambda key, eligible, share, blocking, warns:
                                                       StructureResult(key, eligible, share, tuple(blocking),
                                                                       tuple(warns)))
        return tuple(structures), tuple(reasons), tuple(warnings)

    def dicts(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        parts = self.policy._reason_parts

        def reason(idx: int, message: str) -> dict[str, str]:
            code, rule, source, level, severity = parts[idx]
            return reason_dict(code, rule, message, source, level, severity)

        return self._assemble(reason, structure_dict)

    def json(self) -> tuple[str, str, str]:
        """The JSON text of `dicts()`'s three lists (as `jsonio.dumps` writes them on one line),
        written from fragments worked out once per policy: only keys, shares and messages are
        encoded here."""
        fragments = self.policy._reason_json

        def reason(idx: int, message: str) -> str:
            before, after = fragments[idx]
            return before + str_json(message) + after

        per_item, reasons, warnings = self._grouped(reason)
        key, items = self.key, self.items
        keys = [item[key] for item in items]
        try:
            keys = list(map(str_json, keys))
        except TypeError:       # a key that is not text
            keys = list(map(value_json, keys))
        shares = list(map(number_json, self.shares, repeat(False))) if self.shares is not None \
            else ["null"] * len(keys)
        structures = []
        for i, (k, share) in enumerate(zip(keys, shares, strict=True)):
            found = per_item.get(i)
            if found is None:
                structures.append(f'{{"finess": {k}, "eligible": true, "funded_share": {share}, "reasons": []}}')
                continue
            blocking, warns = found
            structures.append(f'{{"finess": {k}, "eligible": {"false" if blocking else "true"}, "funded_share": '
                              f'{share}, "reasons": [{", ".join(blocking)}]'
                              + (f', "warnings": [{", ".join(warns)}]}}' if warns else "}"))
        return "[" + ", ".join(structures) + "]", "[" + ", ".join(reasons) + "]", "[" + ", ".join(warnings) + "]"


def _summarised(policy: Policy, results: Iterator[Any]) -> Iterator[Any]:
    """`results` as they come, then one INFO line on the `esms_rules.policy` logger: the batch's
    counts and time (nothing of the dossiers themselves)."""
    counts = {"eligible": 0, "ineligible": 0, "errors": 0}
    start = time.perf_counter()
    try:
        for r in results:
            counts["errors" if isinstance(r, DossierError) else "eligible" if r.eligible else "ineligible"] += 1
            yield r
    finally:
        log.info("batch of %d dossiers with %s: %d eligible, %d ineligible, %d errors, %.3f s",
                 sum(counts.values()), policy.id, counts["eligible"], counts["ineligible"], counts["errors"],
                 time.perf_counter() - start)
