"""`tinn submit`, `tinn receive` and `tinn demo`: the two seed journeys from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from tinn.client.app import AppClient, Attachment
from tinn.client.errors import AltinnError, AltinnHTTPError, ConflictError
from tinn.client.events import AsyncEventsClient
from tinn.client.models import RECEIPT_DATA_TYPE, Instance, ValidationIssue
from tinn.client.receiver import (
    Received,
    Receiver,
    ReceiverBusy,
    WebhookInbox,
    drain_webhooks,
    subscribe,
    webhook_app,
)
from tinn.client.storage import AsyncStorageClient
from tinn.client.tokens import (
    SERVICE_OWNER_SCOPES,
    MaskinportenToken,
    StaticToken,
    TestIdentityToken,
    TokenProvider,
)

DEFAULT_URL = "http://127.0.0.1:5005"
err = Console(stderr=True)
out = Console()

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="TINN_CLIENT_URL", help="Base URL of the apps (Tinn: its one URL)."),
]
PlatformUrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="TINN_CLIENT_URL",
        help="Base URL of Storage, Events and Authentication (Tinn: its one URL; Altinn: platform.{env}).",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="ALTINN_TOKEN", help="An Altinn token to use as is (else a test token)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]


def register(app: typer.Typer) -> None:
    """Add the client commands to the `tinn` command line."""
    app.command("submit")(submit)
    app.command("receive")(receive)
    app.command("demo")(demo)


def _quiet_logs() -> None:
    """Only warnings from the SDK's structlog events, on stderr (unless logging is set up already)."""
    if not structlog.is_configured():
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        )


def _split_app(app_id: str) -> tuple[str, str]:
    org, _, app = app_id.partition("/")
    if not org or not app or "/" in app:
        raise typer.BadParameter(f"expected ORG/APP, got {app_id!r}")
    return org, app


# -- submit -------------------------------------------------------------------------------------------


@dataclass
class SubmitResult:
    instance: Instance | None = None
    issues: list[ValidationIssue] = field(default_factory=list)
    ended: bool = False
    current_task: str | None = None
    receipt: Path | None = None

    def as_json(self) -> dict[str, Any]:
        instance = self.instance
        return {
            "status": "invalid" if any(i.is_error for i in self.issues) else "ok",
            "instanceId": instance.id if instance else None,
            "dataElements": [
                {"id": e.id, "dataType": e.data_type, "filename": e.filename, "size": e.size}
                for e in (instance.data if instance else [])
            ],
            "issues": [issue.raw for issue in self.issues],
            "process": {"currentTask": self.current_task, "ended": self.ended},
            "receipt": str(self.receipt) if self.receipt else None,
        }


def _typed(values: list[str], default: str | None, what: str) -> list[tuple[str, Path]]:
    """``TYPE=PATH`` or ``PATH`` (the app's default data type for ``what``)."""
    pairs = []
    for value in values:
        data_type, sep, path = value.partition("=")
        if not sep or not data_type or Path(value).exists():
            data_type, path = default or "", value
        if not data_type:
            raise typer.BadParameter(f"the app has no {what} data type; write TYPE=PATH")
        if not Path(path).is_file():
            raise typer.BadParameter(f"{path}: no such file")
        pairs.append((data_type, Path(path)))
    return pairs


def _default_types(metadata: dict[str, Any]) -> tuple[str | None, str | None]:
    """The app's first form data type and first attachment type (by applicationmetadata)."""
    form = attachment = None
    for data_type in metadata.get("dataTypes") or []:
        if data_type.get("id") == RECEIPT_DATA_TYPE or not data_type.get("taskId"):
            continue
        if (data_type.get("appLogic") or {}).get("classRef"):
            form = form or data_type["id"]
        else:
            attachment = attachment or data_type["id"]
    return form, attachment


