"""Write docs/store.md, the reference of the store's columns, from the schema itself.

Run ``python scripts/gen_store_doc.py``; a test fails when the file is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from distillguard.exchange.schema import EXCHANGE_SCHEMA, SCHEMA_VERSION

HEADER = f"""# The store: what an ingested exchange keeps (schema version {SCHEMA_VERSION})

Generated from `src/distillguard/exchange/schema.py` by `scripts/gen_store_doc.py`; do not
edit by hand.

An exchange log holds customers' prompts, IP addresses and key ids. The store keeps what
hunting needs and no more: normalised parameters, conversation shape, sizes, and keyed
64-bit hashes (BLAKE2b under the deployment's key, `DISTILLGUARD_HASH_KEY`; without it a
public default key is used, which pseudonymises but does not hide). Equal values give equal
hashes, so accounts stay linkable by shared IP networks, prompts, system prompts, templates,
tool schemas and key ids, but the values cannot be read back. Raw text (the `*_text`
columns) is stored only with `--keep-text`. `account_id` is kept as is: it is the unit every
verdict is about.

Template fingerprints (`prefix_fp`, `suffix_fp`, `skeleton_fp`) are taken after masking
what is usually filled in (numbers, quoted strings, code, URLs, e-mail addresses): two
prompts made from one template with different content share them.

| column | type | meaning |
|---|---|---|
"""


def render() -> str:
    rows = [
        f"| `{field.name}` | {field.type} | {field.metadata[b'doc'].decode()} |"
        for field in EXCHANGE_SCHEMA
    ]
    footer = "\n\nPartition: `day` (UTC date of `ts`), as `exchanges/day=YYYY-MM-DD/`.\n"
    return HEADER + "\n".join(rows) + footer


def main() -> int:
    target = Path(__file__).resolve().parent.parent / "docs" / "store.md"
    target.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
