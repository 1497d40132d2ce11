"""Hypothesis strategies for contract dossiers (CONTRACT.md v1.1).

``dossiers(policy=None)``  valid dossiers, biased toward the boundaries the policies care about.
``bad_dossiers()``          ``(dossier, expected_paths)`` pairs: dossiers that break the contract.

This module is independent of ``esms_rules`` and of ``tests/oracle.py``: the few tables it needs
(departments by region, known deadlines) are repeated here on purpose. All randomness comes from
Hypothesis draws, so every example is reproducible and shrinks.
"""

from __future__ import annotations

import copy
import datetime as dt

from dateutil import tz
from hypothesis import strategies as st

PARIS = tz.gettz("Europe/Paris")

# (programme, campaign) pairs in force, by policy id.
POLICY_PAIRS = {
    "esms-numerique-2021": ("esms-numerique", 2021),
    "esms-numerique-2022": ("esms-numerique", 2022),
    "esms-numerique-2023": ("esms-numerique", 2023),
    "esms-numerique-2024": ("esms-numerique", 2024),
    "esms-numerique-2025": ("esms-numerique", 2025),
    "mes-pilotes-2023": ("mes-pilotes", 2023),
}

# Departments by ARS region (repeated from the oracle on purpose: independent modules).
REGIONS = {
    "ARA": "01 03 07 15 26 38 42 43 63 69 73 74".split(),
    "BFC": "21 25 39 58 70 71 89 90".split(),
    "BRE": "22 29 35 56".split(),
    "CVL": "18 28 36 37 41 45".split(),
    "COR": ["2A", "2B"],
    "GES": "08 10 51 52 54 55 57 67 68 88".split(),
    "HDF": "02 59 60 62 80".split(),
    "IDF": "75 77 78 91 92 93 94 95".split(),
    "NOR": "14 27 50 61 76".split(),
    "NAQ": "16 17 19 23 24 33 40 47 64 79 86 87".split(),
    "OCC": "09 11 12 30 31 32 34 46 48 65 66 81 82".split(),
    "PDL": "44 49 53 72 85".split(),
    "PAC": "04 05 06 13 83 84".split(),
    "GLP": ["971", "977", "978"],
    "MTQ": ["972"],
    "GUF": ["973"],
    "REU": ["974"],
    "MYT": ["976"],
}
DEPARTMENTS = sorted(d for deps in REGIONS.values() for d in deps)
CORSICA_OVERSEAS = ["2A", "2B", "971", "972", "973", "974", "976", "977", "978"]

SECTORS = ["PA", "PH", "domicile", "AHI", "PJM", "enfance", "autre"]
PILOT_SECTORS = ["PA", "PH", "domicile"]  # covered by mes-pilotes (domicile: casf 6 or 7)
# Typical casf_item per sector (any 1..17 is valid; these keep generated groupings plausible).
CASF_BY_SECTOR = {
    "PA": [6], "PH": [2, 3, 5, 7], "domicile": [6, 7, 16], "AHI": [8, 13],
    "PJM": [14, 15], "enfance": [1, 4], "autre": [9, 10, 11, 12, 17],
}
CATEGORY_BY_SECTOR = {
    "PA": ["EHPAD", "Résidence autonomie"], "PH": ["MAS", "FAM", "IME", "ESAT"],
    "domicile": ["SAAD", "SSIAD", "SAD"], "AHI": ["CHRS", "CADA"], "PJM": ["MJPM", "DPF"],
    "enfance": ["MECS", "Foyer de l'enfance"], "autre": ["CSAPA", "CAARUD", "CLIC"],
}
FUNDERS = ["ARS", "CD", "Etat", "autre"]
OFFSETS = {"+02:00": 2, "+01:00": 1, "+04:00": 4, "-04:00": -4, "Z": 0}

# Every deadline day the contract gives ([C] cells), by campaign; [GAP] years have none.
KNOWN_DEADLINES = {
    2021: [dt.date(2021, 10, 15)],
    2022: [dt.date(2022, 9, 30), dt.date(2022, 7, 18)],
    2023: [],
    2024: [dt.date(2024, 9, 15), dt.date(2024, 6, 1)],
    2025: [dt.date(2025, 9, 15), dt.date(2025, 6, 1)],
}
# The eve of every call opening the contract gives (v1.2): 00:00 Paris of D+1 is the opening.
KNOWN_DEADLINES[2024] += [dt.date(2024, 1, 14), dt.date(2024, 2, 14)]

