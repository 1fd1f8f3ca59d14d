"""Where requests come from: autonomous systems, IP addresses, client libraries.

The ASN numbers and names of the public networks below are real, public facts; the address
blocks given to each are illustrative (plausible, public, never private ranges). Campus and
corporate networks are made up per simulation. Residential ISPs matter most: residential
proxy services (evasion level 1 and up) exit through exactly these networks, so attack
traffic then shares its ASNs with ordinary home users.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

from ..types import Surface


@dataclass(frozen=True, slots=True)
class Network:
    asn: int
    org: str
    country: str
    kind: str  # hosting, residential, mobile, campus, corporate
    blocks: tuple[tuple[int, int], ...]  # /16s as their first two octets

    def prefix(self, rng: random.Random) -> tuple[int, int, int]:
        a, b = rng.choice(self.blocks)
        return a, b, rng.randrange(256)

    def endpoint(self, rng: random.Random, prefix: tuple[int, int, int] | None = None) -> Endpoint:
        a, b, c = prefix or self.prefix(rng)
        return Endpoint(f"{a}.{b}.{c}.{rng.randrange(1, 255)}", self)


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    network: Network


def _net(asn: int, org: str, country: str, kind: str, *blocks: tuple[int, int]) -> Network:
    return Network(asn, org, country, kind, blocks)


HOSTING: Final = (
    _net(16509, "AMAZON-02", "US", "hosting", (3, 80), (18, 204), (44, 192), (52, 14), (54, 87)),
    _net(14618, "AMAZON-AES", "US", "hosting", (3, 216), (34, 224), (54, 144)),
    _net(396982, "GOOGLE-CLOUD-PLATFORM", "US", "hosting", (34, 68), (35, 185), (104, 154)),
    _net(8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "US", "hosting", (20, 42), (40, 76), (52, 168)),
    _net(14061, "DIGITALOCEAN-ASN", "US", "hosting", (64, 227), (159, 203), (167, 99)),
    _net(14061, "DIGITALOCEAN-ASN", "SG", "hosting", (128, 199), (139, 59), (178, 128)),
    _net(24940, "Hetzner Online GmbH", "DE", "hosting", (88, 198), (95, 217), (168, 119)),
    _net(16276, "OVH SAS", "FR", "hosting", (51, 68), (54, 36), (137, 74)),
    _net(63949, "Akamai Connected Cloud", "US", "hosting", (45, 79), (172, 105), (139, 162)),
    _net(20473, "AS-CHOOPA", "JP", "hosting", (45, 76), (45, 32), (149, 28)),
    _net(20473, "AS-CHOOPA", "SG", "hosting", (45, 77), (139, 180), (202, 182)),
    _net(45102, "Alibaba US Technology Co., Ltd.", "SG", "hosting", (8, 219), (47, 74)),
    _net(45102, "Alibaba US Technology Co., Ltd.", "HK", "hosting", (8, 210), (47, 242)),
    _net(132203, "Tencent Building, Kejizhongyi Avenue", "HK", "hosting", (43, 128), (43, 135)),
    _net(31898, "ORACLE-BMC-31898", "US", "hosting", (129, 146), (150, 136)),
)
RESIDENTIAL: Final = (
    _net(7922, "COMCAST-7922", "US", "residential", (24, 6), (73, 162), (98, 207), (71, 198)),
    _net(7018, "ATT-INTERNET4", "US", "residential", (99, 35), (107, 77), (108, 214)),
    _net(20115, "CHARTER-20115", "US", "residential", (24, 181), (47, 148), (97, 92)),
    _net(701, "UUNET", "US", "residential", (71, 105), (96, 255), (108, 28)),
    _net(21928, "T-MOBILE-AS21928", "US", "mobile", (172, 56), (172, 58)),
    _net(6327, "SHAW", "CA", "residential", (68, 144), (70, 72), (96, 51)),
    _net(3320, "Deutsche Telekom AG", "DE", "residential", (79, 192), (87, 156), (91, 61)),
    _net(2856, "British Telecommunications PLC", "GB", "residential", (81, 132), (86, 153)),
    _net(3215, "Orange S.A.", "FR", "residential", (90, 3), (86, 246), (92, 184)),
    _net(1136, "KPN B.V.", "NL", "residential", (77, 161), (145, 53)),
    _net(4713, "NTT Communications Corporation", "JP", "residential", (60, 34), (124, 86)),
    _net(17676, "SoftBank Corp.", "JP", "residential", (126, 15), (219, 108)),
    _net(4766, "Korea Telecom", "KR", "residential", (112, 160), (121, 131), (175, 113)),
    _net(4760, "HKT Limited", "HK", "residential", (42, 2), (112, 118)),
    _net(9506, "Singtel Fibre Broadband", "SG", "residential", (118, 189), (138, 75)),
    _net(3462, "Data Communication Business Group", "TW", "residential", (36, 224), (114, 32)),
    _net(9299, "Philippine Long Distance Telephone Company", "PH", "residential", (112, 198)),
    _net(55836, "Reliance Jio Infocomm Limited", "IN", "mobile", (49, 36), (157, 32)),
    _net(24560, "Bharti Airtel Ltd.", "IN", "residential", (122, 161), (182, 64)),
    _net(1221, "Telstra Limited", "AU", "residential", (101, 191), (120, 148)),
    _net(28573, "Claro NXT Telecomunicacoes Ltda", "BR", "residential", (177, 94), (189, 6)),
    _net(8151, "UNINET", "MX", "residential", (187, 188), (189, 203)),
    _net(12389, "Rostelecom", "RU", "residential", (95, 24), (178, 66)),
    _net(3269, "Telecom Italia S.p.A.", "IT", "residential", (79, 30), (93, 44)),
    _net(3352, "TELEFONICA DE ESPANA S.A.U.", "ES", "residential", (80, 26), (83, 58)),
    _net(45899, "VNPT Corp", "VN", "residential", (14, 162), (113, 176)),
)
COUNTRIES: Final = tuple(sorted({n.country for n in RESIDENTIAL}))
BY_COUNTRY: Final = {c: tuple(n for n in RESIDENTIAL if n.country == c) for c in COUNTRIES}
# Where ordinary customers are, roughly by API usage; weights follow this order.
CUSTOMER_COUNTRIES: Final = (
    "US",
    "GB",
    "DE",
    "FR",
    "CA",
    "IN",
    "JP",
    "KR",
    "BR",
    "NL",
    "SG",
    "AU",
    "ES",
    "IT",
    "TW",
    "VN",
    "PH",
    "MX",
    "HK",
)
CUSTOMER_WEIGHTS: Final = (30, 7, 6, 4, 4, 8, 5, 4, 3, 2, 2, 2, 2, 2, 2, 1.5, 1.5, 1.5, 1)
# Half-hour-free UTC offsets used for diurnal profiles.
TZ: Final = {
    "US": -6,
    "CA": -5,
    "MX": -6,
    "BR": -3,
    "GB": 0,
    "DE": 1,
    "FR": 1,
    "NL": 1,
    "ES": 1,
    "IT": 1,
    "RU": 3,
    "IN": 5,
    "VN": 7,
    "SG": 8,
    "HK": 8,
    "TW": 8,
    "PH": 8,
    "JP": 9,
    "KR": 9,
    "AU": 10,
}

_SYLLABLES: Final = (
    "ar",
    "bel",
    "cor",
    "dan",
    "el",
    "fen",
    "gal",
    "hol",
    "ir",
    "jun",
    "kel",
    "lor",
    "mar",
    "nor",
    "ost",
    "pel",
    "quin",
    "ros",
    "sel",
    "tor",
    "ul",
    "ven",
    "wil",
    "xen",
    "yor",
    "zan",
    "bright",
    "brook",
    "field",
    "stone",
    "ridge",
)


def place_name(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()


def private_network(rng: random.Random, kind: str, country: str, org: str) -> Network:
    """A campus or company network of its own: one ASN, one or two /16s."""
    blocks = tuple(
        (rng.choice((128, 129, 130, 131, 136, 140, 141, 155, 192, 198, 204)), rng.randrange(256))
        for _ in range(rng.choice((1, 2)))
    )
    return Network(rng.randrange(395000, 401000), org, country, kind, blocks)


# -- client libraries -------------------------------------------------------------------
# JA4-style TLS fingerprints: one per TLS stack, so every client built on it shares it.
JA4_PYTHON: Final = ("t13d1812h2_85036bcba153_b26ce05bbdd6", "t13d1813h2_85036bcba153_9c97e25a4b4f")
JA4_NODE: Final = ("t13d1516h2_8daaf6152771_02713d6af862",)
JA4_GO: Final = ("t13d1311h2_f57a46bbacb6_ab7e3b40a677",)
JA4_CURL: Final = ("t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",)
JA4_RUST: Final = ("t13d0912h2_f91f431d341e_dd95f4c5a7c4",)


@dataclass(frozen=True, slots=True)
class Sdk:
    """A client library: how its user agent reads and which TLS stack it rides on."""

    name: str
    agent: str  # format string with {v}
    versions: tuple[str, ...]
    tls: tuple[str, ...]
    surfaces: tuple[Surface, ...]

    def user_agent(self, rng: random.Random) -> str:
        return self.agent.format(v=rng.choice(self.versions))


_OAI: Final[tuple[Surface, ...]] = ("openai.chat", "openai.responses")
_ANT: Final[tuple[Surface, ...]] = ("anthropic.messages",)
_ALL: Final[tuple[Surface, ...]] = ("openai.chat", "openai.responses", "anthropic.messages")
SDKS: Final = {
    s.name: s
    for s in (
        Sdk(
            "openai-python",
            "OpenAI/Python {v}",
            (
                "1.40.6",
                "1.51.2",
                "1.54.4",
                "1.58.1",
                "1.61.0",
                "1.66.3",
                "1.75.0",
                "1.82.1",
                "1.97.1",
            ),
            JA4_PYTHON,
            _OAI,
        ),
        Sdk(
            "openai-node",
            "OpenAI/JS {v}",
            ("4.52.7", "4.67.3", "4.77.0", "4.85.4", "5.10.2"),
            JA4_NODE,
            _OAI,
        ),
        Sdk(
            "anthropic-python",
            "Anthropic/Python {v}",
            ("0.34.2", "0.39.0", "0.42.0", "0.49.0", "0.52.2", "0.60.0"),
            JA4_PYTHON,
            _ANT,
        ),
        Sdk(
            "anthropic-node",
            "Anthropic/JS {v}",
            ("0.27.3", "0.32.1", "0.37.0", "0.52.0"),
            JA4_NODE,
            _ANT,
        ),
        Sdk("litellm", "litellm/{v}", ("1.48.2", "1.55.10", "1.63.14", "1.72.6"), JA4_PYTHON, _ALL),
        Sdk("curl", "curl/{v}", ("7.81.0", "8.5.0", "8.7.1", "8.11.1"), JA4_CURL, _ALL),
        Sdk("requests", "python-requests/{v}", ("2.31.0", "2.32.3"), JA4_PYTHON, _ALL),
        Sdk("go", "Go-http-client/{v}", ("2.0", "1.1"), JA4_GO, _ALL),
        Sdk(
            "aiohttp", "Python/3.11 aiohttp/{v}", ("3.9.5", "3.10.10", "3.11.11"), JA4_PYTHON, _ALL
        ),
        Sdk(
            "langchain",
            "langchain-openai/{v} OpenAI/Python 1.58.1",
            ("0.2.14", "0.3.7"),
            JA4_PYTHON,
            _OAI,
        ),
        Sdk(
            "claude-cli",
            "claude-cli/{v} (external, cli)",
            ("1.0.51", "1.0.88", "2.0.14"),
            JA4_NODE,
            _ANT,
        ),
        Sdk(
            "codex",
            "codex_cli_rs/{v} (Mac OS 15.5.0; arm64) iTerm.app/3.5.14",
            ("0.36.0", "0.46.0"),
            JA4_RUST,
            ("openai.responses",),
        ),
        Sdk("cline", "Anthropic/JS {v} cline", ("0.37.0", "0.52.0"), JA4_NODE, _ANT),
    )
}


def client_record(endpoint: Endpoint | None, user_agent: str | None, tls: str | None) -> Any:
    """The exchange's ``client`` object; fields the provider did not see are null."""
    if endpoint is None:
        return {
            "ip": None,
            "user_agent": user_agent,
            "asn": None,
            "asn_org": None,
            "country": None,
            "tls_fingerprint": tls,
        }
    net = endpoint.network
    return {
        "ip": endpoint.ip,
        "user_agent": user_agent,
        "asn": net.asn,
        "asn_org": net.org,
        "country": net.country,
        "tls_fingerprint": tls,
    }
