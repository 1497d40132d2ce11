"""Synthetic policies of N rules, written as text, to time parse + check + compile.

Each unit of the policy is one reason code, one definition and one rule that reads facts,
the definition, a table and an earlier definition; every tenth rule has an exception with
an outcome, every twentieth one without. So the text, the checked policy and the
generated Python all grow linearly with N.
"""
from __future__ import annotations

HEADER = '''policy "synthetic-{n}" {{
  programme "bench"
  campaign  2025
}}

enum sector {{ "PA", "PH", "AHI", "PJM", "domicile" }}
enum territory {{ "metropole", "corse", "outre-mer" }}

fact n_structures: int (0..100000)
fact regions: list of text
fact territory: territory
fact sector: sector
fact referenced: bool
fact confort_share: decimal (0..1)
fact submitted_at: datetime
fact deadline: date
fact convention_date: date?

table minimum_size: territory -> int {{
  "metropole": 15
  "corse": 8
  "outre-mer": 8
}} source "synthetic"

def n_regions = count(distinct(regions))
def late = submitted_at >= end_of_day(deadline, "Europe/Paris")
'''


def policy_text(n: int) -> str:
    parts = [HEADER.format(n=n), "codes {\n"]
    parts += [f'  C{i} "motif synthétique {i}"\n' for i in range(n)]
    parts.append("}\n\n")
    for i in range(n):
        prev = f"d{i - 1}" if i % 10 else "n_structures"   # chains of at most 10 definitions
        parts.append(
            f"def d{i} = if sector in [\"PA\", \"PH\"] then n_structures + {i} else {prev} + 1\n"
            f"rule r{i} {{\n"
            f"  code     C{i}\n"
            f"  severity {'warning' if i % 7 == 3 else 'blocking'}\n"
            f"  when     (d{i} > minimum_size[territory] * {i % 5 + 1} and n_regions < {i % 4 + 2})"
            f" or (late and confort_share >= 0.{i % 9 + 1})\n"
            f"  message  \"Règle {i} : {{n_structures}} structures, {{n_regions}} région(s), part {{confort_share}}.\"\n"
            f"  source   \"Synthétique, règle {i}\"\n"
            "}\n")
        if i % 10 == 9:
            parts.append(
                f"exception x{i} to r{i} {{\n"
                f"  priority 2\n"
                f"  applies  sector == \"AHI\" and convention_date != null\n"
                f"  code     C{i}\n"
                f"  severity blocking\n"
                f"  when     not referenced\n"
                f"  message  \"Exception {i} ({{convention_date}}).\"\n"
                f"  source   \"Synthétique, exception {i}\"\n"
                "}\n")
        if i % 20 == 19:
            parts.append(
                f"exception y{i} to r{i} {{\n"
                f"  priority 1\n"
                f"  applies  sector == \"PJM\"\n"
                f"  source   \"Synthétique, exception sans motif {i}\"\n"
                "}\n")
    parts.append("\noutput funded_share = if eligible then 1 - confort_share else 0\n")
    return "".join(parts)