@contextlib.contextmanager
def _upload_bars(files: list[tuple[str, Path]], enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """Progress bars, one per file, fed by the byte count of the one multipart request."""
    if not enabled or not files:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        tasks = [
            (progress.add_task(f"{t}: {p.name}", total=p.stat().st_size), p.stat().st_size) for t, p in files
        ]
        sent = 0

        def advance(count: int) -> None:
            nonlocal sent
            sent += count
            offset = 0
            for task, size in tasks:
                progress.update(task, completed=max(0, min(size, sent - offset)))
                offset += size

        yield advance
        for task, size in tasks:
            progress.update(task, completed=size)


def print_issues(issues: list[ValidationIssue], console: Console = err) -> None:
    table = Table("severity", "field", "code", "description", "source", title="Validation issues")
    for issue in issues:
        style = "red" if issue.is_error else "yellow" if issue.severity == 2 else ""
        table.add_row(
            f"[{style}]{issue.severity_name}[/]" if style else issue.severity_name,
            issue.field or "",
            issue.code or "",
            issue.description or "",
            issue.source or "",
        )
    console.print(table)


def run_submit(
    client: AppClient,
    party: int,
    data: list[str],
    attach: list[str],
    *,
    to_end: bool,
    receipt_dir: Path,
    progress: bool,
    say: Callable[[str], None],
) -> SubmitResult:
    """Instantiate with the files, validate, move the process, save the receipt."""
    result = SubmitResult()
    form_type, attachment_type = _default_types(client.metadata())
    forms = _typed(data, form_type, "form")
    files = _typed(attach, attachment_type, "attachment")
    with _upload_bars(forms + files, progress) as advance:
        instance = client.instantiate(
            party,
            data=dict(forms),
            attachments=[Attachment(t, p) for t, p in files],
            progress=advance,
        )
    result.instance = instance
    result.current_task = instance.current_task
    say(f"created instance {instance.id} with {len(instance.data)} data element(s)")
    result.issues = client.validate(instance)
    if any(issue.is_error for issue in result.issues):
        say(f"[red]invalid[/]: {sum(i.is_error for i in result.issues)} error(s); the process was not moved")
        return result
    say("validated: no errors" + (f" ({len(result.issues)} other issue(s))" if result.issues else ""))
    while True:
        try:
            state = client.next(instance.id)
        except ConflictError as exc:
            if exc.issues:
                result.issues = exc.issues
                say(f"[red]refused[/]: {exc.title or exc.detail}")
                return result
            raise
        result.current_task, result.ended = state.current_task, state.ended
        say("process ended" if state.ended else f"process moved to {state.current_task}")
        if state.ended or not to_end:
            break
    result.instance = client.get_instance(instance.id)
    if result.ended and result.instance.elements(RECEIPT_DATA_TYPE):
        receipt_dir.mkdir(parents=True, exist_ok=True)
        result.receipt = client.download_receipt(
            result.instance, receipt_dir / f"receipt-{instance.guid}.pdf"
        )
        say(f"receipt saved to {result.receipt}")
    return result


def user_token(
    url: str,
    token: str | None,
    user_id: int,
    party: int,
    pid: str,
    auth_level: int,
    system_user: str | None = None,
    system_user_org: str | None = None,
) -> TokenProvider:
    if token:
        return StaticToken(token)
    if system_user:
        if not system_user_org:
            raise typer.BadParameter("--system-user-org is required with --system-user")
        return TestIdentityToken.system_user(url, system_user_id=system_user, system_user_org=system_user_org)
    return TestIdentityToken.personal(url, user_id=user_id, party_id=party, pid=pid, auth_level=auth_level)


def submit(
    app_id: Annotated[str, typer.Argument(metavar="ORG/APP", help="The app, e.g. ttd/soknad.")],
    party: Annotated[int, typer.Option("--party", help="Instance owner party id.")],
    data: Annotated[
        list[str] | None,
        typer.Option("--data", help="Form data file (XML or JSON), or TYPE=PATH; repeatable."),
    ] = None,
    attach: Annotated[
        list[str] | None, typer.Option("--attach", help="Attachment file, or TYPE=PATH; repeatable.")
    ] = None,
    to_end: Annotated[bool, typer.Option("--to-end", help="Move the process until it ends.")] = False,
    receipt_dir: Annotated[
        Path, typer.Option("--receipt-dir", help="Where to save the receipt PDF.")
    ] = Path(),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    user_id: Annotated[int, typer.Option("--user-id", help="Test token: user id.")] = 1337,
    pid: Annotated[str, typer.Option("--pid", help="Test token: national identity number.")] = "01039012345",
    auth_level: Annotated[int, typer.Option("--auth-level", help="Test token: authentication level.")] = 2,
    system_user: Annotated[
        str | None, typer.Option("--system-user", help="Test token: act as this system user (its id).")
    ] = None,
    system_user_org: Annotated[
        str | None,
        typer.Option("--system-user-org", help="Test token: the system user's customer (org number)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """End-user system: instantiate with data and attachments, validate, move the process, save the receipt.

    Without --token it fetches a test token for --user-id/--party/--pid from the test identity
    provider at --url (Tinn, localtest), or with --system-user one for a system user acting for
    its customer --system-user-org. Exit code 1 when the data is invalid.
    """
    _quiet_logs()
    org, app = _split_app(app_id)
    say: Callable[[str], None] = (lambda _: None) if as_json else err.print
    tokens = user_token(url, token, user_id, party, pid, auth_level, system_user, system_user_org)
    try:
        with AppClient(org, app, url, tokens) as client:
            result = run_submit(
                client,
                party,
                data or [],
                attach or [],
                to_end=to_end,
                receipt_dir=receipt_dir,
                progress=not as_json,
                say=say,
            )
    except AltinnError as exc:
        _fail(exc, as_json)
    invalid = any(issue.is_error for issue in result.issues)
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
    elif result.issues:
        print_issues(result.issues)
    if invalid:
        raise typer.Exit(1)


def _fail(exc: AltinnError, as_json: bool) -> None:
    if as_json:
        body: dict[str, Any] = {"status": "error", "error": str(exc)}
        if isinstance(exc, AltinnHTTPError):
            body.update(httpStatus=exc.status, problem=exc.problem)
        print(json.dumps(body, indent=2))
    else:
        err.print(f"[red]error[/]: {exc}")
    raise typer.Exit(2)


# -- receive ------------------------------------------------------------------------------------------


def service_owner_token(
    url: str,
    token: str | None,
    org: str,
    org_no: str,
    maskinporten_client_id: str | None,
    maskinporten_key: Path | None,
    maskinporten_audience: str | None,
    maskinporten_token_endpoint: str | None,
    scopes: str,
) -> TokenProvider:
    if token:
        return StaticToken(token)
    if maskinporten_client_id and maskinporten_key:
        if not maskinporten_token_endpoint:
            raise typer.BadParameter(
                "--maskinporten-token-endpoint is required with --maskinporten-client-id"
            )
        return MaskinportenToken(
            client_id=maskinporten_client_id,
            key_file=maskinporten_key,
            audience=maskinporten_audience,
            metadata_url=None
            if maskinporten_audience
            else maskinporten_token_endpoint.rsplit("/", 1)[0] + "/.well-known/oauth-authorization-server",
            token_endpoint=maskinporten_token_endpoint,
            scopes=scopes,
            exchange_url=url,
        )
    return TestIdentityToken.enterprise(url, org=org, org_no=org_no, scopes=scopes)


@dataclass
class ReceiveOptions:
    org: str
    app: str
    url: str
    out: Path
    tokens: TokenProvider
    once: bool = False
    webhook: bool = False
    listen: str = "127.0.0.1:8090"
    public_url: str | None = None
    poll_interval: float = 30.0
    max_instances: int | None = None
    concurrency: int = 4


async def run_receive(
    options: ReceiveOptions,
    on_received: Callable[[Received], None] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> Receiver:
    """Sweep (and listen for webhooks) until done; returns the receiver with what it received."""
    import uvicorn

    done = asyncio.Event()

    def received(item: Received) -> None:
        if on_received is not None:
            on_received(item)
        if options.max_instances is not None and len(receiver.received) >= options.max_instances:
            done.set()

    async with (
        AsyncStorageClient(options.url, options.tokens) as storage,
        contextlib.AsyncExitStack() as stack,
    ):
        receiver = Receiver(
            storage,
            options.org,
            options.app,
            options.out,
            concurrency=options.concurrency,
            on_received=received,
        )
        await asyncio.to_thread(receiver.prepare)
        stack.callback(receiver.release)
        server: uvicorn.Server | None = None
        tasks: list[asyncio.Task[Any]] = []
        try:
            if options.webhook:
                host, _, port = options.listen.rpartition(":")
                inbox = WebhookInbox()
                config = uvicorn.Config(
                    webhook_app(inbox),
                    host=host or "127.0.0.1",
                    port=int(port),
                    log_level="warning",
                    lifespan="off",
                )
                server = uvicorn.Server(config)
                tasks.append(asyncio.create_task(server.serve()))
                while not server.started:
                    if tasks[0].done():
                        await tasks[0]
                        raise RuntimeError(f"cannot listen on {options.listen}")
                    await asyncio.sleep(0.05)
                endpoint = options.public_url or f"http://{options.listen}/"
                async with AsyncEventsClient(options.url, options.tokens) as events:
                    subscription = await subscribe(
                        events, options.org, options.app, endpoint, options.out / ".tinn-receive"
                    )
                inbox.secret = subscription.secret
                tasks.append(asyncio.create_task(drain_webhooks(receiver, inbox)))
            if on_ready is not None:
                on_ready()
            while not done.is_set():
                try:
                    await receiver.sweep()
                except AltinnError as exc:
                    if options.once:
                        raise
                    # A long-running receiver outlives an unreachable Storage: try again later.
                    structlog.get_logger(__name__).warning("sweep_failed", error=str(exc))
                if options.once or done.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), options.poll_interval)
        finally:
            for task in tasks[1:]:
                task.cancel()
            if server is not None:
                server.should_exit = True
            # Wait for all of them (the server's shutdown included), whichever ended how.
            await asyncio.gather(*tasks, return_exceptions=True)
    return receiver


def receive(
    app_id: Annotated[str, typer.Argument(metavar="ORG/APP", help="The app, e.g. ttd/soknad.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the received instances.")] = Path(
        "received"
    ),
    once: Annotated[bool, typer.Option("--once", help="Receive what is pending now, then exit.")] = False,
    webhook: Annotated[
        bool, typer.Option("--webhook", help="Subscribe to the app's events and listen for webhooks.")
    ] = False,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT for the webhook receiver.")
    ] = "127.0.0.1:8090",
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="The webhook URL Events posts to (default: http://LISTEN/)."),
    ] = None,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between Storage queries.", min=0.1)
    ] = 30.0,
    max_instances: Annotated[
        int | None, typer.Option("--max", help="Exit after receiving this many instances.", min=1)
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Downloads at once.", min=1)] = 4,
    url: PlatformUrlOption = DEFAULT_URL,
    token: TokenOption = None,
    org_no: Annotated[
        str, typer.Option("--org-no", help="Test token: the service owner's org number.")
    ] = "405003309",
    scopes: Annotated[str, typer.Option("--scopes", help="Scopes to ask for.")] = SERVICE_OWNER_SCOPES,
    maskinporten_client_id: Annotated[str | None, typer.Option(help="Maskinporten client id.")] = None,
    maskinporten_key: Annotated[Path | None, typer.Option(help="Maskinporten private key (PEM).")] = None,
    maskinporten_audience: Annotated[
        str | None, typer.Option(help="Maskinporten issuer (assertion aud).")
    ] = None,
    maskinporten_token_endpoint: Annotated[
        str | None, typer.Option(help="Maskinporten token endpoint.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Service owner: download every ended, unconfirmed instance of an app, verify it, store it, confirm it.

    Each instance lands in OUT/{instanceGuid}/ (instance.json, its data and attachments, the receipt,
    manifest.json with sizes and SHA-256) and is confirmed with `complete` only once the files are
    on disk. Without --once it keeps polling (and with --webhook also reacts to events at once).
    """
    _quiet_logs()
    org, app = _split_app(app_id)
    tokens = service_owner_token(
        url,
        token,
        org,
        org_no,
        maskinporten_client_id,
        maskinporten_key,
        maskinporten_audience,
        maskinporten_token_endpoint,
        scopes,
    )
    options = ReceiveOptions(
        org,
        app,
        url,
        out_dir,
        tokens,
        once=once,
        webhook=webhook,
        listen=listen,
        public_url=public_url,
        poll_interval=poll_interval,
        max_instances=max_instances,
        concurrency=concurrency,
    )

    def show(item: Received) -> None:
        if not as_json:
            again = " (already on disk, confirmed now)" if item.redelivered else ""
            err.print(
                f"received {item.instance_id} -> {item.folder} ({item.files} files, {item.bytes} bytes){again}"
            )

    try:
        receiver = asyncio.run(run_receive(options, show))
    except AltinnError as exc:
        _fail(exc, as_json)
    except ReceiverBusy as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("stopped; whatever was not confirmed is received on the next run")
        raise typer.Exit(130) from None
    if as_json:
        body = {
            "received": [item.as_json() for item in receiver.received],
            "failed": [{"instanceId": i, "error": e} for i, e in receiver.failures],
        }
        print(json.dumps(body, indent=2))
    else:
        err.print(f"{len(receiver.received)} received, {len(receiver.failures)} failed")
        for instance_id, error in receiver.failures:
            err.print(f"[red]failed[/] {instance_id}: {error}")
    if receiver.failures:
        raise typer.Exit(1)


# -- demo ---------------------------------------------------------------------------------------------

DEMO_MODEL = """<?xml version="1.0" encoding="utf-8"?>
<Soknad>
  <navn>Demo Demosen</navn>
  <organisasjonsnummer>912345678</organisasjonsnummer>
  <belop>25000</belop>
  <beskrivelse>Submitted by tinn demo</beskrivelse>
</Soknad>
"""


def _demo_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(text="An attachment sent by tinn demo")
    return bytes(pdf.output())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _throwaway_tinn(data_dir: Path, apps: list[Path]) -> Iterator[str]:
    """`tinn serve` in a subprocess on a free loopback port, stopped on exit."""
    port = _free_port()
    env = {
        **os.environ,
        "TINN_HOST": "127.0.0.1",
        "TINN_PORT": str(port),
        "TINN_DATA_DIR": str(data_dir),
        "TINN_LOG_LEVEL": "warning",
        "TINN_ACCESS_LOG": "false",
        "TINN_ENVIRONMENT": "local",
    }
    for name in (
        "TINN_DATABASE_URL",
        "TINN_BLOB_URL",
        "TINN_PUBLIC_URL",
        "TINN_PLATFORM_URL",
        "TINN_WORKERS",
    ):
        env.pop(name, None)
    if apps:
        env["TINN_APPS"] = ":".join(str(p.resolve()) for p in apps)
    url = f"http://127.0.0.1:{port}"
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tinn", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=2) as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"tinn serve exited with {process.returncode}; see {data_dir / 'server.log'}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if http.get(f"{url}/health").status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("tinn serve did not become healthy in 60 s")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _receive_one(url: str, tokens: TokenProvider, out: Path, instance_id: str) -> tuple[int, Received]:
    """The demo's receive: the query, then the safe download and confirm of its own instance only."""
    async with AsyncStorageClient(url, tokens) as storage:
        receiver = Receiver(storage, "ttd", "soknad", out)
        await asyncio.to_thread(receiver.prepare)
        try:
            pending = await receiver.pending()
            if instance_id not in [instance.id for instance in pending]:
                raise RuntimeError(f"{instance_id} is not among the pending instances")
            item = await receiver.receive(instance_id)
        finally:
            receiver.release()
    assert item is not None
    return len(pending), item


def run_demo(url: str | None, work: Path, apps: list[Path], say: Callable[[str], None]) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if url is None:
            say("[bold]1. Starting a throwaway Tinn[/] (SQLite and blobs in a temporary folder)")
            (work / "tinn").mkdir(exist_ok=True)
            url = stack.enter_context(_throwaway_tinn(work / "tinn", apps))
        else:
            say(f"[bold]1. Using the Tinn at {url}[/]")
        say(f"   Tinn is at {url}")
        model = work / "model.xml"
        model.write_text(DEMO_MODEL, "utf-8")
        report = work / "report.pdf"
        report.write_bytes(_demo_pdf())
        say(
            f"[bold]2. An end-user system submits ttd/soknad[/] as user 1337 for party 501337 ({model.name}, {report.name})"
        )
        say("   token: GET /api/GetPersonalToken (the test identity provider)")
        tokens = user_token(url, None, 1337, 501337, "01039012345", 2)
        with AppClient("ttd", "soknad", url, tokens) as client:
            result = run_submit(
                client,
                501337,
                [str(model)],
                [str(report)],
                to_end=True,
                receipt_dir=work,
                progress=False,
                say=lambda text: say(f"   {text}"),
            )
        if result.instance is None or not result.ended:
            print_issues(result.issues, out)
            raise RuntimeError("the demo submission did not reach the end of the process")
        say(
            "[bold]3. The service owner (ttd) receives it[/] with a test enterprise token (in production: Maskinporten)"
        )
        say(
            "   GET /storage/api/v1/instances?appId=ttd/soknad&process.isComplete=true&excludeConfirmedBy=ttd"
        )
        owner = TestIdentityToken.enterprise(url, org="ttd", org_no="405003309")
        pending, item = asyncio.run(_receive_one(url, owner, work / "received", result.instance.id))
        say(f"   {pending} instance(s) pending; receiving ours (a running Tinn's others are left alone)")
        folder = item.folder
        say(f"   downloaded {result.instance.id} into {folder}, checksums verified, then POST .../complete")
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                say(f"     {path.relative_to(folder)}  ({path.stat().st_size} bytes)")
        say("[bold]4. Done.[/] The instance is confirmed: it is no longer pending for ttd.")
        return {
            "url": url,
            "instanceId": result.instance.id,
            "receipt": str(result.receipt),
            "received": [item.as_json()],
        }


def demo(
    url: Annotated[
        str | None, typer.Option("--url", help="Use this running Tinn instead of starting one.")
    ] = None,
    apps: Annotated[
        list[Path] | None,
        typer.Option("--apps", help="App folders for the throwaway Tinn (default: bundled)."),
    ] = None,
    keep: Annotated[Path | None, typer.Option("--keep", help="Keep the files in this folder.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a throwaway Tinn, submit to ttd/soknad as a user, receive it as the service owner, step by step."""
    _quiet_logs()
    work = keep or Path(tempfile.mkdtemp(prefix="tinn-demo-"))
    say: Callable[[str], None] = (lambda _: None) if as_json else out.print
    try:
        summary = run_demo(url, work, apps or [], say)
    except (AltinnError, RuntimeError) as exc:
        err.print(f"[red]demo failed[/]: {exc}")
        raise typer.Exit(1) from None
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if as_json:
        print(json.dumps(summary, indent=2))
