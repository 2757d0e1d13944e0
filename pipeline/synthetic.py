"""Synthetic households for the example commune, and ODK Central-shaped export files of them.

Everything here is invented: names, ID numbers, phones and GPS points are drawn from a seeded
random generator and belong to nobody. The module has two halves.

**The generator.** `generate_commune(hamlets, questionnaire, seed, ...)` returns one *neutral
submission dict* per household (see `generate_commune` for the shape). Field names and choice
codes are read from the questionnaire (`rasoat.forms`), and every code the generator uses is
checked against it, so a renamed field or choice fails loudly here. The same seed gives the same
dicts; nothing reads the clock or global random state.

Calibration (the demo data of the project, measured on the 24 example hamlets): per-capita
monthly income ``(sum income_* - production_costs) / 12 / members`` is at or below the area's
2022-2026 income line for about 3.5 % of households (so ~1 % poor and ~2.5 % near-poor), and
roughly 30 % of those are deprived in three or more of the twelve indicators. Low-income
households are more often Khmer, more often lack health insurance, safe water, a hygienic latrine,
a durable house, a labour contract, and an upper-secondary qualification among young adults.

**Dirt** (only with ``dirt=True``; all of it chosen by the seed, so it is the same every run).
How to find each in the output:

* *NFD names* - five households whose head name (``answers["head_name"]`` and the head member's
  ``member_name``) is stored decomposed: ``unicodedata.is_normalized("NFC", name)`` is False.
* *Untidy spacing / case* - three head names with a doubled space between two words, and two
  typed all lower case (in both ``head_name`` and the head member's name).
* *Typos* - two households whose ``head_name`` has one letter dropped or two letters swapped, while
  the head member's ``member_name`` keeps the right spelling (they differ after NFC, case folding
  and space collapsing).
* *Impossible birth year* - one non-head member born in 1890 (``birth_year < 1900``).
* *Household surveyed twice* - one ``household_id`` occurs in two submissions with different
  ``__id``; the second one was submitted 2-6 days later, by another enumerator, with a new phone
  number, a re-measured floor area and a different wage income.
* *Rejected* - one submission with ``review_state == "rejected"``.
* *Edited* - one submission present in two versions (two dicts with the same ``__id``): the first
  version (``instance_id == __id``), and the edit (new ``instance_id``, ``review_state ==
  "edited"``, a later ``updated_at``, ``"deprecated_id"`` = the first version's instance ID, one
  income amount corrected). Exports keep only the edit.

The dirty cases never overlap (a household carries at most one kind), and none is a head-only
household, so each can be found by the rule given.

**The writers** render neutral dicts exactly as ODK Central hands them out:
`central_csv_tables` / `write_central_csv_zip` (the ``submissions.csv.zip`` export with
``splitSelectMultiples=true``, group paths joined by ``-``), and `odata_pages` /
`write_central_odata_json` (``.svc/Submissions?$expand=*``, one JSON file per page). Both keep only
the newest version of each submission and list submissions newest first, as Central does.
"""

from __future__ import annotations

import base64
import bisect
import csv
import hashlib
import io
import json
import math
import random
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote

__all__ = [
    "SyntheticHamlet",
    "load_example_hamlets",
    "questionnaire_for",
    "generate_commune",
    "iter_commune",
    "newest_versions",
    "per_capita_monthly_income",
    "central_csv_tables",
    "write_central_csv_zip",
    "odata_pages",
    "write_central_odata_json",
]

VN_TZ = timezone(timedelta(hours=7))
DEFAULT_INTERVIEW_DATE = date(2026, 10, 15)
DEFAULT_ODATA_BASE = "https://central.example.org/v1/projects/1/forms"


# --------------------------------------------------------------------------------------------
# Hamlets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticHamlet:
    code: str
    name: str
    area_type: str
    resident_households: int


def _as_hamlet(h: Any) -> SyntheticHamlet:
    get = h.get if isinstance(h, Mapping) else (lambda k, d=None: getattr(h, k, d))
    n = get("resident_households")
    return SyntheticHamlet(
        code=str(get("code")),
        name=str(get("name") or get("code")),
        area_type=str(get("area_type") or "rural"),
        resident_households=int(n) if n is not None else 1,
    )


def load_example_hamlets(path: str | Path | None = None) -> list[SyntheticHamlet]:
    """The hamlets of a hamlets.yaml (default: the bundled example list)."""
    import yaml

    if path is None:
        from rasoat.config import BUNDLED_CONFIG_DIR

        path = Path(BUNDLED_CONFIG_DIR) / "hamlets.yaml"
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return [_as_hamlet(h) for h in data["hamlets"]]


def questionnaire_for(hamlets: Iterable[Any], questionnaire=None):
    """The questionnaire with its hamlet choices replaced by these hamlets."""
    if questionnaire is None:
        from rasoat.forms import load_questionnaire

        questionnaire = load_questionnaire()
    rows = []
    for h in hamlets:
        name_en = (h.get("name_en") if isinstance(h, Mapping) else getattr(h, "name_en", None))
        hh = _as_hamlet(h)
        rows.append((hh.code, hh.name, name_en or hh.code))
    return questionnaire.with_hamlets(rows)


# --------------------------------------------------------------------------------------------
# Vocabulary: every code the generator uses, checked against the questionnaire
# --------------------------------------------------------------------------------------------

_USED_CODES: dict[str, tuple[str, ...]] = {
    "yes_no": ("yes", "no"),
    "area_type": ("rural", "urban"),
    "sex": ("male", "female"),
    "ethnicity": ("kinh", "khmer", "hoa"),
    "relationship": ("head", "spouse", "child", "child_in_law", "grandchild", "parent",
                     "sibling", "other_relative", "other"),
    "school_level": ("preschool", "primary", "lower_secondary", "upper_secondary", "vocational",
                     "higher"),
    "qualification": ("none", "primary", "lower_secondary", "upper_secondary",
                      "vocational_certificate", "college_university"),
    "labour_status": ("wage_worker", "self_employed", "unemployed", "student", "homemaker",
                      "retired", "unable_to_work"),
    "nutrition": ("normal", "stunted", "underweight", "unknown"),
    "wall_material": ("brick_concrete", "wood_durable", "metal_sheet", "wood_poor",
                      "bamboo_leaves", "makeshift"),
    "frame_material": ("reinforced_concrete", "steel", "wood_durable", "wood_poor", "bamboo",
                       "makeshift"),
    "roof_material": ("concrete", "tiles", "metal_sheet", "fibre_cement", "leaves_straw",
                      "makeshift"),
    "water_source": ("piped", "borehole", "protected_well", "rainwater", "bottled",
                     "unprotected_well", "surface", "other"),
    "latrine": ("septic", "semi_septic", "pour_flush", "double_vault", "pit", "over_water",
                "none"),
    "waste": ("collected", "composted_buried", "burned", "dumped"),
    "electricity": ("grid_safe", "grid_unsafe", "other", "none"),
    "info_asset": ("tv", "radio", "computer", "smartphone", "none"),
    "poverty_reason": ("land", "capital", "labour", "tools", "know_how", "skills", "illness",
                       "other"),
    "support_need": ("health", "education", "production", "credit", "housing", "other"),
}

_HOUSEHOLD_FIELDS = (
    "started_at", "ended_at", "device_id", "hamlet", "previous_household", "previous_status",
    "new_household_id", "household_id", "head_name",
    "head_id_number", "phone", "address", "location", "ethnicity", "area_type", "consent",
    "previous_class", "screened_out", "screen_reason",
    "household_size", "wall_material", "frame_material", "roof_material", "floor_area",
    "water_source", "latrine", "waste_disposal", "electricity", "info_assets",
    "loudspeaker_reach", "income_crops", "income_livestock", "income_aquaculture",
    "income_wages", "income_business", "income_pensions", "income_remittances", "income_other",
    "production_costs", "merit_member", "poverty_reasons", "support_needs", "enumerator",
    "interview_date",
)
_MEMBER_FIELDS = (
    "member_name", "sex", "birth_year", "age", "relationship", "member_id_number", "member_ethnicity",
    "in_school", "school_level", "qualification", "labour_status", "labour_contract",
    "health_insurance", "disability", "social_allowance", "child_nutrition", "uses_phone",
    "uses_internet",
)
INCOME_FIELDS = (
    "income_crops", "income_livestock", "income_aquaculture", "income_wages", "income_business",
    "income_pensions", "income_remittances", "income_other",
)


