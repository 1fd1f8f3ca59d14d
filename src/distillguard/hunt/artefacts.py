"""The account x artefact graph: what each account was made of and what it used.

An artefact is anything two accounts of one operator tend to share and two unrelated
customers rarely do. From the registry: payment instrument, sign-up network, e-mail domain,
and sign-up burst (program and hour of creation). From the traffic: IP network (/24) and
autonomous system, client (full user agent and TLS fingerprint), request harness, system
prompt and prompt templates. Values are the store's keyed hashes or normalised strings;
nothing here reads raw customer data.

An account uses a traffic artefact when it accounts for a real part of its traffic (at least
``min_share`` of its exchanges, or ``min_count`` of them), so a single request through a
shared exit does not tie two accounts together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

REGISTRY_KINDS: Final = ("payment", "signup_network", "email_domain", "signup_burst")

FREEMAIL: Final = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "163.com",
        "126.com",
        "gmx.de",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "naver.com",
        "aol.com",
    }
)
"""Mail providers anyone can sign up with: sharing one of these links nobody."""


@dataclass(frozen=True)
class Graph:
    """Edges of the bipartite graph, as parallel arrays, with the artefacts' labels."""

    account: npt.NDArray[np.int64]  # index into accounts
    artefact: npt.NDArray[np.int64]  # index into kinds / values
    uses: npt.NDArray[np.int64]  # exchanges of the account with the artefact (1: registry)
    accounts: list[str]
    kinds: list[str]
    values: list[str]

    @property
    def n_accounts(self) -> int:
        return len(self.accounts)

    @property
    def n_artefacts(self) -> int:
        return len(self.kinds)

    def degree(self) -> npt.NDArray[np.int64]:
        """Accounts per artefact."""
        return np.bincount(self.artefact, minlength=self.n_artefacts).astype(np.int64)


def _traffic_edges(signals: ir.Table) -> ir.Table:
    t = signals
    sources: dict[str, ir.Value] = {
        "ip_network": t.ip_prefix_hash.cast("string"),
        "asn": t.asn.cast("string"),
        "client": t.user_agent_hash.cast("string").concat(":", t.tls_fingerprint.fill_null("")),
        "harness": t.harness,
        "system_prompt": ibis.ifelse(
            t.system_chars.fill_null(0) > 0, t.system_hash.cast("string"), None
        ),
        "template": ibis.literal("p").concat(t.template_fp.cast("string")),
        "template_end": ibis.ifelse(
            t.prompt_chars.fill_null(0) > 80,
            ibis.literal("s").concat(t.suffix_fp.cast("string")),
            None,
        ),
    }
    parts = []
    for name, value in sources.items():
        kind = "template" if name.startswith("template") else name
        part = t.select(account_id=t.account_id, kind=ibis.literal(kind), value=value)
        part = part.filter(part.value.notnull())
        parts.append(part.group_by("account_id", "kind", "value").aggregate(uses=part.count()))
    return ibis.union(*parts)


def _registry_edges(accounts: ir.Table) -> ir.Table:
    a = accounts
    burst = a.program.fill_null("standard").concat("@", a.created_at.truncate("h").cast("string"))
    sources: dict[str, ir.Value] = {
        "payment": a.payment_hash.cast("string"),
        "signup_network": a.signup_prefix_hash.cast("string"),
        "email_domain": ibis.ifelse(
            a.email_domain.isin(sorted(FREEMAIL)), None, a.email_domain.lower()
        ),
        "signup_burst": ibis.ifelse(a.created_at.isnull(), None, burst),
    }
    parts = []
    for kind, value in sources.items():
        part = a.select(
            account_id=a.account_id, kind=ibis.literal(kind), value=value, uses=ibis.literal(1)
        )
        parts.append(part.filter(part.value.notnull()))
    return ibis.union(*parts).mutate(uses=ibis._.uses.cast("int64"))


def build_graph(
    signals: ir.Table,
    accounts: ir.Table | None,
    exchanges: pa.Table,
    *,
    min_share: float = 0.05,
    min_count: int = 20,
) -> Graph:
    """The account x artefact graph over the accounts of ``exchanges`` (a table with
    ``account_id`` and ``exchanges`` per account, sorted by account), keeping artefacts that
    at least two accounts use."""
    edges = _traffic_edges(signals)
    if accounts is not None:
        edges = ibis.union(edges, _registry_edges(accounts))
    # Sorted, so artefact numbers (and every tie broken by them) do not depend on the order
    # in which a parallel backend returned the groups.
    table = edges.to_pyarrow().sort_by(
        [("kind", "ascending"), ("value", "ascending"), ("account_id", "ascending")]
    )
    names = exchanges["account_id"]
    totals = exchanges["exchanges"].to_numpy().astype(np.int64)
    found = pc.index_in(table["account_id"], value_set=names)
    account = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    uses = table["uses"].to_numpy(zero_copy_only=False).astype(np.int64)
    registry = pc.is_in(table["kind"], value_set=pa.array(list(REGISTRY_KINDS))).to_numpy(
        zero_copy_only=False
    )
    need = np.minimum(min_count, np.maximum(1.0, np.ceil(min_share * totals)))
    enough = registry | (uses >= need[np.maximum(account, 0)])
    keep = (account >= 0) & enough
    keys = pc.binary_join_element_wise(table["kind"], table["value"], "\x1f")
    keys = keys.filter(pa.array(keep))
    codes, unique = _factorise(keys)
    degree = np.bincount(codes, minlength=len(unique))
    shared = degree[codes] >= 2
    codes, unique = _factorise(keys.filter(pa.array(shared)))
    split = [value.split("\x1f", 1) for value in unique]
    return Graph(
        account=account[keep][shared],
        artefact=codes,
        uses=uses[keep][shared],
        accounts=names.to_pylist(),
        kinds=[kind for kind, _ in split],
        values=[value for _, value in split],
    )


def _factorise(values: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], list[str]]:
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()
