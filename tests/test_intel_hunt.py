"""Import and match: provider 2's hunt, given provider 1's bundle, attributes the shared
actors' campaigns and says so in campaigns.json."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from distillguard.exchange import Store
from distillguard.hunt import HuntOptions, hunt
from distillguard.hunt.scoring import Scores
from distillguard.intel import IntelStore, SharedIntel, export_hunt
from distillguard.intel.hunted import store_graph
from intel_world import KEY, OTHER_KEY, provider, scratch


@pytest.fixture(scope="module")
def intel_dir() -> Any:
    bundle = scratch("export") / "provider-1.json"
    export_hunt(provider(1).hunt, bundle, KEY)
    root = scratch("intel")
    IntelStore(root).add_file(bundle, key=KEY)
    return root


def _campaigns(folder: Any) -> list[dict[str, Any]]:
    return list(orjson.loads((folder / "campaigns.json").read_bytes())["campaigns"])


def _labels(traffic: Any) -> dict[str, str]:
    lines = (traffic / "labels.csv").read_text().splitlines()[1:]
    return {row.split(",")[0]: row.split(",")[4] for row in lines}


def test_hunt_with_shared_intel_attributes_and_gives_the_reason(intel_dir: Any) -> None:
    p2 = provider(2)
    out = scratch("hunt-intel")
    intel = SharedIntel.load(intel_dir, KEY)
    hunt(Store(p2.store), out, HuntOptions(intel=intel))
    plain, shared = _campaigns(p2.hunt), _campaigns(out)
    assert all(c["attribution"] is None for c in plain)
    assert all("INTEL_MATCH" not in c["reasons"] for c in plain)
    attributed = [c for c in shared if c["attribution"]]
    assert attributed and intel.report.accounts > 0
    actor_of = _labels(p2.traffic)
    for c in attributed:
        source = c["attribution"]["indicator_set"]
        assert source.startswith("shared intel: distillguard user campaign-")
        assert c["attribution"]["matched"]
    # The biggest campaign is one actor's, matched by what that actor's tools leave behind.
    top = max(attributed, key=lambda c: len(c["accounts"]))
    assert top["reasons"][0] == "INTEL_MATCH"
    assert {k["kind"] for k in top["attribution"]["matched"]} & {"harness", "template"}
    actors = {actor_of[a] for a in top["accounts"]}
    assert len(actors) == 1 and "" not in actors
    # Every account the intel convicted is an attacker in the labels.
    rows = (out / "accounts.csv").read_text().splitlines()[1:]
    convicted = [r.split(",")[0] for r in rows if "INTEL_MATCH" in r]
    assert convicted and all(actor_of[a] for a in convicted)


def test_wrong_key_matches_nothing(intel_dir: Any) -> None:
    p2 = provider(2)
    out = scratch("hunt-wrong-key")
    intel = SharedIntel.load(intel_dir, OTHER_KEY)
    assert intel.warnings and KEY.key_id in intel.warnings[0]
    hunt(Store(p2.store), out, HuntOptions(intel=intel))
    assert intel.report.artefacts == 0 and intel.report.accounts == 0
    assert all(c["attribution"] is None for c in _campaigns(out))


def test_trusted_accounts_are_never_convicted(intel_dir: Any) -> None:
    graph = store_graph(Store(provider(2).store))
    intel = SharedIntel.load(intel_dir, KEY)
    n = graph.n_accounts
    scores = Scores(
        risk=np.zeros(n),
        verdict=["benign"] * n,
        reasons=[[] for _ in range(n)],
        cluster_risk=np.zeros(0),
        cluster_attack=np.zeros(0, dtype=bool),
        attack_threshold=0.5,
        suspicious_threshold=0.3,
    )
    attack = np.zeros(n, dtype=bool)
    clustered = np.zeros(n, dtype=np.int64)
    entries = intel.apply(graph, scores, attack, np.ones(n, dtype=bool), clustered)
    assert entries and not attack.any() and set(scores.verdict) == {"benign"}
    attack = np.zeros(n, dtype=bool)
    intel.apply(graph, scores, attack, np.zeros(n, dtype=bool), clustered)
    assert attack.any() and intel.report.convicted == int(attack.sum())
    assert all(scores.reasons[i][0] == "INTEL_MATCH" for i in np.flatnonzero(attack))
    # Linked to nobody: suspicious, not attack (a campaign is made of linked accounts).
    attack = np.zeros(n, dtype=bool)
    scores.verdict[:] = ["benign"] * n
    intel.apply(graph, scores, attack, np.zeros(n, dtype=bool), clustered - 1)
    assert not attack.any() and "suspicious" in scores.verdict


def test_a_store_hashed_under_another_key_is_told_why_nothing_matches(intel_dir: Any) -> None:
    """Hashed artefacts are the store's keyed hashes: partners match them only when their
    stores share the hash key. The bundle names the exporter's key check; a hunt over a
    store ingested under another key says so instead of silently finding nothing."""
    from distillguard.exchange import IngestOptions, ingest
    from distillguard.intel import read_indicators

    [bundle] = IntelStore(intel_dir).bundles()
    reading = read_indicators(orjson.loads(bundle.read_bytes()), source=str(bundle))
    hashed = [i for i in reading.indicators if i.digest is not None]
    assert hashed and {i.value_key for i in hashed} == {Store(provider(1).store).key_check}
    p2 = provider(2)
    other = scratch("other-hash-key") / "store"
    ingest(
        [p2.traffic / "exchanges"],
        other,
        accounts=p2.traffic / "accounts.jsonl",
        models=p2.traffic / "models.jsonl",
        options=IngestOptions(workers=1, hash_key=b"another deployment's hash key"),
    )
    intel = SharedIntel.load(intel_dir, KEY)
    hunt(Store(other), scratch("hunt-other-hash-key"), HuntOptions(intel=intel))
    assert any("another store hash key" in w for w in intel.warnings)
    same = SharedIntel.load(intel_dir, KEY)
    hunt(Store(p2.store), scratch("hunt-same-hash-key"), HuntOptions(intel=same))
    assert not any("store hash key" in w for w in same.warnings)
