"""Loading and checking the configuration folder (commune, hamlets, targets, rule sets).

Every problem becomes a `ConfigError` naming the file, the key and what was expected, so a
commune officer who mistyped a hamlet's area type is told exactly where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rasoat.config import BUNDLED_CONFIG_DIR

AreaType = Literal["rural", "urban"]
Confidence = Literal["C", "S", "D", "I", "U"]
ReviewState = Literal["received", "edited", "hasIssues", "approved", "rejected"]


class ConfigError(Exception):
    """A configuration file is missing, unreadable or says something we cannot use."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BoundingBox(_Model):
    min_lat: float = Field(ge=-90, le=90)
    max_lat: float = Field(ge=-90, le=90)
    min_lon: float = Field(ge=-180, le=180)
    max_lon: float = Field(ge=-180, le=180)


class Commune(_Model):
    code: str = Field(pattern=r"^[A-Z0-9]{1,12}$")
    name: str = Field(min_length=1)
    name_en: str = ""
    province: str = Field(min_length=1)
    authority: str = Field(min_length=1)
    time_zone: str = "Asia/Ho_Chi_Minh"
    bounding_box: BoundingBox


class Review(_Model):
    reference_year: int = Field(ge=2000, le=2100)
    processed_review_states: list[ReviewState] = ["received", "edited", "hasIssues", "approved"]


class Source(_Model):
    kind: Literal["synthetic", "folder"] = "synthetic"
    synthetic_seed: int = 20261127


class Store(_Model):
    url: str = ""


class CommuneFile(_Model):
    commune: Commune
    review: Review
    source: Source = Source()
    store: Store = Store()


class Hamlet(_Model):
    code: str = Field(pattern=r"^[A-Z0-9]{2,8}$")
    name: str = Field(min_length=1)
    name_en: str = ""
    area_type: AreaType = "rural"
    resident_households: int | None = Field(default=None, gt=0)


class HamletsFile(_Model):
    example: bool = False
    hamlets: list[Hamlet] = Field(min_length=1)

    @field_validator("hamlets")
    @classmethod
    def _unique_codes(cls, hamlets: list[Hamlet]) -> list[Hamlet]:
        seen: set[str] = set()
        for h in hamlets:
            if h.code in seen:
                raise ValueError(f"hamlet code {h.code!r} appears twice; codes must be unique")
            seen.add(h.code)
        return hamlets


class Target(_Model):
    id: str
    name: str
    name_en: str = ""
    unit: Literal["percent_of_households", "percent_of_members", "percent_of_people"]
    direction: Literal["at_most", "at_least"]
    value: float | None = None
    interim: float | None = None
    baseline: dict[str, float] | None = None
    path: dict[int, float] | None = None

    def for_year(self, year: int) -> float | None:
        if self.path and year in self.path:
            return self.path[year]
        return self.value


class Plan(_Model):
    reference: str
    period: tuple[int, int]


class TargetsFile(_Model):
    plan: Plan
    targets: list[Target]


class PerArea(_Model):
    rural: float | None
    urban: float | None
    source: str
    confidence: Confidence

    def for_area(self, area_type: str) -> float | None:
        return self.rural if area_type == "rural" else self.urban


class Cutoff(_Model):
    value: int = Field(ge=1)
    source: str
    confidence: Confidence


class Indicator(_Model):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,3}$")
    dimension: str
    name: str
    name_en: str = ""
    kind: Literal["any_member", "no_member", "share_of_members", "household"]
    member: str | None = None
    household: str | None = None
    above: float | None = Field(default=None, ge=0, le=1)
    source: str
    confidence: Confidence
    provisional: bool = False

    @model_validator(mode="after")
    def _expression_matches_kind(self) -> "Indicator":
        if self.kind == "household":
            if not self.household:
                raise ValueError("kind 'household' needs a 'household' expression")
        elif not self.member:
            raise ValueError(f"kind {self.kind!r} needs a 'member' expression")
        if self.kind == "share_of_members" and self.above is None:
            raise ValueError("kind 'share_of_members' needs 'above' (a share between 0 and 1)")
        return self


class YearRange(_Model):
    first: int
    last: int


