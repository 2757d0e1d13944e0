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
    # The points table (config/points/<name>.yaml) used beside the direct method; empty = none.
    points_table: str = Field(default="", pattern=r"^[a-z0-9][a-z0-9_-]*$|^$")
    # Which method decides the class. The direct method (declared income) is the legal default.
    classification_method: Literal["direct", "points"] = "direct"


class Source(_Model):
    kind: Literal["synthetic", "folder", "central", "kobo"] = "synthetic"
    synthetic_seed: int = 20261127


class Server(_Model):
    """The field server (issue 8; docs/servers.md). Credentials never live here: env vars or pyodk's config."""

    kind: Literal["central", "kobo"] = "central"
    url: str = ""  # empty: RASOAT_CENTRAL_URL / pyodk's base_url, or RASOAT_KOBO_URL
    project_id: int | None = Field(default=None, ge=1)  # Central; empty: RASOAT_CENTRAL_PROJECT / pyodk's default_project_id
    project_name: str = ""  # shown in ODK Collect after scanning the QR code
    form_id: str = ""  # empty: the questionnaire's form_id
    kobo_asset_uid: str = ""  # empty: the asset `rasoat forms deploy` created (remembered in <data>/sync/)
    page_size: int = Field(default=1000, ge=1, le=1000)  # Kobo caps pages at 1,000 records
    overlap_minutes: float = Field(default=5, ge=0)  # re-read this much before the watermark
    kobo_window_days: float = Field(default=30, gt=0)  # Kobo has no modified time: re-pull this window
    timeout_seconds: float = Field(default=60, gt=0)
    retries: int = Field(default=5, ge=0)


class Store(_Model):
    url: str = ""


class CommuneFile(_Model):
    commune: Commune
    review: Review
    source: Source = Source()
    store: Store = Store()
    server: Server = Server()


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
    # Optional Vietnamese text of the facts that decided the indicator (see pipeline/facts.py):
    # {expression} placeholders are evaluated over the household row (household kind) or the
    # matching member's row (member kinds); without it the text is built from the expression.
    fact: str | None = None
    fact_not: str | None = None

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


class PointsMethod(_Model):
    """Field scoring (score A from a points table, score B per deprivation), Circular 07/2021."""

    score_a_line: PerArea
    points_per_deprivation: Cutoff
    poor_min_score_b: Cutoff
    near_poor_rule: str = ""
    near_poor_confidence: Confidence = "I"


class Override(_Model):
    """A province's higher local standard on top of a national rule set."""

    authority: str = Field(min_length=1)  # "UBND tỉnh An Giang"
    decision: str = Field(min_length=1)  # the decision that sets the local standard
    source: str = ""
    confidence: Confidence = "C"


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
    points_method: PointsMethod | None = None
    extends: str | None = None  # set on a province override: the national rule set's id
    override: Override | None = None
    base_version: str = ""  # the national rule set's version an override was built on
    source_file: str = ""

    @property
    def label(self) -> str:
        """What every list prints after "Chuẩn nghèo:" (names a province override)."""
        if self.override is None:
            return self.version
        return f"{self.version} — chuẩn của địa phương ({self.override.authority}, {self.override.decision}), trên nền {self.base_version}"

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


