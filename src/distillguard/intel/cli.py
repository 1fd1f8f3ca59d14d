"""``distillguard intel``: export, import, push and pull shared indicators.

Mounted on the main command as ``app.add_typer(intel_app, name="intel")``. Exit codes as
for the main command: 0 success, 2 a usage, input or bundle error (nothing was imported).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, cast, get_args

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import DistillguardError
from .errors import IntelError
from .keys import KEY_ENV, SharingKey
from .store import ImportResult, IntelStore
from .taxii import TaxiiAuth, open_collection, pull, push
from .validate import parse_bundle
from .vocabulary import SHARE_TYPES, ShareType, Tlp

if TYPE_CHECKING:
    from .match import SharedIntel

EXIT_USAGE: Final = 2
PASSWORD_ENV: Final = "DISTILLGUARD_TAXII_PASSWORD"

intel_app = typer.Typer(
    name="intel",
    help="Share campaign indicators with other providers: STIX 2.1 bundles of keyed "
    "digests, imported whole, moved through TAXII 2.1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console(stderr=True)
out = Console()

KeyFile = Annotated[
    Path | None,
    typer.Option(help=f"File holding the sharing group's key (default: ${KEY_ENV})."),
]
StoreDir = Annotated[Path, typer.Option("--store", help="Intel store folder.")]
Url = Annotated[str, typer.Option("--url", help="TAXII 2.1 discovery URL (…/taxii2/).")]
CollectionName = Annotated[str, typer.Option("--collection", help="Collection id or title.")]
User = Annotated[
    str | None, typer.Option(help=f"TAXII user; the password comes from ${PASSWORD_ENV}.")
]


def _fail(error: DistillguardError) -> typer.Exit:
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(EXIT_USAGE)


@contextmanager
def _progress(what: str) -> Iterator[Progress]:
    with Progress(
        SpinnerColumn(),
        TextColumn(f"[bold]{what}[/bold] {{task.description}}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        yield bar


def sharing_key(key_file: Path | None) -> SharingKey:
    return SharingKey.from_file(key_file) if key_file else SharingKey.from_env()


def hunt_intel(store: Path, key_file: Path | None = None) -> SharedIntel:
    """The ``--intel`` option of ``distillguard hunt``: the store's indicators and the key,
    with a warning printed for every reason some of them cannot match."""
    from .match import SharedIntel  # with the hunt's libraries: imported when used

    if not store.is_dir():
        raise IntelError(f"{store}: no intel store (import a bundle first)")
    intel = SharedIntel.load(store, sharing_key(key_file))
    for warning in intel.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    return intel


def _auth(user: str | None) -> TaxiiAuth:
    return TaxiiAuth(user, os.environ.get(PASSWORD_ENV)) if user else TaxiiAuth()


def _print_import(result: ImportResult) -> None:
    table = Table(title="intel import", show_header=False, box=None)
    table.add_row("bundle", result.bundle_id)
    table.add_row("campaigns", f"{result.campaigns:,}")
    table.add_row("indicators", f"{result.indicators:,}")
    if result.skipped:
        table.add_row("not matchable", f"{result.skipped:,}")
    table.add_row("stored", str(result.path))
    out.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _share(values: list[str]) -> frozenset[ShareType]:
    unknown = sorted(set(values) - set(SHARE_TYPES))
    if unknown:
        raise IntelError(f"--share {unknown[0]!r}: choose from {', '.join(SHARE_TYPES)}")
    return frozenset(cast(ShareType, v) for v in values)


def _tlp(value: str) -> Tlp:
    if value not in get_args(Tlp):
        raise IntelError(f"--tlp {value!r}: choose clear, green, amber or red")
    return cast(Tlp, value)


def _actors(values: list[str]) -> dict[str, str]:
    actors = {}
    for value in values:
        campaign, sep, actor = value.partition("=")
        if not sep or not campaign or not actor:
            raise IntelError(f"--actor {value!r}: expected CAMPAIGN=ACTOR")
        actors[campaign] = actor
    return actors


@intel_app.command("export")
def export_command(
    hunt_dir: Annotated[Path, typer.Argument(help="A hunt's output folder.")],
    out_file: Annotated[Path, typer.Option("--out", help="Bundle file to write (JSON).")],
    store: Annotated[
        Path | None, typer.Option(help="The store the hunt read (default: HUNT_DIR/store).")
    ] = None,
    producer: Annotated[str, typer.Option(help="Your organisation, as partners see it.")] = (
        "distillguard user"
    ),
    tlp: Annotated[str, typer.Option(help="TLP marking: clear, green, amber or red.")] = "amber",
    share: Annotated[
        list[str] | None,
        typer.Option(help="Also share in the clear: asn, email-domain or account-id (repeat)."),
    ] = None,
    actor: Annotated[
        list[str] | None, typer.Option(help="Attribute a campaign: CAMPAIGN=ACTOR (repeat).")
    ] = None,
    min_confidence: Annotated[float, typer.Option(help="Skip less confident campaigns.")] = 0.0,
    key_file: KeyFile = None,
) -> None:
    """Export a hunt's campaigns as a STIX 2.1 bundle of keyed artefact digests."""
    from .export import ExportOptions, export_hunt  # with the hunt's libraries

    try:
        options = ExportOptions(
            producer=producer,
            tlp=_tlp(tlp),
            share=_share(share or []),
            min_confidence=min_confidence,
            actors=_actors(actor or []),
        )
        key = sharing_key(key_file)
        with _progress("intel export") as bar:
            task = bar.add_task("reading", total=None)
            bundle = export_hunt(
                hunt_dir,
                out_file,
                key,
                options,
                store=store,
                progress=lambda s: bar.update(task, description=s),
            )
    except DistillguardError as error:
        raise _fail(error) from error
    kinds: dict[str, int] = {}
    for obj in bundle["objects"]:
        kinds[obj["type"]] = kinds.get(obj["type"], 0) + 1
    table = Table(title="intel export", show_header=False, box=None)
    for kind in ("campaign", "intrusion-set", "indicator", "infrastructure", "relationship"):
        table.add_row(kind, f"{kinds.get(kind, 0):,}")
    table.add_row("key id", key.key_id)
    table.add_row("written", str(out_file))
    out.print(table)


