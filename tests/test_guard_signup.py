"""The sign-up check: new accounts scored against the clusters a hunt found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.guard.signup import SignupError, SignupIndex

REGISTRY: list[dict[str, Any]] = [
    # A campaign cluster: one card, one /24, a throwaway domain.
    *(
        {
            "account_id": f"camp-{i}",
            "payment_fingerprint": "pf_shared",
            "signup_ip": f"203.0.113.{10 + i}",
            "email_domain": "mailbox-xyz.test",
            "program": "research",
            "verified": False,
        }
        for i in range(4)
    ),
    # Customers: their own cards, a big webmail domain, scattered networks.
    *(
        {
            "account_id": f"cust-{i}",
            "payment_fingerprint": f"pf_{i}",
            "signup_ip": f"198.51.{i}.7",
            "email_domain": "webmail.test",
            "program": "standard",
            "verified": True,
        }
        for i in range(120)
    ),
]
HUNT = {f"camp-{i}": ("cl-1", 0.9) for i in range(4)} | {"cust-3": ("cl-2", 0.1)}


@pytest.fixture
def index() -> SignupIndex:
    return SignupIndex.build(REGISTRY, HUNT)


def test_a_new_account_on_the_campaign_card_is_sent_to_verification(index: SignupIndex) -> None:
    result = index.check({"account_id": "new", "payment_fingerprint": "pf_shared"})
    assert result.recommendation == "verify"
    assert result.reasons[0] == "shared_payment" and result.clusters == ("cl-1",)


def test_network_and_domain_together_are_enough_alone_neither_is(index: SignupIndex) -> None:
    both = index.check({"signup_ip": "203.0.113.99", "email_domain": "Mailbox-XYZ.test"})
    assert both.recommendation == "verify"
    assert set(both.reasons) == {"shared_signup_network", "shared_email_domain"}
    one = index.check({"signup_ip": "203.0.113.99", "email_domain": "other.test"})
    assert one.recommendation == "allow" and one.reasons == ("shared_signup_network",)


def test_customers_and_low_risk_clusters_do_not_taint(index: SignupIndex) -> None:
    # cust-3 is in a cluster, but not a risky one; webmail is common.
    result = index.check(
        {"payment_fingerprint": "pf_3", "email_domain": "webmail.test", "program": "standard"}
    )
    assert (result.recommendation, result.reasons, result.score) == ("allow", (), 0.0)


def test_a_burst_of_program_signups_from_one_network(index: SignupIndex) -> None:
    results = [
        index.check(
            {
                "signup_ip": f"192.0.2.{i}",
                "program": "education",
                "created_at": f"2025-03-01T10:{i:02d}:00Z",
            }
        )
        for i in range(8)
    ]
    assert "signup_burst" not in results[0].reasons
    assert "signup_burst" in results[-1].reasons
    # A classroom signing up together is a burst in a program, not a campaign by itself.
    assert results[-1].recommendation == "allow"
    later = index.check(
        {
            "signup_ip": "192.0.2.200",
            "program": "education",
            "payment_fingerprint": "pf_shared",
            "created_at": "2025-03-01T10:30:00Z",
        }
    )
    assert later.recommendation == "verify"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"payment_fingerprint": 5}, "payment_fingerprint"),
        ({"verified": "yes"}, "verified"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"email_domain": "x" * 600}, "email_domain"),
    ],
)
def test_bad_fields_are_named(index: SignupIndex, row: dict[str, Any], field: str) -> None:
    with pytest.raises(SignupError, match=field):
        index.check(row)


def test_built_from_files(tmp_path: Path) -> None:
    registry = tmp_path / "accounts.jsonl"
    registry.write_bytes(b"\n".join(orjson.dumps(r) for r in REGISTRY) + b"\nnot json\n")
    hunt = tmp_path / "accounts.csv"
    hunt.write_text(
        "account_id,risk,verdict,cluster_id,campaign_id,exchanges,reasons\n"
        + "".join(f"camp-{i},0.9,attack,cl-1,cp-1,10,\n" for i in range(4))
    )
    index = SignupIndex.from_files(registry, hunt)
    assert index.check({"payment_fingerprint": "pf_shared"}).recommendation == "verify"
