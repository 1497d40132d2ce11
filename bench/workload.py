"""The benchmark's workload: seeded "grouping rule" records and the hand-written decision.

Records are what a JSON decoder gives: dicts of str, int, float, bool, None and lists.
Dates and date-times are ISO 8601 *strings* (``"2025-09-15"``,
``"2025-09-15T23:59:59+02:00"``), as in the contract's JSON dossiers. The engine's
validator requires strings there, so the hand-written function gets the same records and
has to parse the strings too (with ``date.fromisoformat`` / ``datetime.fromisoformat``);
nothing is pre-parsed for either side.

``decide(record) -> (eligible, funded_share)`` is the hand-written twin of
``bench/grouping.esms``; it is written independently of the engine (zoneinfo rather than
dateutil, floats rather than Decimal) so that agreement tests compare two implementations.
"""
from __future__ import annotations

import datetime as dt
import random
from functools import lru_cache
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MIN_SIZE = {"metropole": 15, "corse": 8, "outre-mer": 8}

METROPOLE = ["Auvergne-Rhône-Alpes", "Bourgogne-Franche-Comté", "Bretagne", "Centre-Val de Loire",
             "Grand Est", "Hauts-de-France", "Île-de-France", "Normandie", "Nouvelle-Aquitaine",
             "Occitanie", "Pays de la Loire", "Provence-Alpes-Côte d'Azur"]
OVERSEAS = ["Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"]
REGIONS_OF = {"metropole": METROPOLE, "corse": ["Corse"], "outre-mer": OVERSEAS}
SECTORS = ["PA", "PH", "AHI", "PJM", "domicile"]
# Deadlines include the two 2025 DST changes in Paris (30 March, 26 October).
DEADLINES = [dt.date(2025, 6, 1), dt.date(2025, 9, 15), dt.date(2025, 3, 30), dt.date(2025, 3, 29),
             dt.date(2025, 10, 26), dt.date(2025, 10, 25), dt.date(2024, 12, 31)]
OFFSETS = [2, 2, 2, 1, 0, 4, -4, -10, 5.5]   # hours; 0 is written "Z"


# ---- the hand-written decision ----------------------------------------------------------
@lru_cache(maxsize=4096)
def _end_of_day(day: dt.date) -> dt.datetime:
    """00:00 in Paris of the next day, as a UTC instant (aware comparisons with UTC are cheaper)."""
    nxt = day + dt.timedelta(days=1)
    return dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=PARIS).astimezone(dt.UTC)


def decide(r: dict) -> tuple[bool, float]:
    """Eligible, and the funded share (1 - confort_share when eligible, else 0)."""
    if r["has_other_eu_funding"]:
        return False, 0.0
    if dt.datetime.fromisoformat(r["submitted_at"]) >= _end_of_day(dt.date.fromisoformat(r["deadline"])):
        return False, 0.0
    n = r["n_structures"]
    k = len(set(r["regions"]))
    if r["call"] == "regional":
        fits = (k == 1 and n >= MIN_SIZE[r["territory"]]) or (k >= 2 and n < 50)
    else:
        fits = k >= 2 and n >= 50
    if not fits:
        return False, 0.0
    sector = r["sector"]
    if not (sector == "PJM" or r["dui_segur_referenced"]):
        if sector != "AHI":
            return False, 0.0
        cand, conv = r["dui_segur_candidate_date"], r["convention_date"]
        if cand is None or conv is None or dt.date.fromisoformat(cand) > dt.date.fromisoformat(conv):
            return False, 0.0
    return True, 1 - r["confort_share"]


# ---- seeded records ---------------------------------------------------------------------
def _iso(instant: dt.datetime, hours: float, rng: random.Random) -> str:
    local = instant.astimezone(dt.timezone(dt.timedelta(hours=hours)))
    if rng.random() < 0.01:  # a few with fractions of a second
        local = local.replace(microsecond=rng.randrange(1, 1_000_000))
    s = local.isoformat()
    return s[:-6] + "Z" if hours == 0 else s


