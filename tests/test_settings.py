"""The configuration folder: the bundled one loads; a bad one says file, key and what was expected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rasoat.config import BUNDLED_CONFIG_DIR
from rasoat.settings import ConfigError, load_settings


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(BUNDLED_CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def test_bundled_configuration_is_vinh_phong_with_example_hamlets():
    s = load_settings()
    assert s.commune.name == "Xã Vĩnh Phong" and s.commune.province == "Tỉnh An Giang"
    assert s.hamlets_are_example is True
    assert len(s.hamlets) == 24 and {h.area_type for h in s.hamlets} == {"rural", "urban"}
    poor = next(t for t in s.targets if t.id == "poor_rate")
    assert poor.baseline == {"year": 2025, "value": 0.82}
    assert poor.for_year(2030) == 0.5 and poor.for_year(2027) == pytest.approx(0.54)
    assert {t.id: t.value for t in s.targets}["health_insurance_poor_near_poor"] == 100


@pytest.mark.parametrize(
    "year, version, line_rural, line_urban",
    [(2022, "2022-2026.1", 1_500_000, 2_000_000), (2026, "2022-2026.1", 1_500_000, 2_000_000),
     (2027, "2027-2030.1", 2_200_000, 2_800_000), (2030, "2027-2030.1", 2_200_000, 2_800_000)],
)
def test_rule_set_is_chosen_by_reference_year(year, version, line_rural, line_urban):
    r = load_settings().ruleset_for(year)
    assert r.version == version
    assert (r.income_line.rural, r.income_line.urban) == (line_rural, line_urban)
    assert r.deprivation_cutoff.value == 3


def test_every_rule_carries_its_source_and_confidence():
    for r in load_settings().rulesets:
        for ind in r.indicators:
            assert ind.source and ind.confidence in "CSDIU"
        if r.version.startswith("2027"):
            assert r.provisional and all(i.provisional for i in r.indicators)
            assert "I2" not in {i.id for i in r.indicators} and "W3" in {i.id for i in r.indicators}


def test_no_rule_set_for_the_year_is_a_clear_error():
    with pytest.raises(ConfigError, match="no rule set covers reference year 2035"):
        load_settings().ruleset_for(2035)


def test_bad_area_type_names_file_key_and_expectation(config_copy: Path):
    text = (config_copy / "hamlets.yaml").read_text(encoding="utf-8")
    (config_copy / "hamlets.yaml").write_text(text.replace("area_type: urban", "area_type: city", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_settings(config_copy)
    message = str(exc.value)
    assert str(config_copy / "hamlets.yaml") in message
    assert "hamlets[20].area_type" in message and "'rural' or 'urban'" in message and "'city'" in message


def test_missing_key_and_yaml_syntax_errors(config_copy: Path):
    commune = config_copy / "commune.yaml"
    commune.write_text(commune.read_text(encoding="utf-8").replace('  province: "Tỉnh An Giang"\n', ""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"commune\.province: Field required \(the key is missing\)"):
        load_settings(config_copy)
    commune.write_text("commune: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"commune.yaml: line \d+, column \d+: not valid YAML"):
        load_settings(config_copy)


def test_duplicate_hamlet_codes_and_bad_rules_are_refused(config_copy: Path):
    hamlets = config_copy / "hamlets.yaml"
    hamlets.write_text(hamlets.read_text(encoding="utf-8").replace('code: "A02"', 'code: "A01"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="hamlet code 'A01' appears twice"):
        load_settings(config_copy)
    shutil.copy(BUNDLED_CONFIG_DIR / "hamlets.yaml", hamlets)
    rules = config_copy / "rulesets" / "2022-2026.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("kind: share_of_members\n", "kind: share_of_everyone\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"2022-2026.yaml: invalid configuration\n  indicators\[1\]\.kind"):
        load_settings(config_copy)


def test_another_commune_is_set_up_by_editing_config_only(config_copy: Path):
    (config_copy / "commune.yaml").write_text(
        (config_copy / "commune.yaml").read_text(encoding="utf-8").replace("Xã Vĩnh Phong", "Xã Mẫu").replace('code: "VP"', 'code: "XM"'),
        encoding="utf-8",
    )
    (config_copy / "hamlets.yaml").write_text(
        "hamlets:\n  - { code: H1, name: Ấp Một, area_type: rural }\n  - { code: H2, name: Ấp Hai, area_type: urban, resident_households: 120 }\n",
        encoding="utf-8",
    )
    s = load_settings(config_copy)
    assert s.commune.name == "Xã Mẫu" and not s.hamlets_are_example
    assert [h.code for h in s.hamlets] == ["H1", "H2"] and s.hamlet("H1").resident_households is None