def _screen_questions(q) -> list[str]:
    return [f.name for f in q.household_fields if f.groups[:1] == ("screen",) and f.choice_list == "yes_no"]


def _check_questionnaire(q) -> None:
    """Fail loudly if the questionnaire lost a field or a code the generator writes."""
    # The quick-screen questions come from config and the summary calculates from the rule set:
    # the generator answers every screen question "no" and, like a phone that skipped the summary
    # page, leaves the summary empty (the pipeline never trusts it).
    hh = [f.name for f in q.household_fields if f.groups[:1] != ("summary",) and f.name not in _screen_questions(q)]
    mm = [f.name for f in q.member_fields]
    if sorted(hh) != sorted(_HOUSEHOLD_FIELDS):
        raise ValueError(
            "synthetic generator and questionnaire disagree on household fields: "
            f"missing {sorted(set(_HOUSEHOLD_FIELDS) - set(hh))}, "
            f"unknown {sorted(set(hh) - set(_HOUSEHOLD_FIELDS))}"
        )
    if sorted(mm) != sorted(_MEMBER_FIELDS):
        raise ValueError(
            "synthetic generator and questionnaire disagree on member fields: "
            f"missing {sorted(set(_MEMBER_FIELDS) - set(mm))}, "
            f"unknown {sorted(set(mm) - set(_MEMBER_FIELDS))}"
        )
    for list_name, codes in _USED_CODES.items():
        have = set(q.choices.get(list_name, ()))
        missing = [c for c in codes if c not in have]
        if missing:
            raise ValueError(f"choice list {list_name!r} lacks codes {missing}")


class _Pick:
    """Weighted choice with one random() call (much faster than random.choices)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, weights: Mapping[str, float] | Sequence[tuple[Any, float]]):
        pairs = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        self.items = [p[0] for p in pairs]
        acc, cum = 0.0, []
        for _, w in pairs:
            acc += w
            cum.append(acc)
        self.cum, self.total = cum, acc

    def __call__(self, r: random.Random):
        return self.items[bisect.bisect_right(self.cum, r.random() * self.total)]


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

_KINH_FAMILY = _Pick({
    "Nguyễn": 31, "Trần": 11, "Lê": 9, "Phạm": 5, "Huỳnh": 6, "Võ": 5, "Phan": 4, "Đặng": 2,
    "Bùi": 2, "Đỗ": 1.5, "Hồ": 1.5, "Ngô": 1.5, "Dương": 1, "Lý": 1, "Trương": 1.5, "Đinh": 0.5,
    "Lâm": 1, "Mai": 0.5, "Tô": 0.5, "Cao": 0.5, "Châu": 0.5, "Đoàn": 0.8, "Lương": 0.5,
    "Quách": 0.3, "Thái": 0.4, "Từ": 0.3,
})
_KHMER_FAMILY = _Pick({"Thạch": 30, "Danh": 25, "Sơn": 15, "Kim": 10, "Lâm": 6, "Châu": 6,
                       "Lý": 4, "Trần": 4})
_HOA_FAMILY = _Pick({"Lâm": 4, "Quách": 3, "Lý": 3, "Trương": 3, "Mã": 2, "Tăng": 2, "Hứa": 2,
                     "Diệp": 1, "La": 1, "Từ": 1})
_MIDDLE_M = _Pick({"Văn": 8, "Hữu": 1.5, "Minh": 2, "Quốc": 1.5, "Thanh": 1.5, "Công": 1,
                   "Đức": 1, "Hoàng": 1, "Trung": 0.7, "Tấn": 1, "Chí": 0.7})
_MIDDLE_F = _Pick({"Thị": 10, "Ngọc": 2.5, "Thanh": 1, "Kim": 1.5, "Mỹ": 1.5, "Bích": 1,
                   "Thúy": 1, "Hồng": 0.8})
_GIVEN_M = _Pick([(n, 1) for n in (
    "Hùng", "Dũng", "Tuấn", "Phúc", "Lộc", "Tài", "Hiếu", "Nam", "Long", "Khoa", "Bảo", "Huy",
    "Tâm", "Thành", "Sang", "Phong", "Tùng", "Vinh", "Quang", "Toàn", "Trí", "Nghĩa", "Thắng",
    "Hòa", "Bình", "Cường", "Hải", "Sơn", "Tú", "Kiệt", "Phát", "Thiện", "Đạt", "Khang",
    "Nhân", "Lợi", "Hậu", "Tín", "Danh", "Em", "Út", "Hên", "Mười", "Chín", "Sáu",
)])
_GIVEN_F = _Pick([(n, 1) for n in (
    "Lan", "Hoa", "Hồng", "Mai", "Hương", "Linh", "Trang", "Thảo", "Nhung", "Phương", "Yến",
    "Tuyết", "Loan", "Diễm", "Ngân", "Trinh", "Hạnh", "Thu", "Vân", "Nga", "Tiên", "Hằng",
    "Duyên", "My", "Như", "Nhi", "Ánh", "Châu", "Xuân", "Liên", "Thắm", "Hiền", "Cúc", "Lệ",
    "Út", "Bé", "Đào", "Kiều", "Oanh", "Quyên",
)])
_KHMER_MIDDLE_M = _Pick({"Văn": 5, "": 4, "Hữu": 0.5})
_KHMER_MIDDLE_F = _Pick({"Thị": 6, "": 3, "Ngọc": 0.5})
_KHMER_GIVEN_M = _Pick([(n, 1) for n in (
    "Sóc", "Phol", "Sang", "Chanh", "Sa Rết", "Sà Phên", "Khol", "Mến", "Dên", "Kha", "Sươl",
    "Ty", "Pha", "Chơn", "Hên", "Rinh", "Thol", "Sà Rươne", "Minh", "Út",
)])
_KHMER_GIVEN_F = _Pick([(n, 1) for n in (
    "Sa Ry", "Sa Rinh", "Sóc Phi", "Chanh Thu", "Sà Ly", "Mây", "Ngọt", "Kim Ngân", "Sa Vanh",
    "Thy", "Na", "Sà Khon", "Sa Thi", "Phưng", "Sóc Lý", "Mỹ Hằng",
)])
_GIVEN_HOA_M = _Pick({"Kiệt": 1, "Phát": 1, "Thái": 1, "Hào": 1, "Vĩnh": 1, "Quý": 1, "Cường": 1})
_GIVEN_HOA_F = _Pick({"Huê": 1, "Mỹ Linh": 1, "Muội": 1, "Ngọc Hân": 1, "Tú Anh": 1, "Lệ": 1})
_FAMILY_BY_ETHNICITY = {"kinh": _KINH_FAMILY, "khmer": _KHMER_FAMILY, "hoa": _HOA_FAMILY}


def _full_name(r: random.Random, family: str, male: bool, ethnicity: str) -> str:
    if ethnicity == "khmer":
        middle = (_KHMER_MIDDLE_M if male else _KHMER_MIDDLE_F)(r)
        given = (_KHMER_GIVEN_M if male else _KHMER_GIVEN_F)(r)
    else:
        middle = (_MIDDLE_M if male else _MIDDLE_F)(r)
        if ethnicity == "hoa" and r.random() < 0.5:
            given = (_GIVEN_HOA_M if male else _GIVEN_HOA_F)(r)
        else:
            given = (_GIVEN_M if male else _GIVEN_F)(r)
    return f"{family} {middle} {given}" if middle else f"{family} {given}"


_ENUMERATOR_POOL = (
    "Nguyễn Thị Thu Hà", "Trần Văn Lực", "Lê Thị Kim Yến", "Phạm Minh Trí", "Huỳnh Thị Ngọc",
    "Võ Văn Bé", "Đặng Thị Hồng Nhung", "Bùi Quốc Khánh", "Thạch Thị Sa Rinh", "Danh Văn Út",
    "Nguyễn Văn Thành", "Trần Thị Mỹ Linh", "Lê Hoàng Phúc", "Phan Thị Cẩm Tú", "Dương Văn Hải",
    "Ngô Thị Thanh Thảo", "Lâm Văn Sang", "Châu Thị Diễm", "Hồ Văn Tâm", "Trương Thị Lan",
    "Sơn Văn Chanh", "Mai Thị Bích Trâm", "Đỗ Minh Hiếu", "Kim Thị Sa Ry", "Tô Văn Lộc",
    "Cao Thị Phương", "Lý Văn Hùng", "Đoàn Thị Yến Nhi", "Nguyễn Hữu Nghĩa", "Trần Thị Út",
)


# --------------------------------------------------------------------------------------------
# Household composition
# --------------------------------------------------------------------------------------------

_KIDS_NUCLEAR = _Pick({1: 0.36, 2: 0.45, 3: 0.14, 4: 0.05})
_KIDS_SINGLE = _Pick({1: 0.55, 2: 0.33, 3: 0.12})
_GRANDKIDS = _Pick({1: 0.4, 2: 0.45, 3: 0.15})


def _ri(r: random.Random, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi]; lo if the range is empty."""
    if hi <= lo:
        return lo
    return lo + int(r.random() * (hi - lo + 1))


