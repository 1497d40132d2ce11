"""esms-rules: the ESMS numérique funding instructions as checked, compiled policies.

The pipeline, one module per stage::

    policy text ──parse──▶ ast.Module ──load (imports, overrides)──▶ Program
        ──check (schema, tables, defs, rules, outputs, params, cycles)──▶ CheckedPolicy
        ──compile (Python source from checked nodes only)──▶ evaluator(mode)
        ──evaluate (validate dossier, run, assemble)──▶ Decision ──explain──▶ trace, text, HTML

Typical use::

    import esms_rules
    decision = esms_rules.evaluate(dossier)          # picks the policy in force
    decision.eligible, decision.to_dict()["reasons"]
    policy = esms_rules.load_policy("esms-numerique-2025")
    for result in policy.evaluate_many(rows): ...
"""
__version__ = "0.3.0"

import logging as _logging  # noqa: E402

_logging.getLogger(__name__).addHandler(_logging.NullHandler())   # silent until the application configures logging

from . import evaluate as _evaluate_module  # noqa: E402,F401  (imported first: the name below is the function)
from .decision import Decision, Reason, StructureResult, Verdict  # noqa: E402
from .diagnostics import Diagnostic, DossierError, EsmsError, PolicyError, Problem  # noqa: E402
from .policy import Policy  # noqa: E402
from .registry import bundled_policies, evaluate, load_policy, policy_for  # noqa: E402

__all__ = ["Decision", "Diagnostic", "DossierError", "EsmsError", "Policy", "PolicyError", "Problem",
           "Reason", "StructureResult", "Verdict", "bundled_policies", "evaluate", "load_policy",
           "policy_for", "__version__"]