# Grouping sizes around every boundary (0, pilots' 1, thresholds 8 and 15, the 49/50 split).
INTERESTING_SIZES = [0, 1, 2, 7, 8, 9, 14, 15, 16, 49, 50, 51]


# --- Small pieces ----------------------------------------------------------------------------

def _render(instant: dt.datetime, offset: str) -> str:
    """ISO 8601 with the given offset, seconds precision; "Z" for UTC when asked."""
    hours = OFFSETS[offset]
    text = instant.astimezone(dt.timezone(dt.timedelta(hours=hours))).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if offset == "Z" else text


@st.composite
def submitted_at(draw, campaign: int) -> str:
    """An instant near 00:00 Paris of D+1 for a deadline D (known, or any day of the year)."""
    known = KNOWN_DEADLINES.get(campaign, [])
    any_day = st.dates(dt.date(campaign, 1, 1), dt.date(campaign, 12, 31))
    day = draw(st.sampled_from(known) | any_day if known else any_day)
    after = day + dt.timedelta(days=1)
    midnight = dt.datetime(after.year, after.month, after.day, tzinfo=PARIS)
    delta = draw(
        st.sampled_from([-1, 0, 1, -60, 60, -3600, 3600, -7200, 7200, -86400, 86400])
        | st.integers(-60 * 86400, 60 * 86400)
    )
    offset = draw(st.sampled_from(list(OFFSETS)))
    return _render(midnight + dt.timedelta(seconds=delta), offset)


def _luhn_key(digits: str) -> str:
    """The ninth digit of a FINESS number: the Luhn key of the first eight (doubled every
    second digit from the right of the eight, digits of the doubles added)."""
    total = 0
    for k, c in enumerate(reversed(digits)):
        d = int(c) * (1 if k % 2 else 2)
        total += d // 10 + d % 10
    return str(-total % 10)


def _finess(department: str, serial: int, valid: bool = True) -> str:
    """9 characters: the department (2 or 3), digits, and the check key: valid by default,
    a wrong digit when ``valid`` is False. Corsican numbers (2A, 2B) end in 0: the policies
    do not check their key."""
    width = 8 - len(department)
    body = department + str(serial % 10**width).zfill(width)
    if not body.isdigit():
        return body + "0"
    key = int(_luhn_key(body))
    return body + str(key if valid else (key + 1 + serial % 9) % 10)


@st.composite
def finess(draw, department: str, serial: int, valid: bool | None = None) -> str:
    """A FINESS number of ``department``: with a valid key, a wrong one, or either (None)."""
    return _finess(department, serial, draw(st.booleans()) if valid is None else valid)


CONFORT_SHARES = [0.0, 0.25, 0.4, 0.5, 0.75, 0.1, 0]  # below 1: the structure still counts


@st.composite
def structure(draw, departments: list[str], sectors: list[str], serial: int,
              defect: bool, pilots: bool) -> dict:
    """One structure. A ``defect`` structure may be not an ESSMS, confort-only, any sector."""
    department = draw(st.sampled_from(departments))
    sector = draw(st.sampled_from(SECTORS if defect else sectors))
    casf_choices = CASF_BY_SECTOR[sector]
    if pilots and sector == "domicile" and not defect:
        casf_choices = [6, 7]  # keep it covered by the pilots
    if defect:  # possibly not an ESSMS, an unusual item, or confort-only
        casf = draw(st.none() | st.sampled_from(casf_choices) | st.integers(1, 17))
        confort = draw(st.sampled_from([1.0, 1, 0.0, 0.5]) | st.floats(0, 1))
    else:
        casf = draw(st.sampled_from(casf_choices))
        confort = draw(st.sampled_from(CONFORT_SHARES) | st.floats(0, 1, exclude_max=True))
    category = "USLD" if casf is None else draw(st.sampled_from(CATEGORY_BY_SECTOR[sector]))
    return {
        "finess": _finess(department, serial, valid=not defect or draw(st.sampled_from([True, True, False]))),
        "name": f"{category} {department}-{serial}",
        "department": department,
        "category": category,
        "casf_item": casf,
        "sector": sector,
        "financed_by": draw(st.lists(st.sampled_from(FUNDERS), unique=True, max_size=4)),
        "confort_share": confort,
    }