def _kids(r, k, mother_age, father_age, max_age=30):
    """Ages of k children of a couple (or single parent) with these ages."""
    young = min(a for a in (mother_age, father_age) if a is not None)
    hi = min(young - 18, max_age)
    lo = max(0, (mother_age if mother_age is not None else young) - 44)
    return sorted((_ri(r, lo, hi) for _ in range(k)), reverse=True)


def _composition(r: random.Random, tier: int) -> list[tuple[str, bool, int, str]]:
    """Members as (relationship, male, age, family-name key).

    Family-name keys: head, spouse, pat (children of the head's couple), inlaw, gk (children of
    the married child), mother (head's mother), other.
    """
    t = r.random()
    # Poorer households are more often lone elderly people and single parents.
    single_p, old_couple_p, young_couple_p, nuclear_p, single_parent_p, three_a_p = (
        (0.07, 0.065, 0.035, 0.49, 0.07, 0.145) if tier == 0 else (0.1, 0.07, 0.03, 0.44, 0.1, 0.13)
    )
    m: list[tuple[str, bool, int, str]] = []
    c1 = single_p
    c2 = c1 + old_couple_p
    c3 = c2 + young_couple_p
    c4 = c3 + nuclear_p
    c5 = c4 + single_parent_p
    c6 = c5 + three_a_p
    if t < c1:  # one person
        old = r.random() < 0.62
        age = _ri(r, 58, 90) if old else _ri(r, 24, 57)
        m.append(("head", r.random() < (0.35 if old else 0.6), age, "head"))
    elif t < c3:  # couple without children at home
        head_age = _ri(r, 58, 86) if t < c2 else _ri(r, 21, 34)
        male = r.random() < 0.88
        m.append(("head", male, head_age, "head"))
        gap = _ri(r, 0, 7)
        m.append(("spouse", not male, max(18, head_age - gap if male else head_age + gap), "spouse"))
    elif t < c4:  # couple with children
        head_age = _ri(r, 24, 62)
        male = r.random() < 0.86
        gap = _ri(r, 0, 7)
        spouse_age = max(18, head_age - gap if male else head_age + gap)
        m.append(("head", male, head_age, "head"))
        m.append(("spouse", not male, spouse_age, "spouse"))
        mother, father = (spouse_age, head_age) if male else (head_age, spouse_age)
        for a in _kids(r, _KIDS_NUCLEAR(r), mother, father):
            m.append(("child", r.random() < 0.51, a, "pat"))
    elif t < c5:  # single parent
        head_age = _ri(r, 27, 62)
        male = r.random() < 0.2
        m.append(("head", male, head_age, "head"))
        for a in _kids(r, _KIDS_SINGLE(r), None if male else head_age, head_age):
            m.append(("child", r.random() < 0.51, a, "pat"))
    elif t < c6:  # older couple (or widow) with a married child and grandchildren
        head_age = _ri(r, 52, 82)
        male = r.random() < 0.72
        m.append(("head", male, head_age, "head"))
        mother_age = head_age
        if r.random() < 0.8:
            gap = _ri(r, 0, 6)
            spouse_age = max(40, head_age - gap if male else head_age + gap)
            m.append(("spouse", not male, spouse_age, "spouse"))
            mother_age = spouse_age if male else head_age
            young = min(head_age, spouse_age)
        else:
            young = head_age
            if male:
                mother_age = head_age - 3
        child_age = _ri(r, max(20, mother_age - 42), min(young - 19, 46))
        son = r.random() < 0.7
        m.append(("child", son, child_age, "pat"))
        inlaw_age = None
        if r.random() < 0.88:
            inlaw_age = max(18, child_age + (-_ri(r, 0, 5) if son else _ri(r, 0, 5)))
            m.append(("child_in_law", not son, inlaw_age, "inlaw"))
        gk_mother = (inlaw_age if son else child_age) or child_age
        gk_young = min(child_age, inlaw_age) if inlaw_age else child_age
        for _ in range(_GRANDKIDS(r)):
            a = _ri(r, max(0, gk_mother - 42), min(gk_young - 18, 25))
            m.append(("grandchild", r.random() < 0.51, a, "gk" if son else "gk_d"))
        if r.random() < 0.3:  # an unmarried younger child still at home
            a = _ri(r, max(15, mother_age - 44), min(young - 18, child_age - 1))
            m.append(("child", r.random() < 0.5, a, "pat"))
    else:  # couple with children and the head's parent(s)
        head_age = _ri(r, 28, 56)
        male = r.random() < 0.9
        gap = _ri(r, 0, 6)
        spouse_age = max(18, head_age - gap if male else head_age + gap)
        m.append(("head", male, head_age, "head"))
        m.append(("spouse", not male, spouse_age, "spouse"))
        mother, father = (spouse_age, head_age) if male else (head_age, spouse_age)
        for a in _kids(r, _KIDS_NUCLEAR(r), mother, father):
            m.append(("child", r.random() < 0.51, a, "pat"))
        father_age = min(96, head_age + _ri(r, 22, 38))
        mother_age = max(head_age + 18, father_age - _ri(r, 0, 6))
        both = r.random() < 0.4
        if both or r.random() < 0.35:
            m.append(("parent", True, father_age, "father"))
        if both or not any(x[0] == "parent" for x in m):
            m.append(("parent", False, min(98, mother_age), "mother"))
    head_age = m[0][2]
    x = r.random()
    if x < 0.03:
        m.append(("sibling", r.random() < 0.5, max(15, head_age + _ri(r, -12, 8)), "father"))
    elif x < 0.045:
        m.append(("other_relative", r.random() < 0.5, _ri(r, 8, 30), "other"))
    elif x < 0.05:
        m.append(("other", r.random() < 0.5, _ri(r, 18, 60), "other"))
    return m[:10]


# --------------------------------------------------------------------------------------------
# Member attributes
# --------------------------------------------------------------------------------------------

