"""The decision model: what an evaluation answers, and its JSON (the contract's decision).

`Decision` (with its `Reason`s and per-structure `StructureResult`s) is the full answer;
`Verdict` the fast path's. Which declared output fills which decision field is written once,
here (`CONTRACT_OUTPUTS`); every other output a policy declares goes to the decision's
`outputs` object, so that no output is ever dropped (docs/architecture.md, "Outputs in the
decision").

This module imports neither the parser nor the checker: a caller holding decisions (or
unpickling them) needs only this and `explain`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import attrs

from . import __version__, jsonio
from .explain import jsonable, with_trace
from .jsonio import json_number

if TYPE_CHECKING:
    from .explain import Trace

__all__ = ["CONTRACT_OUTPUTS", "CONTRACT_SOURCE", "Decision", "Findings", "Reason", "StructureResult", "Verdict",
           "extra_outputs"]

# UNKNOWN_FIELD is the engine's, not a policy's: our reading, cited as cite.render shows one.
CONTRACT_SOURCE = ("Lecture du projet esms-rules, champs inconnus — interprétation : un champ que le format "
                   "du dossier ne définit pas est ignoré et signalé, jamais refusé [I]")

#: The outputs the contract gives a field of their own: output name -> decision field.
#: `call` and `amount_eur` are top-level fields; `funded_share`, an output `for` each item of
#: the policy's item list, is each `structures[]` entry's `funded_share`.
CALL, AMOUNT, SHARE = "call", "amount_eur", "funded_share"
CONTRACT_OUTPUTS: Mapping[str, str] = {CALL: "call", AMOUNT: "amount_eur", SHARE: "structures[].funded_share"}


def extra_outputs(outputs: Mapping[str, object]) -> dict[str, object]:
    """The outputs with no field of their own in the contract, in declaration order."""
    return {k: v for k, v in outputs.items() if k not in CONTRACT_OUTPUTS}


@attrs.frozen
class Reason:
    """One finding: a stable code, the rule that raised it, a French message, its citation."""

    code: str
    rule: str
    message: str
    source: str
    level: str = "dossier"
    severity: str = "blocking"

    def to_dict(self) -> dict[str, str]:
        return reason_dict(self.code, self.rule, self.message, self.source, self.level, self.severity)


def reason_dict(code: str, rule: str, message: str, source: str, level: str, severity: str) -> dict[str, str]:
    """A reason's JSON (`Reason.to_dict`, and lazy decisions' `Findings.dicts`)."""
    return {"code": code, "rule": rule, "message": message, "source": source, "level": level, "severity": severity}


def structure_dict(finess: Any, eligible: bool, share: Decimal | None, reasons: list[dict[str, str]],
                   warnings: list[dict[str, str]]) -> dict[str, Any]:
    """A structure's JSON (`StructureResult.to_dict`, and lazy decisions' `Findings.dicts`)."""
    d: dict[str, Any] = {"finess": finess, "eligible": eligible,
                         "funded_share": json_number(share, whole_as_int=False), "reasons": reasons}
    if warnings:
        d["warnings"] = warnings
    return d


@attrs.frozen
class StructureResult:
    """One item of the policy's item list (a structure): its key, its own reasons and share."""

    finess: Any                # the key of the item: its record's first field (a FINESS number)
    eligible: bool
    funded_share: Decimal | None
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[Reason, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return structure_dict(self.finess, self.eligible, self.funded_share, [r.to_dict() for r in self.reasons],
                              [r.to_dict() for r in self.warnings])


class Verdict(NamedTuple):
    """The fast path's answer: no reasons, no trace."""

    eligible: bool
    recevable: bool
    outputs: dict[str, Any]


class Findings(Protocol):
    """What a lazy `Decision` holds instead of its reasons, warnings and structures: the compiled
    run's fired rules, from which `policy.CompiledFindings` builds either the objects (on first read of
    `Decision.reasons`, `warnings` or `structures`) or their JSON-ready dicts directly (`to_dict`)."""

    unknown: list[str]      # the paths of the dossier's unknown fields (none: every value was checked)

    def build(self) -> tuple[tuple[StructureResult, ...], tuple[Reason, ...], tuple[Reason, ...]]: ...

    def dicts(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]: ...

    def json(self) -> tuple[str, str, str]: ...


@attrs.frozen(eq=False)
class Decision:
    """The contract's decision for one dossier, with every output and, on demand, the trace.

    `structures`, `reasons` and `warnings` are given either as tuples, or, by `Policy.evaluate`,
    as `findings` to be built on first read (speed: most callers only need the JSON, which
    `to_dict` writes from the findings without building the objects, to the same bytes)."""

    dossier: Any               # the dossier's `id`, as given
    policy_id: str
    sha256: str
    recevable: bool
    eligible: bool
    call: str | None
    amount_eur: Decimal | None
    _structures: tuple[StructureResult, ...] | None = attrs.field(repr=False)
    _reasons: tuple[Reason, ...] | None = attrs.field(repr=False)
    _warnings: tuple[Reason, ...] | None = attrs.field(repr=False)
    outputs: dict[str, Any]
    engine: str = __version__
    _trace_builder: Callable[[], Trace] | None = attrs.field(default=None, repr=False)
    _input: object = attrs.field(default=None, repr=False)   # the dossier as given, for its digest
    _findings: Findings | None = attrs.field(default=None, repr=False)
    # partial evaluation only (`partial=True`, docs/partial.md): a `partial.PartialInfo`
    partial: Any = attrs.field(default=None, repr=False)

    def _built(self) -> None:
        """Build the three tuples from the findings (which stay: `to_dict` reads them)."""
        assert self._findings is not None
        built = self._findings.build()
        for name, value in zip(("_structures", "_reasons", "_warnings"), built, strict=True):
            object.__setattr__(self, name, value)

    @property
    def structures(self) -> tuple[StructureResult, ...]:
        if self._structures is None:
            self._built()
        assert self._structures is not None
        return self._structures

    @property
    def reasons(self) -> tuple[Reason, ...]:
        if self._reasons is None:
            self._built()
        assert self._reasons is not None
        return self._reasons

    @property
    def warnings(self) -> tuple[Reason, ...]:
        if self._warnings is None:
            self._built()
        assert self._warnings is not None
        return self._warnings

    @cached_property
    def dossier_sha256(self) -> str | None:
        """The digest of the dossier this decision decided (`jsonio.digest`: canonical JSON,
        sha256), so that `replay` can prove it re-ran the very same input. Computed on first
        read from the dossier as given: a caller that changes that dict afterwards changes it.
        A dossier the compiled run validated without an unknown field holds only the contract's
        types and finite numbers, which `jsonio.digest` may write faster (`checked`)."""
        if self._input is None:
            return None
        findings = self._findings
        return jsonio.digest(self._input, checked=findings is not None and not findings.unknown)

    @cached_property
    def trace(self) -> Trace | None:
        """The explanation tree (`explain.Trace`), built on first access from what the run recorded."""
        return self._trace_builder() if self._trace_builder is not None else None

    def to_dict(self, trace: bool = True) -> dict[str, Any]:
        """The decision as JSON-ready data (numbers as int or float where one holds the exact value,
        else as the `Decimal`): the contract's fields in its order, then `outputs`
        (the declared outputs without a contract field, only when the policy has some), then
        `trace` when asked."""
        findings = self._findings
        if findings is not None:
            structures, reasons, warnings = findings.dicts()
        else:
            structures = [s.to_dict() for s in self.structures]
            reasons = [r.to_dict() for r in self.reasons]
            warnings = [r.to_dict() for r in self.warnings]
        d: dict[str, Any] = {
            "dossier": self.dossier,
            "dossier_sha256": self.dossier_sha256,
            "policy": {"id": self.policy_id, "sha256": self.sha256, "engine": self.engine},
            "recevable": self.recevable,
            "eligible": self.eligible,
            "call": self.call,
            "amount_eur": json_number(self.amount_eur),
            "structures": structures,
            "reasons": reasons,
            "warnings": warnings,
        }
        extra = extra_outputs(self.outputs)
        if extra:
            d["outputs"] = {k: jsonable(v) for k, v in extra.items()}
        if self.partial is not None:
            d["partial"] = self.partial.to_dict()
        if trace:
            d["trace"] = self.trace.to_dict() if self.trace is not None else {}
        return d

    def to_json(self, trace: bool = True, indent: int | None = None) -> str:
        """The decision as JSON text, decimals with their exact digits: the bytes of
        `jsonio.dumps(self.to_dict(trace), indent=indent)`, written faster (on one line, by
        `_line` from the findings' JSON; the trace by `Trace.to_json`)."""
        if indent is None and self._findings is not None and self.partial is None:
            text = self._line()
        else:
            text = jsonio.dumps(self.to_dict(False), indent=indent)
        if not trace:
            return text
        return with_trace(text, self.trace.to_json(indent) if self.trace is not None else "{}", indent)

    def _line(self) -> str:
        """`jsonio.dumps(self.to_dict(False))` of a decision with findings, not partial, assembled
        from the JSON text of each field (json's separators ", " and ": ", as `dumps` writes)."""
        assert self._findings is not None
        structures, reasons, warnings = self._findings.json()
        value = jsonio.value_json
        text = (f'{{"dossier": {value(self.dossier)}, "dossier_sha256": {value(self.dossier_sha256)}, '
                f'"policy": {_policy_json(self.policy_id, self.sha256, self.engine)}, '
                f'"recevable": {value(self.recevable)}, "eligible": {value(self.eligible)}, '
                f'"call": {value(self.call)}, "amount_eur": {jsonio.number_json(self.amount_eur)}, '
                f'"structures": {structures}, "reasons": {reasons}, "warnings": {warnings}')
        extra = extra_outputs(self.outputs)
        if extra:
            text += ', "outputs": ' + jsonio.dumps({k: jsonable(v) for k, v in extra.items()})
        return text + "}"


@functools.lru_cache(maxsize=64)
def _policy_json(policy_id: str, sha256: str, engine: str) -> str:
    """A decision's `policy` object as JSON text (the same for every decision of a policy)."""
    return jsonio.dumps({"id": policy_id, "sha256": sha256, "engine": engine})
