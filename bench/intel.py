"""What shared intel buys, measured: how early provider 2 catches an actor that provider 1
already hunted and shared.

    python bench/intel.py                          # scale 0.002, 7 days, evasion 1
    python bench/intel.py --evasion 0 --json out.json

Two simulated providers with the same actors (the simulator's seeds 1 and 2: the same
harnesses, system prompts and templates, other accounts, cards and networks). Provider 1
hunts its whole week and exports a bundle; provider 2 imports it. Provider 2's log is then
cut at growing times (1 h, 2 h, 4 h, ... after its start); each cut is ingested and hunted
twice, without and with the shared intel. A campaign counts as detected at the first cut
where at least half of its accounts seen so far are ``attack`` in a hunted campaign; the
figure reported is how many of its exchanges provider 2 had served by then. Attribution is
right when the partner campaign it names is, on provider 1, the same actor's (labels).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt import HuntOptions, hunt
from distillguard.intel import IntelStore, SharedIntel, SharingKey, export_hunt
from distillguard.signals import TextSignals
from distillguard.simulate import simulate

CUTS_H: Final = (1, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 120, 168)
KEY: Final = SharingKey(b"bench sharing group key, not a secret")
QUIET: Final = IngestOptions(overwrite=True, annotate=TextSignals())


def _labels(traffic: Path) -> dict[str, tuple[str, str]]:
    """account → (campaign, actor) for attack accounts."""
    rows = (traffic / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]
    out = {}
    for row in rows:
        account, label, _, campaign, actor = row.split(",")
        if label == "attack":
            out[account] = (campaign, actor)
    return out


def _cut_logs(traffic: Path, work: Path, cuts: tuple[int, ...]) -> dict[int, Counter[str]]:
    """One log per cut (exchanges before start + cut hours) and exchanges per account."""
    start = datetime.fromisoformat(json.loads((traffic / "summary.json").read_text())["start"])
    ends = [(h, (start + timedelta(hours=h)).timestamp()) for h in cuts]
    counts: dict[int, Counter[str]] = {h: Counter() for h in cuts}
    handles = {}
    for h in cuts:
        (work / f"cut-{h}").mkdir(parents=True, exist_ok=True)
        handles[h] = (work / f"cut-{h}" / "log.jsonl").open("wb")
    try:
        for path in sorted((traffic / "exchanges").glob("*.jsonl.gz")):
            with gzip.open(path, "rb") as handle:
                for line in handle:
                    record = orjson.loads(line)
                    at = datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()
                    for h, end in ends:
                        if at < end:
                            handles[h].write(line)
                            counts[h][record["account_id"]] += 1
    finally:
        for out in handles.values():
            out.close()
    return counts


def _hunted(folder: Path) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Accounts that are attack in a campaign, and each account's campaign object."""
    flagged = set()
    for row in (folder / "accounts.csv").read_text(encoding="utf-8").splitlines()[1:]:
        cells = row.split(",")
        if cells[2] == "attack" and cells[4]:
            flagged.add(cells[0])
    campaigns = orjson.loads((folder / "campaigns.json").read_bytes())["campaigns"]
    of = {a: c for c in campaigns for a in c["accounts"]}
    return flagged, of