_QUAL_ADULT = [  # by tier: qualification of 18-30 year olds no longer in school
    _Pick({"primary": 0.05, "lower_secondary": 0.17, "upper_secondary": 0.48,
           "vocational_certificate": 0.14, "college_university": 0.16}),
    _Pick({"primary": 0.1, "lower_secondary": 0.3, "upper_secondary": 0.42,
           "vocational_certificate": 0.12, "college_university": 0.06}),
    _Pick({"none": 0.02, "primary": 0.1, "lower_secondary": 0.3, "upper_secondary": 0.44,
           "vocational_certificate": 0.1, "college_university": 0.04}),
]
_QUAL_MID = [  # 31-55
    _Pick({"none": 0.03, "primary": 0.22, "lower_secondary": 0.33, "upper_secondary": 0.27,
           "vocational_certificate": 0.07, "college_university": 0.08}),
    _Pick({"none": 0.06, "primary": 0.35, "lower_secondary": 0.35, "upper_secondary": 0.18,
           "vocational_certificate": 0.04, "college_university": 0.02}),
    _Pick({"none": 0.12, "primary": 0.45, "lower_secondary": 0.3, "upper_secondary": 0.1,
           "vocational_certificate": 0.03}),
]
_QUAL_OLD = [  # 56+
    _Pick({"none": 0.15, "primary": 0.45, "lower_secondary": 0.25, "upper_secondary": 0.1,
           "college_university": 0.05}),
    _Pick({"none": 0.3, "primary": 0.5, "lower_secondary": 0.15, "upper_secondary": 0.05}),
    _Pick({"none": 0.45, "primary": 0.45, "lower_secondary": 0.1}),
]
_WORK_ADULT = [  # 18-60 not in school
    _Pick({"wage_worker": 0.34, "self_employed": 0.5, "homemaker": 0.11, "unemployed": 0.02,
           "unable_to_work": 0.015}),
    _Pick({"wage_worker": 0.4, "self_employed": 0.42, "homemaker": 0.1, "unemployed": 0.04,
           "unable_to_work": 0.03}),
    _Pick({"wage_worker": 0.4, "self_employed": 0.4, "homemaker": 0.1, "unemployed": 0.04,
           "unable_to_work": 0.04}),
]
_WORK_OLD = _Pick({"retired": 0.5, "self_employed": 0.33, "homemaker": 0.1, "wage_worker": 0.03,
                   "unable_to_work": 0.04})
_CONTRACT = (0.8, 0.62, 0.58)  # P(labour contract | wage worker) by tier
_NUTRITION = [
    _Pick({"normal": 0.93, "stunted": 0.025, "underweight": 0.02, "unknown": 0.025}),
    _Pick({"normal": 0.88, "stunted": 0.05, "underweight": 0.04, "unknown": 0.03}),
    _Pick({"normal": 0.86, "stunted": 0.05, "underweight": 0.04, "unknown": 0.05}),
]
_OUT_OF_SCHOOL = (  # P(not in school) by tier for ages 3-5, 6-10, 11-15
    (0.05, 0.004, 0.03), (0.1, 0.01, 0.07), (0.18, 0.03, 0.14),
)

# Household-level deprivation propensities by tier (0: above 1.5 x line, 1: up to 1.5 x line,
# 2: at or below the line).
_P_INSURANCE_GAP = (0.1, 0.18, 0.27)
_P_UNSAFE_WATER = (0.055, 0.09, 0.14)
_P_UNHYGIENIC_LATRINE = (0.13, 0.2, 0.26)
_P_POOR_HOUSING = (0.025, 0.06, 0.09)
_P_CROWDED = (0.02, 0.04, 0.06)
_P_NO_INFO = (0.004, 0.015, 0.03)

_WALL_GOOD = _Pick({"brick_concrete": 0.78, "metal_sheet": 0.14, "wood_durable": 0.08})
_FRAME_GOOD = _Pick({"reinforced_concrete": 0.6, "steel": 0.15, "wood_durable": 0.25})
_ROOF_GOOD = _Pick({"metal_sheet": 0.72, "fibre_cement": 0.1, "tiles": 0.09, "concrete": 0.09})
_WALL_BAD = _Pick({"wood_poor": 0.55, "bamboo_leaves": 0.35, "makeshift": 0.1})
_FRAME_BAD = _Pick({"wood_poor": 0.55, "bamboo": 0.35, "makeshift": 0.1})
_ROOF_BAD = _Pick({"leaves_straw": 0.8, "makeshift": 0.2})
_WATER_SAFE = {
    "rural": _Pick({"piped": 0.56, "borehole": 0.24, "rainwater": 0.12, "bottled": 0.04,
                    "protected_well": 0.04}),
    "urban": _Pick({"piped": 0.92, "bottled": 0.04, "borehole": 0.04}),
}
_WATER_UNSAFE = _Pick({"surface": 0.55, "unprotected_well": 0.35, "other": 0.1})
_LATRINE_OK = _Pick({"septic": 0.7, "semi_septic": 0.2, "pour_flush": 0.1})
_LATRINE_BAD = _Pick({"over_water": 0.45, "pit": 0.2, "double_vault": 0.1, "none": 0.25})
_WASTE = {
    "rural": _Pick({"collected": 0.45, "composted_buried": 0.15, "burned": 0.32, "dumped": 0.08}),
    "urban": _Pick({"collected": 0.9, "composted_buried": 0.03, "burned": 0.06, "dumped": 0.01}),
}
_ELECTRICITY = [
    _Pick({"grid_safe": 0.99, "grid_unsafe": 0.007, "other": 0.002, "none": 0.001}),
    _Pick({"grid_safe": 0.96, "grid_unsafe": 0.03, "other": 0.006, "none": 0.004}),
    _Pick({"grid_safe": 0.92, "grid_unsafe": 0.06, "other": 0.01, "none": 0.01}),
]
_REASONS = _Pick({"capital": 0.3, "land": 0.2, "labour": 0.15, "illness": 0.12, "skills": 0.08,
                  "know_how": 0.06, "tools": 0.05, "other": 0.04})
_NEEDS = _Pick({"credit": 0.3, "production": 0.22, "health": 0.15, "housing": 0.15,
                "education": 0.12, "other": 0.06})

_MEDIAN_PC_INCOME = {"rural": 4_400_000, "urban": 6_000_000}  # VND / person / month
_INCOME_LINE = {"rural": 1_500_000, "urban": 2_000_000}  # 2022-2026, for the tiers only
_INCOME_SIGMA = 0.6


def _multi(r, pick, k, order) -> str:
    chosen = {pick(r) for _ in range(k)}
    return " ".join(c for c in order if c in chosen)


def _cccd(r: random.Random, male: bool, birth_year: int) -> str:
    century = 0 if birth_year < 2000 else 2
    return (
        ("091" if r.random() < 0.6 else "089")
        + str(century + (0 if male else 1))
        + f"{birth_year % 100:02d}"
        + f"{r.getrandbits(20) % 1_000_000:06d}"
    )


def _phone(r: random.Random) -> str:
    prefix = ("09", "08", "03", "07")[r.getrandbits(2)]
    return prefix + f"{r.getrandbits(27) % 100_000_000:08d}"


def _round_vnd(x: float) -> int:
    """Amounts as people declare them: to 100,000 VND (to 10,000 below one million)."""
    if x <= 0:
        return 0
    step = 100_000 if x >= 1_000_000 else 10_000
    return int(round(x / step)) * step


def _uuid(r: random.Random) -> str:
    return "uuid:" + str(uuid.UUID(int=r.getrandbits(128), version=4))


def _iso_utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


def generate_commune(
    hamlets: Iterable[Any],
    questionnaire,
    seed: int,
    interview_date: date = DEFAULT_INTERVIEW_DATE,
    scale: float = 1.0,
    dirt: bool = True,
) -> list[dict]:
    """One synthetic submission per resident household of each hamlet (times `scale`, >= 1).

    `hamlets`: objects or dicts with code, name, area_type, resident_households.
    `interview_date`: the last day of fieldwork; interviews are spread over the 45 days up to it
    (1 Sep - 15 Oct 2026 by default), and ages are interview year minus birth year.

    Each submission is a dict::

        {"__id": "uuid:...",            # Central's submission ID (original instanceID)
         "instance_id": "uuid:...",     # this version (== __id for a first version)
         "submitted_at": "2026-10-03T01:20:11.123Z",   # server receipt, ISO UTC string
         "updated_at": None | ISO UTC string,          # set when reviewed or edited
         "review_state": None | "approved" | "hasIssues" | "rejected" | "edited",
         "submitter_id": int, "submitter_name": str, "device_id": "collect:XXXXXXXXXXXXXXXX",
         "form_version": questionnaire.version,
         "answers": {household field: value, ...},    # every household-level field, form order
         "members": [{member field: value, ...}, ...]}
        # plus "deprecated_id": <previous instance_id> on an edited version only.

    Values: str codes for selects; space-separated codes for select_multiple (None if empty);
    int for integers; float for decimals; `datetime.date` for dates; aware `datetime` (+07:00)
    for start/end; "lat lon alt acc" for the geopoint; None when not relevant.
    """
    subs = list(iter_commune(hamlets, questionnaire, seed, interview_date, scale))
    if dirt and subs:
        subs = _inject_dirt(random.Random(seed * 7919 + 17), subs)
    return subs