@intel_app.command("import")
def import_command(
    bundle: Annotated[Path, typer.Argument(help="A STIX 2.1 bundle from a partner.")],
    store: StoreDir = Path("intel"),
    key_file: KeyFile = None,
) -> None:
    """Check a partner's bundle whole and keep it; a bundle with any error is not kept."""
    try:
        key = sharing_key(key_file) if key_file or os.environ.get(KEY_ENV) else None
        result = IntelStore(store).add_file(bundle, key=key)
    except DistillguardError as error:
        raise _fail(error) from error
    _print_import(result)


@intel_app.command("push")
def push_command(
    bundle: Annotated[Path, typer.Argument(help="A bundle to publish (see export).")],
    url: Url,
    collection: CollectionName,
    user: User = None,
) -> None:
    """Publish a bundle's objects to a TAXII 2.1 collection."""
    try:
        parsed = parse_bundle(bundle.read_bytes(), source=str(bundle))
        with _progress("intel push") as bar:
            bar.add_task(collection, total=None)
            result = push(open_collection(url, collection, _auth(user)), parsed)
    except OSError as exc:
        raise _fail(IntelError(f"{bundle}: cannot read: {exc.strerror}")) from exc
    except DistillguardError as error:
        raise _fail(error) from error
    out.print(
        f"pushed {result.succeeded:,} objects to {collection} ({result.present:,} already there)"
    )


@intel_app.command("pull")
def pull_command(
    url: Url,
    collection: CollectionName,
    store: StoreDir = Path("intel"),
    user: User = None,
    added_after: Annotated[
        datetime | None, typer.Option(help="Only objects added after this time.")
    ] = None,
    key_file: KeyFile = None,
) -> None:
    """Import a TAXII 2.1 collection's objects into the intel store, whole or not at all."""
    try:
        key = sharing_key(key_file) if key_file or os.environ.get(KEY_ENV) else None
        with _progress("intel pull") as bar:
            bar.add_task(collection, total=None)
            source = open_collection(url, collection, _auth(user))
            result = pull(source, IntelStore(store), key=key, added_after=added_after)
    except DistillguardError as error:
        raise _fail(error) from error
    _print_import(result)