class RuleSet(_Model):
    id: str
    version: str
    title: str
    title_en: str = ""
    reference_years: YearRange
    legal_basis: str
    provisional: bool = False
    income_line: PerArea
    average_living_upper: PerArea
    low_income_worker_line: PerArea
    deprivation_cutoff: Cutoff
    dimensions: dict[str, str] = {}
    parameters: dict[str, Any] = {}
    indicators: list[Indicator] = Field(min_length=1)
    source_file: str = ""

    @model_validator(mode="after")
    def _dimensions_named(self) -> "RuleSet":
        unknown = sorted({i.dimension for i in self.indicators} - set(self.dimensions))
        if unknown:
            raise ValueError(f"indicators use dimensions not listed under 'dimensions': {', '.join(unknown)}")
        return self

    @field_validator("indicators")
    @classmethod
    def _unique_ids(cls, indicators: list[Indicator]) -> list[Indicator]:
        ids = [i.id for i in indicators]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"indicator ids must be unique; repeated: {', '.join(dupes)}")
        return indicators

    def applies_to(self, year: int) -> bool:
        return self.reference_years.first <= year <= self.reference_years.last


class ScreenCriterion(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")
    question: str = Field(min_length=1)
    question_en: str = ""
    reason: str = Field(min_length=1, pattern=r"^[^'\"]+$")  # ends up inside an XPath string


class ScreenFile(_Model):
    criteria: list[ScreenCriterion] = []

    @field_validator("criteria")
    @classmethod
    def _unique(cls, criteria: list[ScreenCriterion]) -> list[ScreenCriterion]:
        ids = [c.id for c in criteria]
        if len(ids) != len(set(ids)):
            raise ValueError("criterion ids must be unique")
        return criteria


class Settings(_Model):
    config_dir: Path
    commune: Commune
    review: Review
    source: Source
    store: Store
    hamlets: tuple[Hamlet, ...]
    hamlets_are_example: bool
    plan: Plan
    targets: tuple[Target, ...]
    rulesets: tuple[RuleSet, ...]
    screen: tuple[ScreenCriterion, ...] = ()

    def ruleset_for(self, reference_year: int) -> RuleSet:
        """The rule set for a list valid in `reference_year` (the year, not the collection date)."""
        matching = [r for r in self.rulesets if r.applies_to(reference_year)]
        if not matching:
            spans = ", ".join(f"{r.reference_years.first}–{r.reference_years.last}" for r in self.rulesets)
            raise ConfigError(
                f"{self.config_dir / 'rulesets'}: no rule set covers reference year {reference_year} "
                f"(available: {spans})"
            )
        if len(matching) > 1:
            files = ", ".join(r.source_file for r in matching)
            raise ConfigError(f"rule sets overlap for reference year {reference_year}: {files}")
        return matching[0]

    def hamlet(self, code: str) -> Hamlet | None:
        return next((h for h in self.hamlets if h.code == code), None)


def _describe(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: not valid YAML ({problem})") from None


def _parse(model: type[_Model], path: Path, extra: dict[str, Any] | None = None) -> Any:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    try:
        return model.model_validate({**data, **(extra or {})})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            got = err.get("input")
            shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
            if err["type"] == "missing":
                shown = " (the key is missing)"
            lines.append(f"  {_describe(err['loc'])}: {err['msg']}{shown}")
        raise ConfigError(f"{path}: invalid configuration\n" + "\n".join(lines)) from None


def load_settings(config_dir: Path | None = None) -> Settings:
    """Read and check a configuration folder; the bundled one when `config_dir` is None."""
    folder = Path(config_dir) if config_dir else BUNDLED_CONFIG_DIR
    if not folder.is_dir():
        raise ConfigError(f"{folder}: configuration folder not found")
    commune_file: CommuneFile = _parse(CommuneFile, folder / "commune.yaml")
    hamlets_file: HamletsFile = _parse(HamletsFile, folder / "hamlets.yaml")
    targets_file: TargetsFile = _parse(TargetsFile, folder / "targets.yaml")
    rule_files = sorted((folder / "rulesets").glob("*.yaml"))
    if not rule_files:
        raise ConfigError(f"{folder / 'rulesets'}: no rule set files (*.yaml) found")
    rulesets = tuple(_parse(RuleSet, p, {"source_file": str(p)}) for p in rule_files)
    screen_path = folder / "screen.yaml"
    screen = _parse(ScreenFile, screen_path).criteria if screen_path.exists() else []
    return Settings(
        config_dir=folder,
        commune=commune_file.commune,
        review=commune_file.review,
        source=commune_file.source,
        store=commune_file.store,
        hamlets=tuple(hamlets_file.hamlets),
        hamlets_are_example=hamlets_file.example,
        plan=targets_file.plan,
        targets=tuple(targets_file.targets),
        rulesets=rulesets,
        screen=tuple(screen),
    )