def iter_commune(
    hamlets: Iterable[Any],
    questionnaire,
    seed: int,
    interview_date: date = DEFAULT_INTERVIEW_DATE,
    scale: float = 1.0,
):
    """The clean households of `generate_commune(..., dirt=False)`, one at a time.

    For benchmarks of a million households, where a list of them all would not fit in memory.
    """
    q = questionnaire
    _check_questionnaire(q)
    screen_questions = _screen_questions(q)
    hs = [_as_hamlet(h) for h in hamlets]
    r = random.Random(seed)
    year = interview_date.year
    first_day = interview_date - timedelta(days=44)
    form_version = q.version
    submitter_id = 100

    enumerator_names: set[str] = set()
    id_numbers: set[str] = set()  # a CCCD is one person's: redrawn on the (rare) collision

    def unique_cccd(male: bool, birth_year: int) -> str:
        number = _cccd(r, male, birth_year)
        while number in id_numbers:
            number = _cccd(r, male, birth_year)
        id_numbers.add(number)
        return number

    for h in hs:
        area = h.area_type if h.area_type in ("rural", "urban") else "rural"
        n = max(1, int(round(h.resident_households * scale)))
        # Enumerators: the hamlet head and collaborators, one per ~60 households (about ten days of
        # interviews each), each with an app user ID and a phone.
        enumerators = []
        for _ in range(max(2, math.ceil(n / 60))):
            submitter_id += 1
            name = _ENUMERATOR_POOL[r.getrandbits(16) % len(_ENUMERATOR_POOL)]
            tries = 0
            while name in enumerator_names:  # two people, two names: the quality report groups by name
                tries += 1
                name = _full_name(r, ("Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ")[r.getrandbits(8) % 6], r.random() < 0.5, "kinh")
                if tries > 50:  # a province-sized commune uses up the names: tell namesakes apart as people do
                    name = f"{name} ({submitter_id})"
            enumerator_names.add(name)
            device = "collect:" + "".join(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[r.getrandbits(6) % 62]
                for _ in range(16)
            )
            enumerators.append((submitter_id, name, device))
        # The hamlet's centre and the days its enumerators worked there.
        c_lat = 9.47 + r.random() * 0.16
        c_lon = 105.02 + r.random() * 0.26
        spread = 0.004 if area == "urban" else 0.012
        h_start = r.randrange(0, 30)
        busy_until: dict[int, datetime] = {}  # each enumerator's interviews follow one another
        median = _MEDIAN_PC_INCOME[area]
        line = _INCOME_LINE[area]
        waste_pick = _WASTE[area]
        water_safe = _WATER_SAFE[area]

        for i in range(1, n + 1):
            # ---- welfare: one latent draw sets income and the odds of every deprivation
            z = r.gauss(0.0, 1.0)
            pc = median * math.exp(_INCOME_SIGMA * z)
            tier = 2 if pc <= line * 1.02 else (1 if pc <= line * 1.5 else 0)
            e = r.random()
            if tier == 2:
                ethnicity = "khmer" if e < 0.35 else ("hoa" if e < 0.37 else "kinh")
            elif tier == 1:
                ethnicity = "khmer" if e < 0.2 else ("hoa" if e < 0.23 else "kinh")
            else:
                ethnicity = "khmer" if e < 0.11 else ("hoa" if e < 0.15 else "kinh")

            comp = _composition(r, 0 if tier == 0 else 1)
            size = len(comp)
            fam_pick = _FAMILY_BY_ETHNICITY[ethnicity]
            families = {"head": fam_pick(r), "spouse": fam_pick(r), "inlaw": fam_pick(r),
                        "mother": fam_pick(r), "other": fam_pick(r), "gk_d": fam_pick(r)}
            head_male = comp[0][1]
            spouse_present = len(comp) > 1 and comp[1][0] == "spouse"
            families["pat"] = families["head"] if head_male or not spouse_present else families["spouse"]
            families["father"] = families["head"]
            families["gk"] = families["pat"]
            insurance_gap = r.random() < _P_INSURANCE_GAP[tier]

            members = []
            n_wage = n_self = n_allow = n_pension = 0
            any_internet = False
            for rel, male, age, fam in comp:
                by = year - age
                m_eth = ethnicity
                if rel in ("spouse", "child_in_law") and r.random() < 0.06:
                    m_eth = "khmer" if ethnicity != "khmer" else "kinh"
                family = families[fam] if m_eth == ethnicity else _FAMILY_BY_ETHNICITY[m_eth](r)
                name = _full_name(r, family, male, m_eth)
                # schooling
                in_school, level, qual = "no", None, "none"
                oos = _OUT_OF_SCHOOL[tier]
                if age < 3:
                    pass
                elif age <= 5:
                    if r.random() >= oos[0]:
                        in_school, level = "yes", "preschool"
                elif age <= 10:
                    if r.random() >= oos[1]:
                        in_school, level = "yes", "primary"
                    qual = "none"
                elif age <= 15:
                    qual = "primary"
                    if r.random() >= oos[2]:
                        in_school = "yes"
                        level = "upper_secondary" if age == 15 and r.random() < 0.6 else "lower_secondary"
                        if level == "upper_secondary":
                            qual = "lower_secondary"
                elif age <= 17:
                    if r.random() < (0.82, 0.7, 0.55)[tier]:
                        in_school = "yes"
                        level = "vocational" if r.random() < 0.1 else "upper_secondary"
                        qual = "lower_secondary"
                    else:
                        qual = "lower_secondary" if r.random() < (0.7, 0.55, 0.45)[tier] else "primary"
                elif age <= 30:
                    if age <= 23 and r.random() < (0.3, 0.12, 0.05)[tier]:
                        in_school = "yes"
                        level = "higher" if r.random() < 0.7 else "vocational"
                        qual = "upper_secondary"
                    else:
                        qual = _QUAL_ADULT[tier](r)
                elif age <= 55:
                    qual = _QUAL_MID[tier](r)
                else:
                    qual = _QUAL_OLD[tier](r)
                # disability and work
                disabled = r.random() < (0.018 if age < 60 else 0.11)
                contract = None
                if in_school == "yes":
                    labour = "student"
                elif age < 15:
                    labour = "unable_to_work" if age < 6 or disabled else "student"
                    if labour == "student":  # a child out of school helps at home or on the farm
                        labour = "self_employed" if age >= 12 else "unable_to_work"
                elif disabled and r.random() < 0.5:
                    labour = "unable_to_work"
                elif age <= 60:
                    labour = _WORK_ADULT[tier](r)
                    if labour == "homemaker" and male and r.random() < 0.8:
                        labour = "self_employed"
                else:
                    labour = "retired" if age >= 80 and r.random() < 0.85 else _WORK_OLD(r)
                if labour == "wage_worker":
                    contract = "yes" if r.random() < _CONTRACT[tier] else "no"
                    n_wage += 1
                elif labour == "self_employed":
                    n_self += 1
                allowance = "no"
                if age >= 80 and r.random() < 0.85:
                    allowance = "yes"
                elif disabled and r.random() < 0.6:
                    allowance = "yes"
                elif age >= 60 and tier == 2 and r.random() < 0.25:
                    allowance = "yes"
                if allowance == "yes":
                    n_allow += 1
                elif age >= 60 and labour == "retired" and r.random() < 0.12:
                    n_pension += 1
                # health insurance: under-6s, over-80s, allowance holders always covered
                if age < 6 or age >= 80 or allowance == "yes":
                    insured = "yes"
                elif insurance_gap:
                    insured = "no" if r.random() < (0.35 if in_school == "yes" else 0.7) else "yes"
                else:
                    insured = "yes" if r.random() < 0.995 else "no"
                nutrition = None
                if by > 2010:
                    nutrition = _NUTRITION[tier](r)
                # phone and internet
                if age < 10:
                    phone_use, net_use = "no", "no"
                else:
                    pp = (0.55 if age < 18 else 0.96 if age < 70 else 0.6) - 0.05 * tier
                    ip = (0.7 if age < 18 else 0.9 if age < 40 else 0.65 if age < 60 else 0.2) - 0.1 * tier
                    phone_use = "yes" if r.random() < pp else "no"
                    net_use = "yes" if r.random() < ip else "no"
                    any_internet = any_internet or net_use == "yes"
                id_p = 0.97 if age >= 14 else 0.75
                # what the form's relevance shows the enumerator, by age (forms/household.md)
                if not 3 <= age <= 30:
                    in_school, level = None, None
                if age < 15:
                    qual, labour = None, None
                if labour != "wage_worker":
                    contract = None
                if age >= 16:
                    nutrition = None
                members.append({
                    "member_name": name,
                    "sex": "male" if male else "female",
                    "birth_year": by,
                    "age": str(age),  # a calculate: text in the submission
                    "relationship": rel,
                    "member_id_number": unique_cccd(male, by) if r.random() < id_p else None,
                    "member_ethnicity": m_eth,
                    "in_school": in_school,
                    "school_level": level,
                    "qualification": qual,
                    "labour_status": labour,
                    "labour_contract": contract,
                    "health_insurance": insured,
                    "disability": "yes" if disabled else "no",
                    "social_allowance": allowance,
                    "child_nutrition": nutrition,
                    "uses_phone": phone_use,
                    "uses_internet": net_use,
                })
            if tier == 2 and r.random() < 0.01:
                # the poorest telecom deprivation: nobody keeps a subscription
                if True:
                    for mm in members:
                        mm["uses_phone"] = mm["uses_internet"] = "no"
                    any_internet = False

            # ---- income: net per-capita target split into declared sources
            net = pc * 12 * size
            pensions = n_allow * 6_000_000 * (0.8 + 0.4 * r.random()) + n_pension * 48_000_000 * (
                0.7 + 0.6 * r.random())
            pensions = min(pensions, net * 0.9)
            rest = net - pensions
            w = {
                "income_crops": (2.5 if area == "rural" else 0.2) * (n_self > 0) * r.random(),
                "income_livestock": (0.6 if area == "rural" else 0.05) * (n_self > 0) * r.random(),
                "income_aquaculture": (1.5 if area == "rural" else 0.1) * (n_self > 0) * r.random() * (r.random() < 0.6),
                "income_wages": 2.2 * n_wage * (0.5 + r.random()),
                "income_business": (0.5 if area == "rural" else 3.0) * (n_self > 0) * r.random() * (r.random() < 0.5),
                "income_remittances": 1.2 * r.random() * (r.random() < 0.3),
                "income_other": 0.3 * r.random() * (r.random() < 0.25),
            }
            total_w = sum(w.values())
            if total_w <= 0:
                w["income_other" if r.random() < 0.5 else "income_remittances"] = 1.0
                total_w = 1.0
            income = {k: rest * v / total_w for k, v in w.items()}
            costs = 0.0
            for k in ("income_crops", "income_livestock", "income_aquaculture", "income_business"):
                if income[k] > 0:
                    markup = 0.35 + 0.6 * r.random()  # production costs as a share of net
                    costs += income[k] * markup
                    income[k] *= 1 + markup
            income["income_pensions"] = pensions
            income_rounded = {k: _round_vnd(income[k]) for k in INCOME_FIELDS}
            production_costs = _round_vnd(costs)

            # ---- housing and living conditions
            if r.random() < _P_POOR_HOUSING[tier]:
                bad = r.random()
                wall = _WALL_BAD(r)
                frame = _FRAME_BAD(r) if bad < 0.8 else _FRAME_GOOD(r)
                roof = _ROOF_BAD(r) if bad >= 0.5 else _ROOF_GOOD(r)
                if bad >= 0.8:
                    roof = _ROOF_BAD(r)
            else:
                wall, frame, roof = _WALL_GOOD(r), _FRAME_GOOD(r), _ROOF_GOOD(r)
                one = r.random()
                if one < 0.04:
                    wall = _WALL_BAD(r)
                elif one < 0.09:
                    frame = _FRAME_BAD(r)
            if r.random() < _P_CROWDED[tier]:
                area_m2 = size * (4.0 + 3.5 * r.random())
            else:
                base = (80.0 if area == "rural" else 65.0) * math.exp(0.35 * r.gauss(0, 1)) * (0.8 + 0.1 * (2 - tier))
                area_m2 = max(base, size * (9.0 + 6 * r.random()))
            floor_area = float(round(area_m2)) if r.random() < 0.7 else round(area_m2, 1)
            water = _WATER_UNSAFE(r) if r.random() < _P_UNSAFE_WATER[tier] else water_safe(r)
            latrine = _LATRINE_BAD(r) if r.random() < _P_UNHYGIENIC_LATRINE[tier] else _LATRINE_OK(r)
            if r.random() < _P_NO_INFO[tier]:
                assets, loudspeaker = "none", "no"
            else:
                have = []
                if r.random() < (0.9, 0.78, 0.65)[tier]:
                    have.append("tv")
                if r.random() < (0.07, 0.1, 0.12)[tier]:
                    have.append("radio")
                if r.random() < ((0.2 if area == "rural" else 0.35), 0.05, 0.02)[tier]:
                    have.append("computer")
                if any_internet and r.random() < 0.95:
                    have.append("smartphone")
                assets = " ".join(have) if have else "none"
                loudspeaker = "yes" if r.random() < 0.86 else "no"
                if assets == "none" and loudspeaker == "no":
                    loudspeaker = "yes" if r.random() < 0.5 else "no"

            # ---- circumstances
            reasons = needs = None
            p_reasons = (0.02, 0.45, 0.95)[tier]
            if r.random() < p_reasons:
                ordered = _USED_CODES["poverty_reason"]
                reasons = _multi(r, _REASONS, 1 + (r.random() < 0.55) + (r.random() < 0.2), ordered)
                needs = _multi(r, _NEEDS, 1 + (r.random() < 0.6) + (r.random() < 0.25),
                               _USED_CODES["support_need"])

            # ---- the interview
            enum_id, enum_name, device = enumerators[r.getrandbits(8) % len(enumerators)]
            free = busy_until.get(enum_id) or datetime.combine(first_day + timedelta(days=h_start), time(7, 30), VN_TZ)
            started = free + timedelta(minutes=10 + int(r.random() * 50), seconds=r.getrandbits(6) % 60,
                                       milliseconds=r.getrandbits(10) % 1000)  # walking to the next house
            if started.time() > time(17, 0):  # the working day is over: next morning, sometimes a day later
                next_day = started.date() + timedelta(days=1 + (r.random() < 0.3))
                started = datetime.combine(next_day, time(7, 30), VN_TZ) + timedelta(minutes=int(r.random() * 40))
            ended = started + timedelta(seconds=1200 + int(r.random() * 2400))
            busy_until[enum_id] = ended
            day = started.date()
            if r.random() < 0.7:  # sent the same evening
                submitted = ended + timedelta(minutes=5 + int(r.random() * 240))
            else:
                submitted = ended + timedelta(hours=12 + int(r.random() * 60))
            submitted = submitted + timedelta(milliseconds=r.getrandbits(10) % 1000)
            review = r.random()
            if review < 0.36:
                review_state = "approved"
            elif review < 0.38:
                review_state = "hasIssues"
            else:
                review_state = None
            updated = None
            if review_state:
                updated = _iso_utc(submitted + timedelta(hours=6 + int(r.random() * 200),
                                                         seconds=r.getrandbits(12) % 3600))
            lat = c_lat + (r.random() - 0.5) * 2 * spread
            lon = c_lon + (r.random() - 0.5) * 2 * spread
            location = (f"{min(max(lat, 9.45), 9.65):.7f} {min(max(lon, 105.0), 105.3):.7f} "
                        f"{0.5 + r.random() * 6:.1f} {3 + r.random() * 12:.1f}")
            head = members[0]
            instance = _uuid(r)
            yield {
                "__id": instance,
                "instance_id": instance,
                "submitted_at": _iso_utc(submitted),
                "updated_at": updated,
                "review_state": review_state,
                "submitter_id": enum_id,
                "submitter_name": enum_name,
                "device_id": device,
                "form_version": form_version,
                "answers": {
                    "started_at": started,
                    "ended_at": ended,
                    "device_id": device,
                    "hamlet": h.code,
                    "previous_household": None,
                    "previous_status": None,
                    "new_household_id": f"{h.code}-{i:04d}",
                    "household_id": f"{h.code}-{i:04d}",
                    "head_name": head["member_name"],
                    "head_id_number": head["member_id_number"],
                    "phone": _phone(r) if r.random() < 0.93 else None,
                    "address": f"Tổ {1 + int(r.random() * 12)}, {h.name}, xã Vĩnh Phong",
                    "location": location,
                    "ethnicity": ethnicity,
                    "area_type": area,
                    "consent": "yes",
                    "previous_class": None,
                    **{name: "no" for name in screen_questions},
                    "screened_out": "no",
                    "screen_reason": None,
                    "household_size": size,
                    "wall_material": wall,
                    "frame_material": frame,
                    "roof_material": roof,
                    "floor_area": floor_area,
                    "water_source": water,
                    "latrine": latrine,
                    "waste_disposal": waste_pick(r) if tier < 2 or r.random() < 0.7 else "dumped",
                    "electricity": _ELECTRICITY[tier](r),
                    "info_assets": assets,
                    "loudspeaker_reach": loudspeaker,
                    **income_rounded,
                    "production_costs": production_costs,
                    "merit_member": "yes" if r.random() < 0.015 else "no",
                    "poverty_reasons": reasons,
                    "support_needs": needs,
                    "enumerator": enum_name,
                    "interview_date": day,
                },
                "members": members,
            }


