"""``distillguard marks ...``: make the master secret, print key ids, detect, investigate.

Mounted by the main command with ``app.add_typer(marks_app, name="marks")``. The master
secret comes from ``--secret-file`` or ``$DISTILLGUARD_MARK_SECRET`` and is never printed.
Texts are read from files: ``*.jsonl`` as one JSON object per line (field ``--field``),
anything else as one UTF-8 text per file.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import orjson
import typer
from rich.console import Console

from ..errors import DistillguardError, InputError
from .detect import ALPHA, Detector
from .forensics import Emitted, investigate
from .keys import ACTIVE_EPOCHS, EPOCH_DAYS, Keyring, MarkKey, MasterSecret
from .tokens import ByteTokenizer, HFTokenizer, Tokenizer
from .types import CONTEXT_WIDTH

EXIT_USAGE: Final = 2

marks_app = typer.Typer(
    name="marks",
    help="Watermark keys, detection of watermarked text, and training forensics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

SecretFile = Annotated[
    Path | None,
    typer.Option(help="File holding the master secret (default: $DISTILLGUARD_MARK_SECRET)."),
]
Scopes = Annotated[
    list[str] | None,
    typer.Option("--scope", help="cluster:<id> or account:<id> to test (repeatable)."),
]
KeyIds = Annotated[
    list[str] | None,
    typer.Option("--key-id", help="A key id the guard sent upstream (repeatable)."),
]
TokenizerFile = Annotated[
    Path | None,
    typer.Option(help="The model's tokenizer.json (default: UTF-8 bytes)."),
]
Width = Annotated[int, typer.Option(help="Context width h the watermark used.")]
Field = Annotated[str, typer.Option(help="Text field of *.jsonl inputs.")]


def _fail(error: DistillguardError) -> typer.Exit:
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(EXIT_USAGE)


def _keyring(secret_file: Path | None, epoch_days: int, active_epochs: int) -> Keyring:
    master = MasterSecret.from_file(secret_file) if secret_file else MasterSecret.from_env()
    return Keyring(master, epoch_days=epoch_days, active_epochs=active_epochs)


def _keys(ring: Keyring, scopes: list[str] | None, key_ids: list[str] | None) -> list[MarkKey]:
    keys = ring.candidates(scopes) if scopes else []
    return keys + [ring.for_id(key_id) for key_id in key_ids or ()]


def _tokenizer(path: Path | None) -> Tokenizer:
    return ByteTokenizer() if path is None else HFTokenizer.from_file(path)


def read_texts(path: Path, field: str) -> list[str]:
    """The texts of one input file (see the module docstring)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: {error.strerror or error}") from None
    if path.suffix != ".jsonl":
        return [data.decode("utf-8", "replace")]
    texts: list[str] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)[field]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{number}: not a JSON object with a {field!r} field") from None
        if not isinstance(value, str):
            raise InputError(f"{path}:{number}: field {field!r} is not a string")
        texts.append(value)
    return texts


@marks_app.command("keygen")
def keygen_command(
    path: Annotated[Path, typer.Argument(help="File to write the new master secret to.")],
) -> None:
    """Write a new random master secret to a new file (readable by its owner only)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _fail(InputError(f"{path} exists: a master secret is never overwritten")) from None
    except OSError as error:
        raise _fail(InputError(f"{path}: {error.strerror or error}")) from None
    with os.fdopen(fd, "wb") as file:
        file.write(MasterSecret.generate().exposed() + b"\n")
    console.print(f"wrote a new master secret to {path}")


@marks_app.command("key-id")
def key_id_command(
    scope: Annotated[str, typer.Argument(help="cluster:<id> or account:<id>.")],
    secret_file: SecretFile = None,
    at: Annotated[str | None, typer.Option(help="ISO time (default: now).")] = None,
    epoch_days: Annotated[int, typer.Option(help="Key lifetime in days.")] = EPOCH_DAYS,
) -> None:
    """Print the public key id the guard sends for SCOPE at a time."""
    try:
        when = datetime.fromisoformat(at) if at else datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        out.print(_keyring(secret_file, epoch_days, 1).current_id(scope, when))
    except ValueError as error:
        raise _fail(InputError(f"--at {at!r}: {error}")) from None
    except DistillguardError as error:
        raise _fail(error) from error


@marks_app.command("detect")
def detect_command(
    files: Annotated[list[Path], typer.Argument(help="Text files (*.jsonl or plain text).")],
    scope: Scopes = None,
    key_id: KeyIds = None,
    secret_file: SecretFile = None,
    tokenizer: TokenizerFile = None,
    context_width: Width = CONTEXT_WIDTH,
    field: Field = "text",
    alpha: Annotated[float, typer.Option(help="Significance to call a text marked.")] = ALPHA,
    epoch_days: Annotated[int, typer.Option()] = EPOCH_DAYS,
    active_epochs: Annotated[int, typer.Option()] = ACTIVE_EPOCHS,
) -> None:
    """Test each text for the active keys of the scopes; one JSON line per text."""
    try:
        keys = _keys(_keyring(secret_file, epoch_days, active_epochs), scope, key_id)
        tok = _tokenizer(tokenizer)
        detector = Detector(keys, tok.vocab_size, context_width=context_width)
        for path in files:
            for index, text in enumerate(read_texts(path, field)):
                result = detector.test_text(text, tok).to_json(alpha)
                typer.echo(orjson.dumps({"file": str(path), "index": index, **result}))
    except DistillguardError as error:
        raise _fail(error) from error


@marks_app.command("forensics")
def forensics_command(
    suspect: Annotated[list[Path], typer.Argument(help="Text the suspect model generated.")],
    scope: Scopes = None,
    key_id: KeyIds = None,
    emitted: Annotated[
        Path | None, typer.Option(help="Contexts we emitted (.npz from Emitted.save).")
    ] = None,
    prompts: Annotated[
        list[Path] | None, typer.Option("--prompts", help="Prompts given to the suspect.")
    ] = None,
    secret_file: SecretFile = None,
    tokenizer: TokenizerFile = None,
    context_width: Width = CONTEXT_WIDTH,
    field: Field = "text",
    alpha: Annotated[float, typer.Option()] = ALPHA,
    epoch_days: Annotated[int, typer.Option()] = EPOCH_DAYS,
    active_epochs: Annotated[int, typer.Option()] = ACTIVE_EPOCHS,
) -> None:
    """Was the suspect trained on our marked text? One JSON report, naming the key."""
    try:
        keys = _keys(_keyring(secret_file, epoch_days, active_epochs), scope, key_id)
        tok = _tokenizer(tokenizer)
        texts = [tok.encode(t) for path in suspect for t in read_texts(path, field)]
        given = [tok.encode(t) for path in prompts or () for t in read_texts(path, field)]
        finding = investigate(
            texts,
            keys,
            Emitted.load(emitted) if emitted else None,
            vocab_size=tok.vocab_size,
            context_width=context_width,
            prompts=given,
        )
        typer.echo(orjson.dumps(finding.to_json(alpha), option=orjson.OPT_INDENT_2))
    except DistillguardError as error:
        raise _fail(error) from error
