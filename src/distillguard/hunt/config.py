"""Hunt configuration file (TOML): the operating point and where known indicators are.

    [operating_point]
    attack_score = 0.45      # cluster score (extraction x coordination) for attack
    suspicious_score = 0.3   # and for suspicious
    target_fpr = 0.01        # optional: instead of attack_score, the score at which this
                             # share of the traffic's customers is estimated to be flagged

    [hunt]
    seed = 1
    indicators = "known-actors.json"   # relative to this file

Unknown keys are errors, so a misspelt setting never silently falls back to its default.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Final

from ..errors import ConfigError
from .run import HuntOptions
from .scoring import OperatingPoint

_SECTIONS: Final = {
    "operating_point": {"attack_score", "suspicious_score", "target_fpr"},
    "hunt": {"seed", "indicators"},
}


def _line(source: str, key: str) -> int | None:
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip().startswith((f"{key} ", f"{key}=", f"[{key}]")):
            return number
    return None


def _fraction(value: Any, name: str, path: Path, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(
            f"{name} must be a number between 0 and 1, not {value!r}",
            file=str(path),
            line=_line(source, name),
        )
    return float(value)


def load_config(path: Path) -> HuntOptions:
    """Hunt options from ``path``; ``ConfigError`` names the file and line of a problem."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path)) from None
    try:
        doc = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)  # Python 3.14 adds it; the message has it before
        raise ConfigError(f"not valid TOML: {exc}", file=str(path), line=line) from None
    for section, value in doc.items():
        if section not in _SECTIONS or not isinstance(value, dict):
            raise ConfigError(
                f"unknown section [{section}]", file=str(path), line=_line(source, section)
            )
        for key in value:
            if key not in _SECTIONS[section]:
                raise ConfigError(
                    f"unknown setting {section}.{key}", file=str(path), line=_line(source, key)
                )
    point = doc.get("operating_point", {})
    defaults = OperatingPoint()
    attack = _fraction(
        point.get("attack_score", defaults.attack_score), "attack_score", path, source
    )
    suspicious = _fraction(
        point.get("suspicious_score", defaults.suspicious_score), "suspicious_score", path, source
    )
    if suspicious > attack:
        raise ConfigError(
            "suspicious_score must not exceed attack_score",
            file=str(path),
            line=_line(source, "suspicious_score"),
        )
    target = point.get("target_fpr")
    if target is not None:
        target = _fraction(target, "target_fpr", path, source)
    hunt = doc.get("hunt", {})
    seed = hunt.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError("seed must be an integer", file=str(path), line=_line(source, "seed"))
    indicators = hunt.get("indicators")
    if indicators is not None and not isinstance(indicators, str):
        raise ConfigError(
            "indicators must be a file name", file=str(path), line=_line(source, "indicators")
        )
    return HuntOptions(
        point=OperatingPoint(attack, suspicious, target),
        indicators=(path.parent / indicators) if indicators else None,
        seed=seed,
    )