def _typo(r: random.Random, name: str) -> str:
    """Drop one letter or swap two neighbours inside a word (never the spaces)."""
    positions = [k for k in range(len(name) - 1) if name[k] != " " and name[k + 1] != " "]
    k = positions[r.randrange(len(positions))]
    if r.random() < 0.5:
        return name[:k] + name[k + 1:]
    swapped = name[:k] + name[k + 1] + name[k] + name[k + 2:]
    return swapped if swapped != name else name[:k] + name[k + 1:]


def _inject_dirt(r: random.Random, subs: list[dict]) -> list[dict]:
    """The documented dirt (see the module docstring); each household gets at most one kind."""
    # Candidates: households of >= 2 members whose head name has a decomposable letter and two
    # words (so every kind of dirt can apply and be found).
    cands = [
        k for k, s in enumerate(subs)
        if len(s["members"]) >= 2 and unicodedata.normalize("NFD", s["answers"]["head_name"])
        != s["answers"]["head_name"] and s["review_state"] is None
    ]
    if len(cands) < 15:  # tiny communes: use what there is
        cands = list(range(len(subs)))
    r.shuffle(cands)
    it = iter(cands * 2)

    def take() -> int:
        return next(it)

    def set_head_name(s: dict, name: str) -> None:
        s["answers"]["head_name"] = name
        s["members"][0]["member_name"] = name

    for _ in range(5):  # NFD-decomposed names
        s = subs[take()]
        set_head_name(s, unicodedata.normalize("NFD", s["answers"]["head_name"]))
    for _ in range(3):  # doubled space
        s = subs[take()]
        words = s["answers"]["head_name"].split(" ")
        k = 1 + r.randrange(max(1, len(words) - 1))
        set_head_name(s, " ".join(words[:k]) + "  " + " ".join(words[k:]))
    for _ in range(2):  # typed in lower case
        s = subs[take()]
        set_head_name(s, s["answers"]["head_name"].lower())
    for _ in range(2):  # typos in the head name only
        s = subs[take()]
        s["answers"]["head_name"] = _typo(r, s["answers"]["head_name"])
    # An impossible birth year on a non-head member.
    s = subs[take()]
    s["members"][1 + r.randrange(len(s["members"]) - 1)]["birth_year"] = 1890
    # A rejected submission.
    s = subs[take()]
    s["review_state"] = "rejected"
    s["updated_at"] = _iso_utc(_parse_iso(s["submitted_at"]) + timedelta(hours=30))
    # A household surveyed twice.
    orig = subs[take()]
    dup = _copy_submission(orig)
    dup["__id"] = dup["instance_id"] = _uuid(r)
    later = _parse_iso(orig["submitted_at"]) + timedelta(days=2 + r.randrange(5), minutes=r.randrange(600))
    dup["submitted_at"] = _iso_utc(later)
    dup["updated_at"] = None
    dup["review_state"] = None
    a = dup["answers"]
    shift = later - _parse_iso(orig["submitted_at"])
    a["started_at"] = a["started_at"] + shift - timedelta(hours=2)
    a["ended_at"] = a["ended_at"] + shift - timedelta(hours=2) + timedelta(minutes=r.randrange(-5, 6))
    a["interview_date"] = a["started_at"].date()
    a["phone"] = _phone(r)
    a["floor_area"] = float(round(a["floor_area"] * (0.9 + 0.2 * r.random())))
    a["income_wages"] = _round_vnd(a["income_wages"] * (0.85 + 0.3 * r.random()) + 1_000_000)
    same_hamlet = [x for x in subs if x["answers"]["hamlet"] == a["hamlet"]
                   and x["submitter_id"] != orig["submitter_id"]]
    if same_hamlet:
        other = same_hamlet[0]
        dup["submitter_id"], dup["submitter_name"] = other["submitter_id"], other["submitter_name"]
        dup["device_id"] = a["device_id"] = other["device_id"]
        a["enumerator"] = other["submitter_name"]
    # An edited submission: first version kept, the edit appended.
    first = subs[take()]
    edit = _copy_submission(first)
    edit["instance_id"] = _uuid(r)
    edit["deprecated_id"] = first["instance_id"]
    edit["review_state"] = "edited"
    edit["updated_at"] = _iso_utc(_parse_iso(first["submitted_at"]) + timedelta(days=3, hours=r.randrange(24)))
    source = max(INCOME_FIELDS, key=lambda f: edit["answers"][f])
    edit["answers"][source] = _round_vnd(edit["answers"][source] * 0.9)
    return subs + [dup, edit]