def _partner_actors(hunt_dir: Path, labels: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Provider 1's exported campaign names → the actor most of their accounts belong to."""
    campaigns = orjson.loads((hunt_dir / "campaigns.json").read_bytes())["campaigns"]
    out = {}
    for c in campaigns:
        actors = Counter(labels[a][1] for a in c["accounts"] if a in labels)
        if actors:
            out[f"distillguard user {c['id']}"] = actors.most_common(1)[0][0]
    return out


def measure(
    work: Path, *, scale: float, days: int, evasion: int, seeds: tuple[int, int]
) -> dict[str, Any]:
    one, two = work / "provider-1", work / "provider-2"
    for seed, base in zip(seeds, (one, two), strict=True):
        simulate(base / "traffic", scale=scale, days=days, seed=seed, evasion=evasion)
    # Provider 1: the whole week, hunted and exported; provider 2 imports the bundle.
    store_one = one / "store"
    ingest([one / "traffic" / "exchanges"], store_one, accounts=one / "traffic" / "accounts.jsonl",
           models=one / "traffic" / "models.jsonl", options=QUIET)  # fmt: skip
    hunt(Store(store_one), one / "hunt", HuntOptions())
    export_hunt(one / "hunt", work / "bundle.json", KEY, store=store_one)
    IntelStore(two / "intel").add_file(work / "bundle.json", key=KEY)
    partner_actor = _partner_actors(one / "hunt", _labels(one / "traffic"))

    labels = _labels(two / "traffic")
    members: dict[str, set[str]] = {}
    for account, (campaign, _) in labels.items():
        members.setdefault(campaign, set()).add(account)
    actor_of = {campaign: actor for campaign, actor in labels.values()}
    cuts = tuple(h for h in CUTS_H if h <= days * 24)
    counts = _cut_logs(two / "traffic", two / "cuts", cuts)
    first: dict[str, dict[str, Any]] = {
        mode: {c: None for c in members} for mode in ("without", "with")
    }
    attributed: dict[str, bool] = {c: False for c in members}
    false_positives = {"without": 0, "with": 0}  # most benign accounts flagged at one cut
    for h in cuts:
        cut = two / "cuts" / f"cut-{h}"
        ingest([cut / "log.jsonl"], cut / "store", accounts=two / "traffic" / "accounts.jsonl",
               models=two / "traffic" / "models.jsonl", options=QUIET)  # fmt: skip
        for mode in ("without", "with"):
            intel = SharedIntel.load(two / "intel", KEY) if mode == "with" else None
            out = cut / f"hunt-{mode}"
            hunt(Store(cut / "store"), out, HuntOptions(intel=intel))
            flagged, campaign_of = _hunted(out)
            false_positives[mode] = max(false_positives[mode], len(flagged - set(labels)))
            for campaign, accounts in members.items():
                seen = {a for a in accounts if counts[h][a]}
                if first[mode][campaign] is not None or not seen:
                    continue
                if len(seen & flagged) * 2 >= len(seen):
                    first[mode][campaign] = {
                        "hours": h,
                        "exchanges": sum(counts[h][a] for a in accounts),
                    }
                    if mode == "with":
                        names = Counter(
                            (campaign_of[a].get("attribution") or {}).get("indicator_set", "")
                            for a in seen & flagged
                        )
                        name = names.most_common(1)[0][0].removeprefix("shared intel: ")
                        attributed[campaign] = partner_actor.get(name) == actor_of[campaign]
        shutil.rmtree(cut / "store")
    total = counts[cuts[-1]]
    rows = [
        {
            "campaign": c,
            "actor": actor_of[c],
            "accounts": len(members[c]),
            "exchanges": sum(total[a] for a in members[c]),
            "without": first["without"][c],
            "with": first["with"][c],
            "attributed": attributed[c],
        }
        for c in sorted(members)
    ]
    return {
        "scale": scale,
        "days": days,
        "evasion": evasion,
        "seeds": list(seeds),
        "campaigns": rows,
        "false_positives": false_positives,
    }


def _cell(found: dict[str, Any] | None) -> str:
    return "not detected" if found is None else f"{found['exchanges']:,} ({found['hours']} h)"


def table(result: dict[str, Any]) -> str:
    lines = [
        "| campaign | actor | accounts | exchanges (week) | before detection, alone | "
        "before detection, with shared intel | attributed |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in result["campaigns"]:
        lines.append(
            f"| {r['campaign']} | {r['actor']} | {r['accounts']} | {r['exchanges']:,} | "
            f"{_cell(r['without'])} | {_cell(r['with'])} | {'yes' if r['attributed'] else 'no'} |"
        )
    fp = result["false_positives"]
    lines.append("")
    lines.append(
        f"Benign accounts flagged at any cut: {fp['without']} alone, {fp['with']} with shared "
        "intel."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=0.002)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--evasion", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs=2, default=(1, 2))
    parser.add_argument("--work", type=Path, default=None, help="keep the work here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="intel-bench-"))
    try:
        result = measure(
            work, scale=args.scale, days=args.days, evasion=args.evasion, seeds=tuple(args.seeds)
        )
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
