"""Profiles: one row per account, aggregated from its exchanges by the backend.

A profile says what an account asked for (intent, parameter and capability shares), how
(template concentration, single-turn share, timing), from where (networks, hosting, hours
against its declared country) and how fast it moved to a newly released model. Everything
is a group-by over the signal columns; the result is small (one row per account) and comes
back as Arrow for the graph and scoring steps.
"""

from __future__ import annotations

from typing import Any, Final

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ..signals.groups import PARAM_GROUPS
from ..signals.rules import INTENTS
from ..types import CAPABILITIES
from .geo import HOSTING_PATTERN, utc_offsets

PIVOT_HOURS: Final = 24
"""A release pivot is use of a new model within this many hours of its release."""


def column(profiles: pa.Table, name: str) -> npt.NDArray[np.float64]:
    """One profile column as floats, a missing value (no traffic for it) as 0."""
    values = profiles[name].to_numpy(zero_copy_only=False)
    return np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)


def profiles(signals: ir.Table, accounts: ir.Table | None, models: ir.Table | None) -> pa.Table:
    """Per-account profile columns (see the module docstring); one row per account."""
    t = signals
    if accounts is not None:
        offsets = ibis.memtable(
            {"country": list(utc_offsets()), "utc_offset": list(utc_offsets().values())}
        )
        registry = accounts.select("account_id", "country").left_join(
            offsets, "country"
        )  # registry country, not the IP's: the declared one
        t = t.left_join(
            registry.select("account_id", declared_offset=registry.utc_offset), "account_id"
        )
    else:
        t = t.mutate(declared_offset=ibis.null("int64"))
    window = ibis.window(group_by=t.account_id, order_by=t.epoch)
    t = t.mutate(gap=(t.epoch - t.epoch.lag().over(window)).cast("float64"))
    local_hour = (t.ts.hour() + t.declared_offset.fill_null(0) + 24) % 24
    t = t.mutate(
        hour=t.ts.hour(),
        night=ibis.ifelse(t.declared_offset.isnull(), None, local_hour < 6),
        hosting=t.asn_org.lower().re_search(HOSTING_PATTERN).fill_null(False),
        short_gap=ibis.ifelse((t.gap > 0) & (t.gap < 3600), t.gap, None),
    )
    aggregates: dict[str, Any] = {
        "exchanges": t.count(),
        "first_epoch": t.epoch.min(),
        "last_epoch": t.epoch.max(),
        "active_days": t.ts.date().nunique(),
        "active_hours": t.hour.nunique(),
        "tokens_out": t.tokens_out.sum(),
        "single_turn": t.single_turn.cast("float64").mean(),
        "templates": t.template_fp.nunique(),
        "networks": t.ip_prefix_hash.nunique(),
        "asns": t.asn.nunique(),
        "hosting": t.hosting.cast("float64").mean(),
        "night": t.night.cast("float64").mean(),
        "cjk": (t.script == "cjk").cast("float64").mean(),
        "gap_mean": t.short_gap.mean(),
        "gap_std": t.short_gap.std(),
        "gaps": t.short_gap.count(),
        "models_used": t.model.nunique(),
        "reasoning_returned": t.reasoning_returned.fill_null(False).cast("float64").mean(),
    }
    for intent in INTENTS:
        aggregates[f"intent_{intent}"] = t[f"intent_{intent}"].cast("float64").mean()
    for group in PARAM_GROUPS:
        aggregates[f"param_{group}"] = t[f"param_{group}"].cast("float64").mean()
    for capability in CAPABILITIES:
        aggregates[f"cap_{capability}"] = (t.capability == capability).cast("float64").mean()
    base = t.group_by("account_id").aggregate(**aggregates)

    per_template = signals.group_by("account_id", "template_fp").aggregate(n=signals.count())
    top = per_template.group_by("account_id").aggregate(top_template=per_template.n.max())
    base = base.left_join(top, "account_id").drop("account_id_right")
    base = base.mutate(
        top_template_share=(base.top_template.cast("float64") / base.exchanges).fill_null(0)
    ).drop("top_template")

    if models is not None:
        base = _with_pivot(base, signals, models)
    else:
        base = base.mutate(
            pivot_share=ibis.null("float64"),
            pivot_exchanges=ibis.null("float64"),
            pivot_hours=ibis.null("float64"),
        )
    return base.order_by("account_id").to_pyarrow()


def _with_pivot(base: ir.Table, signals: ir.Table, models: ir.Table) -> ir.Table:
    """For models released inside the traffic's span: how much of each account's traffic in
    the first ``PIVOT_HOURS`` after the release went to the new model, how many exchanges
    that share is of, and how many hours after the release it first used the new model."""
    span = signals.aggregate(lo=signals.ts.min(), hi=signals.ts.max())
    fresh = models.cross_join(span)
    fresh = fresh.filter((fresh.released_at > fresh.lo) & (fresh.released_at < fresh.hi))
    fresh = fresh.select(new_model=fresh.model, released=fresh.released_at)
    after = signals.cross_join(fresh)
    after = after.filter(
        (after.ts >= after.released)
        & (after.ts < after.released + ibis.interval(hours=PIVOT_HOURS))
    )
    pivot = after.group_by("account_id").aggregate(
        pivot_share=(after.model == after.new_model).cast("float64").mean(),
        pivot_exchanges=after.count().cast("float64"),
        pivot_first=ibis.ifelse(
            after.model == after.new_model,
            (after.ts.epoch_seconds() - after.released.epoch_seconds()).cast("float64") / 3600,
            None,
        ).min(),
    )
    joined = base.left_join(pivot, "account_id").drop("account_id_right")
    return joined.rename(pivot_hours="pivot_first")