class PointsItem(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    name: str
    when: str  # a pandas expression over the household table (see pipeline/points.py)
    points: float


class PointsTable(_Model):
    """A loadable points table for score A (higher = richer). The official one was not found [U]."""

    example: bool = False
    id: str
    title: str
    region: str = ""
    source: str
    confidence: Confidence
    base: float = 0
    items: list[PointsItem] = Field(min_length=1)
    source_file: str = ""


class AlkireFoster(_Model):
    cutoff: int = Field(ge=1)  # deprived in at least this many of the rule set's indicators
    weights: Literal["equal"] = "equal"
    unit: Literal["people", "households"] = "people"
    source: str
    confidence: Confidence


class ReportsFile(_Model):
    """Definitions the report tables use beyond the rule set (config/reports.yaml)."""

    alkire_foster: AlkireFoster
    majority_ethnicities: list[str] = Field(min_length=1)  # households of other ethnicities are DTTS
    child_age_below: int = Field(ge=1)
    able_to_work_member: str  # member expression: a member able to work
    safe_electricity: list[str] = ["grid_safe"]  # electricity codes counted as "national grid, safe"
    parameters: dict[str, Any] = {}
    source: str = ""
    confidence: Confidence = "I"


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
    points_table: "PointsTable | None" = None
    reports: "ReportsFile | None" = None
    server: Server = Server()
    chosen_rule_set: str | None = None  # a run's explicit choice (`rasoat run --rule-set`), else by year

    def with_rule_set(self, ruleset_id: str | None) -> "Settings":
        """These settings with every list classified under the rule set `ruleset_id` (None: by year)."""
        if ruleset_id is None:
            return self
        self.ruleset_by_id(ruleset_id)  # an unknown id fails here, naming the available ones
        return self.model_copy(update={"chosen_rule_set": ruleset_id})

    def ruleset_for(self, reference_year: int, national: bool = False) -> RuleSet:
        """The rule set for a list valid in `reference_year` (the year, not the collection date).

        A province override (config/rulesets/overrides/) covering the year takes precedence over
        the national rule set unless `national` is set. A rule set chosen for the run
        (`with_rule_set`) takes precedence over both.
        """
        if self.chosen_rule_set is not None:
            return self.ruleset_by_id(self.chosen_rule_set)
        overrides = [r for r in self.rulesets if r.extends and r.applies_to(reference_year)]
        if overrides and not national:
            if len(overrides) > 1:
                files = ", ".join(r.source_file for r in overrides)
                raise ConfigError(f"province overrides overlap for reference year {reference_year}: {files}")
            return overrides[0]
        matching = [r for r in self.rulesets if not r.extends and r.applies_to(reference_year)]
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

    def ruleset_by_id(self, ruleset_id: str) -> RuleSet:
        found = [r for r in self.rulesets if r.id == ruleset_id]
        if not found:
            raise ConfigError(f"{self.config_dir / 'rulesets'}: no rule set with id {ruleset_id!r} "
                              f"(available: {', '.join(r.id for r in self.rulesets)})")
        return found[0]

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
    national = tuple(_parse(RuleSet, p, {"source_file": str(p)}) for p in rule_files)
    overrides = tuple(_load_override(p, national, rule_files) for p in sorted((folder / "rulesets" / "overrides").glob("*.yaml")))
    rulesets = national + overrides
    ids = [r.id for r in rulesets]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigError(f"{folder / 'rulesets'}: rule set ids must be unique; repeated: {', '.join(repeated)}")
    screen_path = folder / "screen.yaml"
    screen = _parse(ScreenFile, screen_path).criteria if screen_path.exists() else []
    points_table = None
    if commune_file.review.points_table:
        path = folder / "points" / f"{commune_file.review.points_table}.yaml"
        points_table = _parse(PointsTable, path, {"source_file": str(path)})
    elif commune_file.review.classification_method == "points":
        raise ConfigError(f"{folder / 'commune.yaml'}: review.classification_method is 'points' but review.points_table is empty")
    reports_path = folder / "reports.yaml"
    reports = _parse(ReportsFile, reports_path) if reports_path.exists() else None
    return Settings(
        config_dir=folder,
        commune=commune_file.commune,
        review=commune_file.review,
        source=commune_file.source,
        store=commune_file.store,
        server=commune_file.server,
        hamlets=tuple(hamlets_file.hamlets),
        hamlets_are_example=hamlets_file.example,
        plan=targets_file.plan,
        targets=tuple(targets_file.targets),
        rulesets=rulesets,
        screen=tuple(screen),
        points_table=points_table,
        reports=reports,
    )


def _merge(base: Any, change: Any) -> Any:
    """`change` laid over `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(change, dict):
        out = dict(base)
        for key, value in change.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return change


def _merge_indicators(base: list, change: list, path: Path) -> list:
    """Indicators of an override merge by id; `remove: true` drops one; a new id is added."""
    out = [dict(i) for i in base]
    for position, item in enumerate(change):
        if not isinstance(item, dict) or "id" not in item:
            raise ConfigError(f"{path}: indicators[{position}]: each changed indicator needs its 'id'")
        found = next((k for k, i in enumerate(out) if i.get("id") == item["id"]), None)
        if item.get("remove"):
            if found is None:
                raise ConfigError(f"{path}: indicators[{position}]: cannot remove {item['id']!r}, the base has no such indicator")
            out.pop(found)
        elif found is None:
            out.append(dict(item))
        else:
            out[found] = {**out[found], **item}
    return out


def _load_override(path: Path, national: tuple[RuleSet, ...], national_files: list[Path]) -> RuleSet:
    """A province's rule set: `extends: <national id>` plus only the keys it changes."""
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    for key in ("extends", "id", "version", "override"):
        if key not in data:
            raise ConfigError(f"{path}: a province override needs '{key}' (extends: the national rule set's id)")
    base = next((r for r in national if r.id == data["extends"]), None)
    if base is None:
        raise ConfigError(f"{path}: extends {data['extends']!r}, but no national rule set has that id "
                          f"(available: {', '.join(r.id for r in national)})")
    raw = _read_yaml(Path(base.source_file))
    raw.pop("source_file", None)
    change = dict(data)
    indicators = change.pop("indicators", None)
    merged = _merge(raw, change)
    if indicators is not None:
        merged["indicators"] = _merge_indicators(raw["indicators"], indicators, path)
    merged["base_version"] = base.version
    merged["source_file"] = str(path)
    try:
        return RuleSet.model_validate(merged)
    except ValidationError as exc:
        lines = [f"  {_describe(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(f"{path}: invalid province override\n" + "\n".join(lines)) from None
