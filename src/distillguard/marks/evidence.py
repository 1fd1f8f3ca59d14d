"""A forensic ``Finding``, its JSON report, and the evidence page made from that report.

The page is one self-contained HTML file rendered from ``Finding.to_json()`` and nothing
else, so the JSON and the page can never disagree. It holds what a reader needs to check
the claim: the finding, every
key's p-value before and after the Bonferroni correction, what was scored and what was
filtered out, the keys tested (ids, scopes and epochs, never key material), the procedure
in plain words and fingerprints of the inputs (counts and SHA-256 hashes of token ids,
never the texts). Everything is escaped; the page loads nothing from the network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from jinja2 import Environment, StrictUndefined
from numpy.typing import NDArray

from .detect import ALPHA, Detection
from .types import CONTEXT_WIDTH

Mode = Literal["generated", "predictions"]

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Forensic evidence: {{ verdict }}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .6rem}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:.8rem 1rem;border-left:6px solid {{ colour }};background:#fafafa}
code{font-size:90%}tr.best{background:#fff6d6}
</style></head><body>
<h1>Forensic evidence</h1>
<p class="verdict"><strong>{{ verdict }}</strong><br>{{ r.summary }}</p>
<h2>Finding</h2>
<table>
<tr><th>corrected p-value</th><td class="n">{{ r.p_value | p }}</td></tr>
<tr><th>threshold (alpha)</th><td class="n">{{ r.alpha | p }}</td></tr>
<tr><th>correction</th><td>Bonferroni over {{ r.tests }} tests: p = min(1, {{ r.tests }}
 &times; smallest raw p)</td></tr>
<tr><th>points to</th><td>{% if r.points_to %}key <code>{{ r.points_to.key_id }}</code>,
 {{ r.points_to.scope or "scope unknown" }}, epoch {{ r.points_to.epoch }},
 {{ r.points_to.scheme }}{% else %}no key{% endif %}</td></tr>
<tr><th>mode</th><td>{{ mode }}</td></tr>
</table>
<h2>What was scored</h2>
<table>
<tr><th>tokens read</th><td class="n">{{ r.suspect_tokens | num }}</td></tr>
<tr><th>distinct (context, token) pairs kept</th>
<td class="n">{{ r.pairs_distinct | num }}</td></tr>
<tr><th>pairs dropped: found in the prompts</th>
<td class="n">{{ r.prompt_pairs_dropped | num }}</td></tr>
{% if r.mode == "predictions" %}<tr><th>predictions dropped: context seen earlier in
 the same text</th><td class="n">{{ r.repeated_contexts_dropped | num }}</td></tr>{% endif %}
<tr><th>context width h</th><td class="n">{{ r.context_width }}</td></tr>
</table>
<h2>Keys tested and p-values</h2>
<table><tr><th>key id</th><th>scope</th><th>epoch</th><th>scheme</th>
<th>pairs scored</th><th>statistic</th><th>raw p</th><th>corrected p</th></tr>
{% for e in r.evidence %}<tr{% if best(e) %} class="best"{% endif %}>
<td><code>{{ e.key_id }}</code></td><td>{{ e.scope or "" }}</td><td>{{ e.epoch }}</td>
<td>{{ e.scheme }}</td><td class="n">{{ e.n | num }}</td><td class="n">{{ e.statistic }}</td>
<td class="n">{{ e.p_value | p }}</td><td class="n">{{ corrected(e.p_value) | p }}</td></tr>
{% endfor %}</table>
<h2>Procedure</h2>
<ol>{% for step in r.procedure %}<li>{{ step }}</li>{% endfor %}</ol>
<h2>Inputs</h2>
<table><tr><th>input</th><th>counts</th><th>SHA-256</th></tr>
{% for name, f in r.inputs.items() %}<tr><td>{{ name }}</td><td>{% for k, v in f.items()
 if k != "sha256" %}{{ k }} {{ v | num }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
<td><code>{{ f.sha256 }}</code></td></tr>{% endfor %}</table>
<p>Hashes are SHA-256 over each text's token count and token ids (64-bit little-endian),
in order; the emitted contexts' hash covers each key id and its sorted context hashes.</p>
</body></html>
"""
_MODES: Final = {
    "generated": "closed model: text the suspect generated",
    "predictions": "open weights: the suspect's next-token predictions on our texts",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """The forensic result: the corrected test and what each key's test saw."""

    detection: Detection
    suspect_tokens: int
    """Tokens read: the suspect's texts, or (open weights) our texts it predicted on."""
    scored: Mapping[str, int]
    """Per key id: distinct pairs in contexts emitted under that key (what it scored)."""
    prompt_pairs_dropped: int
    mode: Mode = "generated"
    context_width: int = CONTEXT_WIDTH
    pairs: int = 0
    """Distinct (context, token) pairs before the emitted-context filter."""
    repeats_dropped: int = 0
    """Open weights: predictions at a context already seen earlier in the same text."""
    emitted_filter: bool = True
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Fingerprints of the inputs (counts and hashes, never text)."""

    def to_json(self, alpha: float = ALPHA) -> dict[str, Any]:
        best = self.detection.best
        marked = self.detection.marked(alpha)
        report = {
            "trained_on_marked_text": marked,
            "alpha": alpha,
            "p_value": self.detection.p_value,
            "correction": self.detection.correction,
            "tests": self.detection.tests,
            "points_to": None
            if best is None or not marked
            else {
                "key_id": best.key_id,
                "scope": best.scope,
                "epoch": best.epoch,
                "scheme": best.scheme,
            },
            "mode": self.mode,
            "context_width": self.context_width,
            "suspect_tokens": self.suspect_tokens,
            "pairs_distinct": self.pairs,
            "prompt_pairs_dropped": self.prompt_pairs_dropped,
            "repeated_contexts_dropped": self.repeats_dropped,
            "emitted_filter": self.emitted_filter,
            "scored_per_key": dict(self.scored),
            "keys": [
                {"key_id": k.key_id, "scope": k.scope, "epoch": k.epoch}
                for k in self.detection.evidence
                if k.scheme == self.detection.evidence[0].scheme
            ],
            "evidence": [e.to_json() for e in self.detection.evidence],
            "inputs": {name: dict(value) for name, value in self.inputs.items()},
            "summary": self.detection.describe(alpha),
        }
        report["procedure"] = procedure(report)
        return report


def fingerprint(texts: Iterable[Sequence[int] | NDArray[np.integer[Any]]]) -> dict[str, Any]:
    """Count and SHA-256 of token id texts: identifies the inputs without showing them."""
    digest = hashlib.sha256()
    count = tokens = 0
    for text in texts:
        ids = np.asarray(text, dtype="<i8")
        digest.update(np.int64(ids.size).astype("<i8").tobytes() + ids.tobytes())
        count += 1
        tokens += int(ids.size)
    return {"texts": count, "tokens": tokens, "sha256": digest.hexdigest()}


def procedure(report: Mapping[str, Any]) -> list[str]:
    """The test that was run, in plain words, with this run's numbers."""
    h = report["context_width"]
    if report["mode"] == "predictions":
        steps = [
            "The suspect model read our watermarked texts; at each position its most likely "
            "next token (top-1) was taken, using only the tokens before it.",
            f"Each prediction was paired with its context, the {h} tokens before it. Only "
            "the first occurrence of a context in each text was kept: there the watermark "
            "key had not yet shaped the text the model read "
            f"({report['repeated_contexts_dropped']:,} later occurrences dropped).",
        ]
    else:
        steps = [
            f"The suspect's generated text ({report['suspect_tokens']:,} tokens) was cut "
            f"into (context, token) pairs, the context being the {h} tokens before each one.",
        ]
    steps.append(
        "Each distinct pair was kept once, because a repeated pair repeats the same "
        f"pseudo-random value and would count the same evidence twice; "
        f"{report['prompt_pairs_dropped']:,} pairs that occur in the prompts given to the "
        f"suspect were dropped; {report['pairs_distinct']:,} pairs remained."
    )
    if report["emitted_filter"]:
        steps.append(
            "For each key, only pairs whose context occurs in the text we served under "
            "that key were scored: a model learns a key's bias only in contexts it saw."
        )
    else:
        steps.append("No record of served contexts was given: every pair was scored.")
    steps += [
        "For each key and scheme, each pair's pseudo-random value r was recomputed from "
        "the key and the context. Gumbel: the sum of -log(1 - r) over n pairs follows "
        "Gamma(n, 1) if the suspect never learned the key; green list: the count of "
        "r < gamma follows Binomial(n, gamma). Both p-values are exact.",
        f"{report['tests']} (key, scheme) tests were run; the smallest p-value was "
        f"multiplied by {report['tests']} (Bonferroni) and compared with alpha = "
        f"{report['alpha']:g}. The key with the smallest p-value is the one named.",
    ]
    return steps


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 1e-300 else "< 1e-300"


def render(report: Mapping[str, Any]) -> str:
    """The evidence page of one report (``Finding.to_json()``)."""
    env = Environment(autoescape=True, undefined=StrictUndefined)
    env.filters["p"] = _p
    env.filters["num"] = lambda x: f"{int(x):,}"
    best = report["points_to"] or {}
    tests = int(report["tests"])
    guilty = bool(report["trained_on_marked_text"])
    return env.from_string(_PAGE).render(
        r=report,
        mode=_MODES.get(str(report["mode"]), str(report["mode"])),
        verdict="trained on our watermarked text" if guilty else "no evidence of training",
        colour="#b00020" if guilty else "#2e7d32",
        corrected=lambda p: min(1.0, tests * float(p)),
        best=lambda e: e["key_id"] == best.get("key_id") and e["scheme"] == best.get("scheme"),
    )