@st.composite
def structures(draw, pilots: bool = False) -> list[dict]:
    """0..60 structures, with a geography, a sector mix, defects and duplicates drawn per list."""
    n = draw(st.sampled_from(INTERESTING_SIZES) | st.integers(0, 60))
    geography = draw(st.sampled_from(["one_region", "corsica_overseas", "two_regions", "spread"]))
    if geography == "one_region":
        departments = REGIONS[draw(st.sampled_from(sorted(REGIONS)))]
    elif geography == "corsica_overseas":
        departments = CORSICA_OVERSEAS
    elif geography == "two_regions":
        a, b = draw(st.lists(st.sampled_from(sorted(REGIONS)), min_size=2, max_size=2, unique=True))
        departments = REGIONS[a] + REGIONS[b]
    else:
        departments = DEPARTMENTS
    covered = PILOT_SECTORS if pilots else SECTORS
    mix = draw(st.sampled_from(["any", "single", "ahi_pjm"]))
    if mix == "single":
        sectors = [draw(st.sampled_from(covered))]
    elif mix == "ahi_pjm" and not pilots:
        sectors = ["AHI", "PJM"]
    else:
        sectors = covered
    # "clean": every structure counts; "some": each structure may carry defects.
    defects = draw(st.sampled_from(["clean", "some"]))
    base = draw(st.integers(0, 10**5))
    out = [
        draw(structure(departments, sectors, base + i,
                       defect=defects == "some" and draw(st.booleans()), pilots=pilots))
        for i in range(n)
    ]
    # Duplicated FINESS: copy an earlier structure's FINESS (or the whole structure) later on.
    if n >= 2:
        pairs = draw(st.lists(st.tuples(st.integers(1, n - 1), st.integers(0, n - 1),
                                        st.booleans()), max_size=3))
        for later, earlier, whole in pairs:
            earlier %= later
            if whole:
                out[later] = copy.deepcopy(out[earlier])
            else:
                out[later]["finess"] = out[earlier]["finess"]
    return out


# Boolean drawn mostly True (or mostly False): keeps enough eligible dossiers while every
# combination still occurs. Shrinks toward the first value.
MOSTLY_TRUE = st.sampled_from([True, True, True, False])
MOSTLY_FALSE = st.sampled_from([False, False, False, True])


@st.composite
def other_eu_funding(draw) -> list[dict]:
    """Often empty; otherwise 1-3 entries, mostly for another object."""
    return draw(st.just([]) | st.lists(
        st.fixed_dictionaries({
            "programme": st.sampled_from(["FEDER", "FSE+", "REACT-EU", "FEADER"]),
            "same_object": MOSTLY_FALSE,
        }),
        min_size=1, max_size=3,
    ))


@st.composite
def dossiers(draw, policy: str | None = None) -> dict:
    """A valid contract dossier; ``policy`` (e.g. "esms-numerique-2025") pins the pair."""
    policy = policy or draw(st.sampled_from(sorted(POLICY_PAIRS)))
    programme, campaign = POLICY_PAIRS[policy]
    pilots = programme == "mes-pilotes"

    convention = draw(st.none() | st.dates(dt.date(campaign, 1, 1), dt.date(campaign + 1, 12, 31)))
    if convention is None:
        candidate = draw(st.none() | st.dates(dt.date(campaign - 1, 1, 1), dt.date(campaign + 1, 12, 31)))
    else:  # before / on / after the convention date
        days = draw(st.none() | st.sampled_from([-30, -1, 0, 1, 30]) | st.integers(-400, 400))
        candidate = None if days is None else convention + dt.timedelta(days=days)

    dossier = {
        "id": f"GEN-{campaign}-{draw(st.integers(0, 9999)):04d}",
        "campaign": campaign,
        "programme": programme,
        "call": draw(st.sampled_from(["regional", "national", "regional"])),
        "submitted_at": draw(submitted_at(campaign)),
        "convention_signed_on": None if convention is None else convention.isoformat(),
        "applicant": {
            "name": draw(st.sampled_from(["Association Exemple", "CCAS de Lille", "GCSMS Ouest"])),
            "legal_form": draw(st.sampled_from(["private", "public"])),
            "gcsms": draw(st.booleans()),
        },
        "software": {
            "action": draw(st.sampled_from(["acquisition", "mise_en_conformite"])),
            "segur_referenced": draw(MOSTLY_TRUE),
            "segur_candidate_on": None if candidate is None else candidate.isoformat(),
            "resah_referenced": draw(MOSTLY_TRUE),
            "mes_compatible": draw(st.booleans()),
        },
        "other_eu_funding": draw(other_eu_funding()),
        "structures": draw(structures(pilots=pilots)),
    }
    if programme == "esms-numerique" and draw(st.booleans()):
        del dossier["programme"]  # optional: esms-numerique is the default
    return dossier


