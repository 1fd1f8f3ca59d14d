"""Geography the profiles need: standard UTC offsets by country, hosting networks by name.

Offsets are standard time, rounded to the hour, for the country's most populous zone: the
profile asks whether an account's active hours fit its declared country, and an hour or two
of error does not change that answer. Hosting, VPN and proxy networks are recognised by
words in the autonomous system's organisation name, as a provider's enrichment reports it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

_OFFSETS: Final = (
    "US -5|CA -5|MX -6|BR -3|AR -3|CL -4|CO -5|PE -5|VE -4|GB 0|IE 0|PT 0|ES 1|FR 1|DE 1|"
    "IT 1|NL 1|BE 1|CH 1|AT 1|SE 1|NO 1|DK 1|PL 1|CZ 1|HU 1|RO 2|BG 2|GR 2|FI 2|UA 2|TR 3|"
    "RU 3|IL 2|EG 2|SA 3|AE 4|IR 3|PK 5|IN 5|BD 6|LK 5|NP 6|TH 7|VN 7|ID 7|MY 8|SG 8|PH 8|"
    "CN 8|HK 8|TW 8|MO 8|KR 9|JP 9|AU 10|NZ 12|ZA 2|NG 1|KE 3|MA 0|DZ 1|TN 1|GH 0|ET 3|KZ 5|"
    "UZ 5|BY 3|LT 2|LV 2|EE 2|SK 1|SI 1|HR 1|RS 1|IS 0|LU 1|CY 2|MT 1|QA 3|KW 3|JO 3|LB 2"
)

HOSTING_WORDS: Final = (
    "amazon",
    "aws",
    "google",
    "microsoft",
    "azure",
    "akamai",
    "linode",
    "digitalocean",
    "ovh",
    "hetzner",
    "vultr",
    "choopa",
    "leaseweb",
    "alibaba",
    "aliyun",
    "tencent",
    "oracle",
    "cloudflare",
    "m247",
    "datacamp",
    "contabo",
    "scaleway",
    "hosting",
    "host",
    "vps",
    "server",
    "cloud",
    "data center",
    "datacenter",
    "colo",
    "vpn",
    "proxy",
)
HOSTING_PATTERN: Final = "|".join(re.escape(word) for word in HOSTING_WORDS)
"""Regular expression (lower-case) that marks an AS organisation as hosting or proxy."""


@cache
def utc_offsets() -> dict[str, int]:
    """ISO 3166-1 alpha-2 country → standard UTC offset in whole hours."""
    pairs = (item.split() for item in _OFFSETS.split("|"))
    return {country: int(offset) for country, offset in pairs}