def _copy_submission(s: dict) -> dict:
    c = dict(s)
    c["answers"] = dict(s["answers"])
    c["members"] = [dict(m) for m in s["members"]]
    return c


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------------------------
# Helpers over neutral dicts
# --------------------------------------------------------------------------------------------


def per_capita_monthly_income(submission: Mapping) -> float:
    """(sum of income_* - production_costs) / 12 / members of one neutral submission."""
    a = submission["answers"]
    net = sum(a[f] or 0 for f in INCOME_FIELDS) - (a["production_costs"] or 0)
    n = len(submission["members"]) or a["household_size"] or 1
    return net / 12 / n


def newest_versions(submissions: Iterable[Mapping]) -> list[tuple[Mapping, int]]:
    """The newest version of each submission with its edit count, newest submission first.

    The newest version is the one no other version deprecates (the last one listed if that is
    ambiguous). Order: by submission date, descending (Central's export order).
    """
    by_id: dict[str, list[Mapping]] = {}
    for s in submissions:
        by_id.setdefault(s["__id"], []).append(s)
    result = []
    for versions in by_id.values():
        deprecated = {v.get("deprecated_id") for v in versions}
        current = [v for v in versions if v["instance_id"] not in deprecated]
        result.append(((current or versions)[-1], len(versions) - 1))
    result.sort(key=lambda pair: pair[0]["submitted_at"], reverse=True)
    return result


# --------------------------------------------------------------------------------------------
# Value rendering
# --------------------------------------------------------------------------------------------


def _xml_text(value: Any) -> str:
    """A value as ODK writes it in submission XML (and Central copies into the CSV)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=VN_TZ)
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _json_value(field, value: Any) -> Any:
    """A value as Central's OData feed types it."""
    if value is None or value == "":
        return None
    t = field.type
    if t == "geopoint":
        parts = [float(p) for p in str(value).split()]
        lat, lon = parts[0], parts[1]
        coords = [lon, lat] + ([parts[2]] if len(parts) > 2 else [])
        point: dict[str, Any] = {"type": "Point", "coordinates": coords}
        if len(parts) > 3:
            point["properties"] = {"accuracy": parts[3]}
        return point
    if t == "integer":
        return int(value)
    if t == "decimal":
        return float(value)
    if isinstance(value, (datetime, date)):
        return _xml_text(value)
    return value if isinstance(value, (int, float, str)) else str(value)


