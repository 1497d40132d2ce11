"""The former home of the evaluation API, kept so that `from esms_rules.evaluate import …` works.

The code now lives by job: `decision` (the decision model), `policy` (`Policy`), `registry`
(the policies in force, `load_policy`, `evaluate`) and `french` (values in French). Note that
the attribute `esms_rules.evaluate` is the function `registry.evaluate`, not this module.
"""
from __future__ import annotations

from .decision import CONTRACT_SOURCE, Decision, Reason, StructureResult, Verdict
from .french import french, render_message
from .policy import Policy
from .registry import bundled_policies, evaluate, load_policy, policy_for

__all__ = ["CONTRACT_SOURCE", "Decision", "Policy", "Reason", "StructureResult", "Verdict", "bundled_policies",
           "evaluate", "french", "load_policy", "policy_for", "render_message"]
