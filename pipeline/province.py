"""The province file: which communes one province run reviews (pure parsing, no review code).

```yaml
communes:
  - name: Vĩnh Phong          # a label for the outcome table; unique in the file
    config: vinh-phong/config # the commune's configuration folder (commune.yaml, hamlets.yaml, ...)
    data: vinh-phong/data     # the commune's data folder (inbox/, store/, publications/)
```

Paths are relative to the province file. Like the configuration (`rasoat.settings`), every problem
is a `ConfigError` naming the file and the entry, so an officer can fix it without a traceback.
Whether the folders exist is not checked here: a missing folder fails only that commune's review.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasoat.settings import ConfigError, _read_yaml

ENTRY_KEYS = ("name", "config", "data")


@dataclass(frozen=True)
class Commune:
    """One commune of a province run: a label, its configuration folder and its data folder."""

    name: str
    config_dir: Path
    data_dir: Path


def _entry_label(position: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"communes[{position}]" + (f" ({name!r})" if isinstance(name, str) and name.strip() else "")


def _entry_problems(entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return ["expected a mapping with name, config and data"]
    problems = [f"{key!r} is missing" for key in ENTRY_KEYS if key not in entry]
    problems += [f"{key!r} must be a non-empty text" for key in ENTRY_KEYS
                 if key in entry and (not isinstance(entry[key], str) or not entry[key].strip())]
    unknown = sorted(str(k) for k in entry if k not in ENTRY_KEYS)
    if unknown:  # a typo such as `confg` would otherwise be silently ignored
        problems.append(f"unknown key(s) {', '.join(repr(k) for k in unknown)}; expected {', '.join(ENTRY_KEYS)}")
    return problems


def parse_province(data: Any, path: Path) -> list[Commune]:
    """The communes of an already-read province file; `path` names the file in errors and anchors relative paths."""
    if not isinstance(data, dict) or set(data) != {"communes"}:
        raise ConfigError(f"{path}: expected one top-level key 'communes' holding a list of communes")
    entries = data["communes"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: communes: expected a non-empty list of {{name, config, data}}")
    base = path.parent
    lines, communes = [], []
    for position, entry in enumerate(entries):
        problems = _entry_problems(entry)
        if problems:
            lines += [f"  {_entry_label(position, entry)}: {p}" for p in problems]
            continue
        communes.append((position, Commune(entry["name"].strip(), (base / entry["config"]).resolve(), (base / entry["data"]).resolve())))
    for key, label in (("name", "name"), ("data_dir", "data folder")):
        seen: dict = {}
        for position, commune in communes:
            value = getattr(commune, key)
            if value in seen:  # two entries on one data folder would only skip each other at the run lock
                lines.append(f"  communes[{position}] ({commune.name!r}): same {label} as communes[{seen[value]}]: {value}")
            seen.setdefault(value, position)
    if lines:
        raise ConfigError(f"{path}: invalid province file\n" + "\n".join(lines))
    return [commune for _, commune in communes]


def load_province(path: Path) -> list[Commune]:
    """Read and check a province file (YAML, UTF-8)."""
    path = Path(path)
    return parse_province(_read_yaml(path), path)