def _grouping(rng: random.Random) -> tuple[str, list, str, int]:
    """(call, regions, territory, n_structures); fits its call about 4 times in 5."""
    territory = rng.choices(["metropole", "corse", "outre-mer"], [8, 1, 1])[0]
    call = "regional" if rng.random() < 0.65 else "national"
    single = rng.random() < (0.6 if call == "regional" else 0.15)
    if single:
        regions = [rng.choice(REGIONS_OF[territory])]
        if rng.random() < 0.2:
            regions = regions * 2            # listed twice: still one region
    else:
        pool = METROPOLE + OVERSEAS + ["Corse"]
        regions = rng.sample(pool, rng.randint(2, 4))
        if rng.random() < 0.2:
            regions.append(regions[0])
        territory = rng.choice(["metropole", "metropole", "corse", "outre-mer"])
    fit = rng.random() < 0.8
    low = MIN_SIZE[territory]
    edge = rng.random() < 0.25
    if call == "regional" and single:
        n = (low if edge else rng.randint(low, 200)) if fit else (low - 1 if edge else rng.randint(0, low - 1))
    elif call == "regional":
        n = (49 if edge else rng.randint(1, 49)) if fit else (50 if edge else rng.randint(50, 300))
    elif not single:
        n = (50 if edge else rng.randint(50, 300)) if fit else (49 if edge else rng.randint(0, 49))
    else:  # national with one region: never fits
        n = rng.randint(0, 300)
    return call, regions, territory, n


def _software(rng: random.Random) -> tuple[str, bool, str | None, str | None]:
    sector = rng.choices(SECTORS, [3, 3, 2, 1, 2])[0]
    referenced = rng.random() < 0.7
    base = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365))
    conv = None if rng.random() < 0.15 else base.isoformat()
    r = rng.random()
    if r < 0.15:
        cand = None
    elif r < 0.25:
        cand = base.isoformat()                                           # same day: in time
    elif r < 0.7:
        cand = (base - dt.timedelta(days=rng.randrange(1, 200))).isoformat()
    else:
        cand = (base + dt.timedelta(days=rng.randrange(1, 200))).isoformat()  # too late
    return sector, referenced, cand, conv


def record(rng: random.Random) -> dict:
    call, regions, territory, n = _grouping(rng)
    sector, referenced, cand, conv = _software(rng)
    deadline = rng.choice(DEADLINES) if rng.random() < 0.7 else \
        dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365))
    end = _end_of_day(deadline)
    r = rng.random()
    if r < 0.04:
        delta = dt.timedelta(seconds=-1)                                  # last second: on time
    elif r < 0.08:
        delta = dt.timedelta(0)                                           # midnight: late
    elif r < 0.14:
        delta = dt.timedelta(seconds=rng.randrange(1, 20 * 86400))        # late
    else:
        delta = -dt.timedelta(seconds=rng.randrange(1, 90 * 86400))
    submitted = _iso(end + delta, rng.choice(OFFSETS), rng)
    share = rng.random()
    if share < 0.05:
        confort = 0 if share < 0.02 else 1                                # JSON integers
    elif share < 0.1:
        confort = rng.choice([0.0, 1.0])
    else:
        confort = round(rng.random() * 0.8, 2)
    return {
        "n_structures": n,
        "regions": regions,
        "territory": territory,
        "call": call,
        "has_other_eu_funding": rng.random() < 0.05,
        "sector": sector,
        "dui_segur_referenced": referenced,
        "dui_segur_candidate_date": cand,
        "convention_date": conv,
        "confort_share": confort,
        "submitted_at": submitted,
        "deadline": deadline.isoformat(),
    }


def records(n: int = 100_000, seed: int = 2025) -> list[dict]:
    rng = random.Random(seed)
    return [record(rng) for _ in range(n)]


POLICY_FILE = __file__.rsplit("/", 1)[0] + "/grouping.esms"