# --- Broken dossiers -------------------------------------------------------------------------
#
# Each break returns (path, kind, apply); apply(dossier) makes the break in place.

def _set(path_keys, value):
    def apply(d):
        target = d
        for k in path_keys[:-1]:
            target = target[k]
        target[path_keys[-1]] = value
    return apply


def _delete(path_keys):
    def apply(d):
        target = d
        for k in path_keys[:-1]:
            target = target[k]
        del target[path_keys[-1]]
    return apply


def _path(keys) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
    return out


# Values of the wrong JSON type, per expected type (null excluded where null is valid).
WRONG_FOR_STRING = [123, None, True, ["x"], {"x": 1}]
WRONG_FOR_NULLABLE_STRING = [123, True, ["2025-01-01"], {}]
WRONG_FOR_INT = ["2025", None, True, 2025.5, [2025]]
WRONG_FOR_BOOL = ["true", 1, 0, None, "yes"]
INVALID_DATES = ["2025-02-30", "2025-13-01", "01/12/2025", "", "tomorrow", "2025-02-29"]
INVALID_DATETIMES = [
    "2025-09-15T22:10:00",        # no offset
    "2025-09-15",                 # a date, no time, no offset
    "2025-09-31T10:00:00+02:00",  # no such day
    "2025-09-15T25:00:00+02:00",  # no such hour
    "2025-09-15T22:10:00+25:00",  # offset out of range
    "last monday",
    "",
]

TOP_REQUIRED = ["id", "campaign", "call", "submitted_at", "convention_signed_on", "applicant",
                "software", "other_eu_funding", "structures"]
APPLICANT_FIELDS = ["name", "legal_form", "gcsms"]
SOFTWARE_FIELDS = ["action", "segur_referenced", "segur_candidate_on", "resah_referenced",
                   "mes_compatible"]
STRUCTURE_FIELDS = ["finess", "name", "department", "category", "casf_item", "sector",
                    "financed_by", "confort_share"]


@st.composite
def _break_top(draw, d):
    kind = draw(st.sampled_from(["missing", "type", "enum", "date", "datetime", "pair"]))
    if kind == "missing":
        key = draw(st.sampled_from(TOP_REQUIRED))
        return key, kind, _delete([key])
    if kind == "type":
        key = draw(st.sampled_from(TOP_REQUIRED + ["programme"]))
        wrong = {
            "id": WRONG_FOR_STRING, "call": WRONG_FOR_STRING, "submitted_at": WRONG_FOR_STRING,
            "programme": WRONG_FOR_STRING, "campaign": WRONG_FOR_INT,
            "convention_signed_on": WRONG_FOR_NULLABLE_STRING,
            "applicant": ["Association", None, [], 1],
            "software": ["DUI", None, [], True],
            "other_eu_funding": [None, {}, "FEDER", 0],
            "structures": [None, {}, "EHPAD", 3],
        }[key]
        return key, ("programme" if key == "programme" else kind), _set([key], draw(st.sampled_from(wrong)))
    if kind == "enum":
        key, values = draw(st.sampled_from([
            ("call", ["departemental", "Regional", "NATIONAL", ""]),
            ("programme", ["esms", "ESMS-numerique", "mes_pilotes", ""]),
        ]))
        return key, ("programme" if key == "programme" else kind), _set([key], draw(st.sampled_from(values)))
    if kind == "date":
        return "convention_signed_on", kind, _set(["convention_signed_on"],
                                                  draw(st.sampled_from(INVALID_DATES)))
    if kind == "datetime":
        return "submitted_at", kind, _set(["submitted_at"], draw(st.sampled_from(INVALID_DATETIMES)))
    # A (programme, campaign) pair with no policy in force: only the campaign changes.
    if d.get("programme", "esms-numerique") == "mes-pilotes":
        campaign = draw(st.sampled_from([2021, 2022, 2024, 2025]))
    else:
        campaign = draw(st.sampled_from([2019, 2020, 2026, 2030]))
    return "campaign", "pair", _set(["campaign"], campaign)


