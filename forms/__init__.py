"""The household questionnaire: one definition of field names and choices.

`household.md` is the XLSForm source (markdown tables pyxform reads). Everything that needs a
field name or a choice code — the form build, the synthetic generator, the tidy-table step —
reads it through `load_questionnaire()`, so a renamed field is renamed everywhere at once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Iterable

from pyxform.xls2json_backends import md_to_dict

SOURCE = Path(__file__).with_name("household.md")
VI = "Vietnamese (vi)"
EN = "English (en)"

# XLSForm types that carry no answer column of their own.
_STRUCTURE_TYPES = {"begin_group", "end_group", "begin_repeat", "end_repeat", "note"}


@dataclass(frozen=True)
class Field:
    """One answer in a submission."""

    name: str
    type: str  # base type: text, integer, decimal, select_one, select_multiple, geopoint, date, start, ...
    choice_list: str | None
    groups: tuple[str, ...]  # enclosing groups inside its table (root or the repeat)
    repeat: str | None  # the repeat it sits in, None for the household level
    required: bool
    relevant: str  # XLSForm relevance, its own and its groups', joined with "and"; "" = always
    label_vi: str
    label_en: str


@dataclass(frozen=True)
class Questionnaire:
    form_id: str
    version: str
    title: str
    fields: tuple[Field, ...]
    choices: dict[str, tuple[str, ...]]
    choice_labels: dict[str, dict[str, str]]  # list -> code -> Vietnamese label
    definition: dict = field(repr=False, compare=False)  # the pyxform dict of sheets

    # Cached: the tidy step asks for these once per submission and member.
    @cached_property
    def household_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.repeat is None)

    @cached_property
    def member_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.repeat == self.member_repeat)

    @property
    def member_repeat(self) -> str:
        return "member"

    def get_field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def with_hamlets(self, hamlets: Iterable[tuple[str, str, str]]) -> "Questionnaire":
        """The questionnaire with the hamlet choices replaced by (code, Vietnamese, English)."""
        definition = copy.deepcopy(self.definition)
        others = [row for row in definition["choices"] if row.get("list_name") != "hamlet"]
        rows = [
            {"list_name": "hamlet", "name": code, f"label::{VI}": vi, f"label::{EN}": en}
            for code, vi, en in hamlets
        ]
        definition["choices"] = rows + others
        return _from_definition(definition)


def _base_type(xls_type: str) -> tuple[str, str | None]:
    parts = xls_type.split()
    if parts[0] in ("select_one", "select_multiple") and len(parts) > 1:
        return parts[0], parts[1]
    return parts[0], None


def _from_definition(definition: dict) -> Questionnaire:
    settings = definition["settings"][0]
    fields: list[Field] = []
    groups: list[str] = []
    repeat: str | None = None
    conditions: list[str] = []  # relevance of each open group or repeat, "" when none
    for row in definition["survey"]:
        xls_type = (row.get("type") or "").strip()
        if not xls_type:
            continue
        base, choice_list = _base_type(xls_type)
        own = (row.get("relevant") or "").strip()
        if base in ("begin_group", "begin_repeat"):
            conditions.append(own)
        elif base in ("end_group", "end_repeat"):
            conditions.pop()
        if base == "begin_group":
            groups.append(row["name"])
        elif base == "end_group":
            groups.pop()
        elif base == "begin_repeat":
            repeat, groups = row["name"], []
        elif base == "end_repeat":
            repeat = None
        elif base not in _STRUCTURE_TYPES:
            fields.append(
                Field(
                    name=row["name"],
                    type=base,
                    choice_list=choice_list,
                    groups=tuple(groups),
                    repeat=repeat,
                    required=(row.get("required") or "").strip().lower() in ("yes", "true"),
                    relevant=" and ".join(f"({c})" for c in [*conditions, own] if c),
                    label_vi=row.get(f"label::{VI}") or "",
                    label_en=row.get(f"label::{EN}") or "",
                )
            )
    choices: dict[str, list[str]] = {}
    labels: dict[str, dict[str, str]] = {}
    for row in definition["choices"]:
        choices.setdefault(row["list_name"], []).append(str(row["name"]))
        labels.setdefault(row["list_name"], {})[str(row["name"])] = row.get(f"label::{VI}") or ""
    return Questionnaire(
        form_id=settings["form_id"],
        version=str(settings["version"]),
        title=settings["form_title"],
        fields=tuple(fields),
        choices={k: tuple(v) for k, v in choices.items()},
        choice_labels=labels,
        definition=definition,
    )


@lru_cache(maxsize=1)
def _bundled() -> Questionnaire:
    return _from_definition(md_to_dict(SOURCE.read_text(encoding="utf-8")))


def load_questionnaire() -> Questionnaire:
    """The bundled household questionnaire (hamlet choices still the example ones)."""
    return _bundled()