def _path(field) -> str:
    return "-".join(field.groups + (field.name,))


def _table_headers(fields, choices) -> list[tuple[str, Any, str | None]]:
    """(column, field, part) triples; part is a geopoint component or a choice code."""
    cols: list[tuple[str, Any, str | None]] = []
    for f in fields:
        p = _path(f)
        if f.type == "geopoint":
            for part in ("Latitude", "Longitude", "Altitude", "Accuracy"):
                cols.append((f"{p}-{part}", f, part))
        elif f.type == "select_multiple":
            cols.append((p, f, None))
            for code in choices.get(f.choice_list, ()):
                cols.append((f"{p}/{code}", f, "choice:" + code))
        else:
            cols.append((p, f, None))
    return cols


_GEO_INDEX = {"Latitude": 0, "Longitude": 1, "Altitude": 2, "Accuracy": 3}
_ROOT_TAIL = ["KEY", "SubmitterID", "SubmitterName", "AttachmentsPresent", "AttachmentsExpected",
              "Status", "ReviewState", "DeviceID", "Edits", "FormVersion"]


def _cells(cols, values: Mapping) -> list[str]:
    row = []
    for _, f, part in cols:
        v = values.get(f.name)
        if part is None:
            row.append(_xml_text(v))
        elif part.startswith("choice:"):
            if v is None or v == "":
                row.append("")
            else:
                row.append("1" if part[7:] in str(v).split() else "0")
        else:
            bits = str(v).split() if v else []
            k = _GEO_INDEX[part]
            row.append(bits[k] if k < len(bits) else "")
    return row


def _instance_name(answers: Mapping) -> str:
    return f"{answers.get('household_id') or ''} - {answers.get('hamlet') or ''}"


# --------------------------------------------------------------------------------------------
# Central CSV export
# --------------------------------------------------------------------------------------------


def central_csv_tables(submissions: Iterable[Mapping], questionnaire) -> dict[str, list[list[str]]]:
    """The tables of Central's submissions.csv.zip: {file name: [header, row, ...]}."""
    q = questionnaire
    root_cols = _table_headers(q.household_fields, q.choices)
    member_cols = _table_headers(q.member_fields, q.choices)
    root_header = (["SubmissionDate"] + [c[0] for c in root_cols]
                   + ["meta-instanceID", "meta-instanceName"] + _ROOT_TAIL)
    member_header = [c[0] for c in member_cols] + ["PARENT_KEY", "KEY"]
    root_rows: list[list[str]] = [root_header]
    member_rows: list[list[str]] = [member_header]
    repeat = q.member_repeat
    for s, edits in newest_versions(submissions):
        a = s["answers"]
        key = s["__id"]
        root_rows.append(
            [s["submitted_at"]] + _cells(root_cols, a)
            + [s["instance_id"], _instance_name(a), key, str(s["submitter_id"]),
               s["submitter_name"] or "", "0", "0", "", s["review_state"] or "",
               s["device_id"] or "", str(edits), s["form_version"] or ""]
        )
        for k, m in enumerate(s["members"], start=1):
            member_rows.append(_cells(member_cols, m) + [key, f"{key}/{repeat}[{k}]"])
    return {f"{q.form_id}.csv": root_rows, f"{q.form_id}-{repeat}.csv": member_rows}


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def write_central_csv_zip(submissions: Iterable[Mapping], questionnaire, path: str | Path) -> Path:
    """Write the submissions.csv.zip export (byte-identical for identical input)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = central_csv_tables(submissions, questionnaire)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, rows in tables.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, _csv_bytes(rows))
    return path


# --------------------------------------------------------------------------------------------
# Central OData
# --------------------------------------------------------------------------------------------


def _member_row_id(submission_id: str, repeat: str, index: int) -> str:
    return hashlib.sha1(f"{submission_id}/{repeat}[{index}]".encode("utf-8")).hexdigest()


def _nest(fields, values: Mapping, row: dict) -> None:
    for f in fields:
        target = row
        for g in f.groups:
            target = target.setdefault(g, {})
        target[f.name] = _json_value(f, values.get(f.name))


def odata_row(s: Mapping, edits: int, questionnaire) -> dict:
    """One submission as an element of the OData `value` array with `$expand=*`."""
    q = questionnaire
    repeat = q.member_repeat
    sid = s["__id"]
    row: dict[str, Any] = {"__id": sid}
    a = s["answers"]
    member_pos = None
    for idx, f in enumerate(q.fields):  # the repeat sits where the form puts it
        if f.repeat == repeat:
            member_pos = idx
            break
    before = [f for f in q.fields[:member_pos] if f.repeat is None] if member_pos is not None else list(q.household_fields)
    after = [f for f in q.fields[member_pos:] if f.repeat is None] if member_pos is not None else []
    _nest(before, a, row)
    members = []
    for k, m in enumerate(s["members"], start=1):
        mrow: dict[str, Any] = {"__id": _member_row_id(sid, repeat, k)}
        _nest(q.member_fields, m, mrow)
        members.append(mrow)
    row[repeat] = members
    row[f"{repeat}@odata.navigationLink"] = f"Submissions('{quote(sid, safe='')}')/{repeat}"
    _nest(after, a, row)
    row["meta"] = {"instanceID": s["instance_id"], "instanceName": _instance_name(a)}
    row["__system"] = {
        "submissionDate": s["submitted_at"],
        "updatedAt": s["updated_at"],
        "submitterId": str(s["submitter_id"]),
        "submitterName": s["submitter_name"],
        "attachmentsPresent": 0,
        "attachmentsExpected": 0,
        "status": None,
        "reviewState": s["review_state"],
        "deviceId": s["device_id"],
        "edits": edits,
        "formVersion": s["form_version"],
        "deletedAt": None,
    }
    return row


def odata_pages(
    submissions: Iterable[Mapping],
    questionnaire,
    page_size: int | None = None,
    base_url: str = DEFAULT_ODATA_BASE,
) -> list[dict]:
    """The pages of `GET .../forms/{id}.svc/Submissions?$expand=*[&$top=page_size]`."""
    q = questionnaire
    service = f"{base_url.rstrip('/')}/{q.form_id}.svc"
    rows = [odata_row(s, e, q) for s, e in newest_versions(submissions)]
    if not page_size or page_size <= 0:
        page_size = max(1, len(rows))
    pages = []
    for start in range(0, max(1, len(rows)), page_size):
        chunk = rows[start:start + page_size]
        page: dict[str, Any] = {"@odata.context": f"{service}/$metadata#Submissions", "value": chunk}
        if start + page_size < len(rows):
            token = "01" + base64.b64encode(
                json.dumps({"instanceId": chunk[-1]["__id"]}, separators=(",", ":")).encode()
            ).decode()
            page["@odata.nextLink"] = (
                f"{service}/Submissions?%24expand=*&%24top={page_size}&%24skiptoken={quote(token, safe='')}"
            )
        pages.append(page)
    return pages


def raw_submissions(hamlets: Iterable[Any], questionnaire, seed: int, scale: float = 1.0, source: str = "synthetic"):
    """The clean commune (`iter_commune`) as the raw versions `rasoat sync` stores from Central's
    OData feed, one at a time: how benchmarks and tests fill a raw store of any size."""
    from rasoat.pipeline.sources.folder import odata_element

    for sub in iter_commune(hamlets, questionnaire, seed, scale=scale):
        element = json.loads(json.dumps(odata_row(sub, 0, questionnaire), default=str))  # as it arrives over HTTP
        yield odata_element(element, questionnaire.form_id, source)


def write_central_odata_json(
    submissions: Iterable[Mapping],
    questionnaire,
    folder: str | Path,
    page_size: int | None = None,
) -> list[Path]:
    """Write odata-submissions-0001.json, ... (one file per page) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, page in enumerate(odata_pages(submissions, questionnaire, page_size), start=1):
        p = folder / f"odata-submissions-{k:04d}.json"
        p.write_text(json.dumps(page, ensure_ascii=False, indent=None), encoding="utf-8")
        paths.append(p)
    return paths