@st.composite
def _break_applicant(draw, d):
    key = draw(st.sampled_from(APPLICANT_FIELDS))
    keys = ["applicant", key]
    kind = draw(st.sampled_from(["missing", "type", "enum"] if key == "legal_form" else ["missing", "type"]))
    if kind == "missing":
        return _path(keys), kind, _delete(keys)
    if kind == "enum":
        return _path(keys), kind, _set(keys, draw(st.sampled_from(["associative", "Public", "privé"])))
    wrong = WRONG_FOR_BOOL if key == "gcsms" else WRONG_FOR_STRING
    return _path(keys), kind, _set(keys, draw(st.sampled_from(wrong)))


@st.composite
def _break_software(draw, d):
    key = draw(st.sampled_from(SOFTWARE_FIELDS))
    keys = ["software", key]
    kinds = ["missing", "type"]
    if key == "action":
        kinds.append("enum")
    if key == "segur_candidate_on":
        kinds.append("date")
    kind = draw(st.sampled_from(kinds))
    if kind == "missing":
        return _path(keys), kind, _delete(keys)
    if kind == "enum":
        return _path(keys), kind, _set(keys, draw(st.sampled_from(["location", "Acquisition", ""])))
    if kind == "date":
        return _path(keys), kind, _set(keys, draw(st.sampled_from(INVALID_DATES)))
    wrong = {"action": WRONG_FOR_STRING, "segur_candidate_on": WRONG_FOR_NULLABLE_STRING}.get(
        key, WRONG_FOR_BOOL)
    return _path(keys), kind, _set(keys, draw(st.sampled_from(wrong)))


def _ensure_entry(d, list_key, entry):
    """Append ``entry`` to ``d[list_key]`` when the list is empty (so index 0 exists)."""
    if isinstance(d.get(list_key), list) and not d[list_key]:
        d[list_key].append(entry)


@st.composite
def _break_eu_funding(draw, d):
    if not isinstance(d.get("other_eu_funding"), list):
        return None
    size = max(len(d["other_eu_funding"]), 1)
    i = draw(st.integers(0, size - 1))
    kind = draw(st.sampled_from(["entry", "missing", "type"]))
    key = draw(st.sampled_from(["programme", "same_object"]))
    keys = ["other_eu_funding", i] if kind == "entry" else ["other_eu_funding", i, key]
    if kind == "entry":
        change = _set(keys, draw(st.sampled_from(["FEDER", None, 1, ["FEDER"]])))
    elif kind == "missing":
        change = _delete(keys)
    else:
        change = _set(keys, draw(st.sampled_from(WRONG_FOR_BOOL if key == "same_object" else WRONG_FOR_STRING)))

    def apply(dd):
        _ensure_entry(dd, "other_eu_funding", {"programme": "FEDER", "same_object": False})
        change(dd)
    return _path(keys), kind, apply


BAD_DEPARTMENTS = ["975", "20", "00", "96", "2C", "9", "059", "980", "", 59]
BAD_FINESS = ["59000001", "5900000011", "", "A", 590000001, None]
BAD_CONFORT = [-0.1, 1.01, 2, -1, "0.5", None, True]
BAD_CASF = [0, 18, -1, 100, "6", True]


@st.composite
def _break_structure(draw, d):
    if not isinstance(d.get("structures"), list):
        return None
    size = max(len(d["structures"]), 1)
    i = draw(st.integers(0, size - 1))
    kind = draw(st.sampled_from(["entry", "missing", "type", "value"]))
    key = draw(st.sampled_from(STRUCTURE_FIELDS))
    keys = ["structures", i] if kind == "entry" else ["structures", i, key]
    if kind == "entry":
        change = _set(keys, draw(st.sampled_from(["590000001", None, 6, []])))
    elif kind == "missing":
        change = _delete(keys)
    elif kind == "type":
        wrong = {
            "casf_item": ["6", True, 6.5, [6]],       # null is valid here
            "confort_share": ["0.5", None, True, []],
            "financed_by": ["ARS", None, {"ARS": True}, 1],
        }.get(key, WRONG_FOR_STRING)
        change = _set(keys, draw(st.sampled_from(wrong)))
    else:  # a value of the right type but out of the contract's domain
        if key == "financed_by":  # unknown funder: named by the element's path
            j = draw(st.integers(0, 2))
            keys = keys + [j]
            bad = draw(st.sampled_from(["Region", "ars", "CNSA", ""]))

            def change(dd, keys=keys, bad=bad):
                funders = dd["structures"][keys[1]]["financed_by"]
                funders[:] = list(dict.fromkeys(funders + FUNDERS))[:j]  # valid, distinct
                funders.append(bad)
        else:
            values = {
                "finess": BAD_FINESS, "department": BAD_DEPARTMENTS, "casf_item": BAD_CASF,
                "confort_share": BAD_CONFORT,
                "sector": ["pa", "PA ", "personnes âgées", "enfants", ""],
                "name": WRONG_FOR_STRING, "category": WRONG_FOR_STRING,
            }[key]
            change = _set(keys, draw(st.sampled_from(values)))

    def apply(dd):
        _ensure_entry(dd, "structures", {
            "finess": "350000001", "name": "EHPAD", "department": "35", "category": "EHPAD",
            "casf_item": 6, "sector": "PA", "financed_by": ["ARS"], "confort_share": 0.0})
        change(dd)
    return _path(keys), kind, apply


