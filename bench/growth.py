"""How the cost of a policy grows with its size (issue 13, item 14): one command, one table.

Two shapes that used to grow quadratically, each measured at sizes doubling:
- one rule with N exceptions: lines of trace-mode Python, and the time to generate and compile
  them (`compile.compile_policy(checked, "trace")`);
- one enum of N values: the time to parse the policy, and to check it.

Each row prints the ratio to the row above. Doubling the size doubles a linear cost (2×)
and quadruples a quadratic one (4×): the baselines printed beside the ratios.

    PYTHONPATH=$PWD python bench/growth.py [--exceptions 250,500,1000,2000] [--enum 4000,8000,16000]
"""
from __future__ import annotations

import argparse
import time

from esms_rules.check import check
from esms_rules.compile import compile_policy, emit
from esms_rules.load import link


def exceptions_policy(n: int) -> str:
    parts = ['policy "growth" {}\ncodes { A }\nfact k: int\n',
             'rule r {\n  code A\n  severity blocking\n  when k > 0\n  message "k = {k}"\n  source "s"\n}\n']
    parts += [f'exception x{i} to r {{\n  priority {i}\n  applies k == {i}\n  source "s"\n}}\n' for i in range(n)]
    return "".join(parts)


def enum_policy(n: int) -> str:
    values = ", ".join(f'"v{i}"' for i in range(n))
    return (f'policy "growth" {{}}\ncodes {{ A }}\nenum big {{ {values} }}\nfact k: big\n'
            'rule r {\n  code A\n  severity blocking\n  when k == "v1"\n  message "m"\n  source "s"\n}\n')


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def ratio(value: float, previous: float | None) -> str:
    return "" if previous is None or previous <= 0 else f"{value / previous:5.2f}×"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exceptions", default="250,500,1000,2000", help="numbers of exceptions of one rule")
    ap.add_argument("--enum", default="4000,8000,16000", help="numbers of values of one enum")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best counts")
    args = ap.parse_args(argv)

    print("1. One rule with N exceptions: trace-mode code (baseline: linear 2.00× per doubling, quadratic 4.00×)")
    print(f"   {'N':>6} {'lines':>8} {'ratio':>6} {'emit+compile':>13} {'ratio':>6}")
    prev_lines = prev_time = None
    for n in map(int, args.exceptions.split(",")):
        checked = check(link(exceptions_policy(n), f"growth-{n}.esms"))
        lines = emit(checked, "trace")[0].count("\n")
        seconds = best(lambda: compile_policy(checked, "trace"), args.repeat)
        print(f"   {n:>6} {lines:>8} {ratio(lines, prev_lines):>6} {seconds * 1000:>10.1f} ms {ratio(seconds, prev_time):>6}")
        prev_lines, prev_time = lines, seconds

    print("\n2. One enum of N values: parse, then check (baseline: linear 2.00× per doubling, quadratic 4.00×)")
    print(f"   {'N':>6} {'parse':>10} {'ratio':>6} {'check':>10} {'ratio':>6}")
    prev_parse = prev_time = None
    for n in map(int, args.enum.split(",")):
        text = enum_policy(n)
        parse_seconds = best(lambda: link(text, f"enum-{n}.esms"), args.repeat)
        program = link(text, f"enum-{n}.esms")
        seconds = best(lambda: check(program), args.repeat)
        print(f"   {n:>6} {parse_seconds * 1000:>7.1f} ms {ratio(parse_seconds, prev_parse):>6} "
              f"{seconds * 1000:>7.1f} ms {ratio(seconds, prev_time):>6}")
        prev_parse, prev_time = parse_seconds, seconds

if __name__ == "__main__":
    main()