def _overlaps(p: str, q: str) -> bool:
    """Same path, or one inside the other (``structures`` vs ``structures[0].finess``)."""
    short, long_ = sorted((p, q), key=len)
    return long_ == short or long_.startswith(short + ".") or long_.startswith(short + "[")


@st.composite
def bad_dossiers(draw):
    """``(dossier, expected_paths)``: a dossier that breaks the contract in 1-3 ways.

    ``expected_paths`` is the exact set of JSON paths a validator must name (a path is written
    ``campaign``, ``applicant.legal_form``, ``structures[3].finess``,
    ``structures[0].financed_by[1]``, ``other_eu_funding[0].same_object``). Breaks never
    overlap (no break inside another broken node), so each one yields exactly one path:

    ====================================  ==================================================
    break                                 path emitted
    ====================================  ==================================================
    missing required field                the missing field's path (``software.action``,
                                          ``convention_signed_on``, ``structures[2].sector``);
                                          nullable fields (``convention_signed_on``,
                                          ``software.segur_candidate_on``, ``casf_item``) are
                                          still required keys; only ``programme`` is optional
    wrong JSON type (incl. bool for int,  the field's path (``campaign``, ``applicant``,
    int for bool, a string for a list)    ``structures``, ``structures[1].casf_item``)
    list entry that is not an object      the entry's path (``structures[4]``,
                                          ``other_eu_funding[0]``)
    unknown enum value                    the field's path (``call``, ``programme``,
                                          ``applicant.legal_form``, ``software.action``,
                                          ``structures[0].sector``); an unknown funder is
                                          named by its element, ``structures[0].financed_by[1]``
    invalid ISO date                      ``convention_signed_on``, ``software.segur_candidate_on``
    invalid date-time or no offset        ``submitted_at``
    FINESS not 9 characters / not str     ``structures[i].finess``
    confort_share outside 0…1 / not num   ``structures[i].confort_share``
    casf_item outside 1…17 / not int      ``structures[i].casf_item``
    department outside the list           ``structures[i].department`` (975, 20, 00, 96, 2C…)
    (programme, campaign) not in force    ``campaign`` (only the campaign is changed, to a
                                          valid int such as 2020 or mes-pilotes 2024)
    ====================================  ==================================================

    When ``programme`` is broken (wrong type or unknown value) the pair cannot be judged, and no
    ``campaign`` pair break is combined with it: the expected set then holds ``programme`` (and
    ``campaign`` only if the campaign itself has the wrong type or is missing). When a break
    needs ``structures[0]`` or ``other_eu_funding[0]`` and the list is empty, a valid entry is
    appended first, so the rest of the dossier stays valid. Unknown extra fields are never used
    here: they are a warning, not an error.
    """
    dossier = copy.deepcopy(draw(dossiers()))
    paths: set[str] = set()
    kinds: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        maker = draw(st.sampled_from([_break_top, _break_applicant, _break_software,
                                      _break_eu_funding, _break_structure]))
        got = draw(maker(dossier))
        if got is None:
            continue
        path, kind, apply = got
        if any(_overlaps(path, p) for p in paths):
            continue
        if {kind} | kinds >= {"pair", "programme"}:  # pair unjudgeable with a broken programme
            continue
        apply(dossier)  # no overlap, so the parent of ``path`` is still intact
        paths.add(path)
        kinds.add(kind)
    if not paths:  # every attempt collided: fall back to one simple break
        del dossier["id"]
        paths.add("id")
    return dossier, frozenset(paths)
