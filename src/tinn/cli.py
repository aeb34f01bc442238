"""The `tinn` command line."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tinn import __version__
from tinn.auth.cli import app as auth_cli_app
from tinn.client.cli import register as register_client_commands
from tinn.settings import Settings, describe

app = typer.Typer(
    name="tinn",
    help="Tinn: the Altinn 3 platform (App, Storage, Events and Authentication APIs) in one command.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
apps_app = typer.Typer(help="Altinn Studio app definitions.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(apps_app, name="apps")
app.add_typer(auth_cli_app)  # `tinn token ...` and `tinn keys ...`

console = Console()
err_console = Console(stderr=True)


def _set_env(name: str, value: object | None) -> None:
    """CLI options become TINN_* variables so worker processes see the same settings."""
    if value is None:
        return
    if isinstance(value, list):
        os.environ[name] = ":".join(str(v) for v in value)
    else:
        os.environ[name] = str(value)


AppsOption = Annotated[
    list[Path] | None,
    typer.Option("--apps", help="Folder with Altinn Studio apps ({org}/{app}/...); repeatable."),
]


@app.command()
def serve(
    apps: AppsOption = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Number of API processes.")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL (default: SQLite file).")] = None,
    blob_url: Annotated[str | None, typer.Option(help="Blob store URL (default: local folder).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder for the embedded defaults.")] = None,
) -> None:
    """Run the platform: App API, Storage, Events, Register and Authentication on one port."""
    import uvicorn

    _set_env("TINN_APPS", [p.resolve() for p in apps] if apps else None)
    _set_env("TINN_HOST", host)
    _set_env("TINN_PORT", port)
    _set_env("TINN_WORKERS", workers)
    _set_env("TINN_DATABASE_URL", database_url)
    _set_env("TINN_BLOB_URL", blob_url)
    _set_env("TINN_DATA_DIR", data_dir.resolve() if data_dir else None)
    settings = Settings()
    # Migrate once here, before several worker processes could race to do it.
    if settings.effective_auto_migrate:
        from tinn.storage import migrate

        asyncio.run(migrate.upgrade(settings.effective_database_url))
        os.environ["TINN_AUTO_MIGRATE"] = "false"
    if settings.workers > 1:
        metrics_dir = (settings.data_dir / "metrics").resolve()
        metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    console.print(
        f"[bold]Tinn {__version__}[/] on [link]{settings.effective_public_url}[/] "
        f"({'SQLite' if settings.is_sqlite else 'PostgreSQL'}, {settings.workers} process(es))"
    )
    uvicorn.run(
        "tinn.server:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        access_log=settings.access_log,
        log_level=settings.log_level,
        proxy_headers=True,
    )


@app.command()
def worker(
    apps: AppsOption = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL (default: SQLite file).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder for the embedded defaults.")] = None,
) -> None:
    """Run an event worker (fan-out, webhook delivery, subscription validation) until SIGINT/SIGTERM."""
    import uvloop

    from tinn.events.worker import run_worker
    from tinn.observability import configure_logging

    _set_env("TINN_APPS", [p.resolve() for p in apps] if apps else None)
    _set_env("TINN_DATABASE_URL", database_url)
    _set_env("TINN_DATA_DIR", data_dir.resolve() if data_dir else None)
    settings = Settings()
    configure_logging(settings)
    uvloop.run(run_worker(settings))


@app.command()
def config(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the reference as Markdown.")] = False,
) -> None:
    """Print the effective configuration (TINN_* environment variables)."""
    settings = Settings()
    if markdown:
        print(settings_markdown(), end="")
        return
    table = Table("variable", "value", "meaning", show_lines=False)
    for name, value, description in describe(settings):
        table.add_row(name, value, description)
    console.print(table)


def settings_markdown() -> str:
    """docs/configuration.md, generated from the settings' descriptions (checked in CI)."""
    lines = [
        "# Configuration reference",
        "",
        "Generated by `tinn config --markdown` from `src/tinn/settings.py`; do not edit by hand.",
        "Every setting is an environment variable; `tinn config` prints the effective values.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if name == "apps":
            shown = "bundled demo apps"
        elif name == "register_dir":
            shown = "built-in test register"
        elif isinstance(default, list | dict):
            shown = str(default) if default else "empty"
        elif default is None:
            shown = ""
        else:
            shown = str(getattr(default, "value", default))
        lines.append(f"| `TINN_{name.upper()}` | `{shown}` | {field.description or ''} |")
    return "\n".join(lines) + "\n"


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations."""
    from tinn.storage import migrate

    settings = Settings()
    asyncio.run(migrate.upgrade(settings.effective_database_url, revision))
    current = asyncio.run(migrate.current_revision(settings.effective_database_url))
    console.print(f"database at revision [bold]{current}[/]")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the one this Tinn needs."""
    from tinn.storage import migrate

    settings = Settings()
    current = asyncio.run(migrate.current_revision(settings.effective_database_url))
    head = migrate.head_revision()
    console.print(f"database: {current or 'empty'}   needed: {head}")
    if current != head:
        raise typer.Exit(1)


@app.command()
def cleanup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be purged; delete nothing.")
    ] = False,
    orphans: Annotated[
        bool,
        typer.Option("--orphans/--no-orphans", help="Also delete unreferenced blobs older than an hour."),
    ] = True,
) -> None:
    """Purge hard-deleted instances and delay-deleted data under Altinn's 7-day rules (run it daily)."""
    from tinn.instances.cleanup import run_from_settings

    report = asyncio.run(run_from_settings(Settings(), dry_run=dry_run, orphans=orphans))
    table = Table("cleanup" + (" (dry run)" if dry_run else ""), "count")
    for label, count in report.lines():
        table.add_row(label, str(count))
    console.print(table)
    if report.failures:
        raise typer.Exit(1)


@apps_app.command("list")
def apps_list(apps: AppsOption = None) -> None:
    """Load the app folders and show what loaded (and what did not, with file and line)."""
    from tinn.appdef.registry import load_apps

    settings = Settings()
    registry = load_apps([p.resolve() for p in apps] if apps else settings.apps)
    table = Table("app", "title", "data types", "tasks", "languages", "folder")
    for definition in registry:
        table.add_row(
            definition.id,
            definition.title(),
            ", ".join(dt.id for dt in definition.metadata.data_types),
            ", ".join(t.id for t in definition.process.tasks) if definition.process else "",
            ", ".join(sorted(definition.texts)),
            str(definition.path),
        )
    console.print(table)
    for error in registry.errors:
        where = f"{error.path}:{error.line}" if error.line else str(error.path)
        err_console.print(f"[red]failed[/] {where}: {error.message}")
    if registry.errors:
        raise typer.Exit(1)


def openapi_document() -> str:
    """The OpenAPI document the server publishes at /swagger/v1/swagger.json, as committed text."""
    import json

    from tinn.server import create_app

    document = create_app(Settings()).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@app.command()
def openapi(
    path: Annotated[Path | None, typer.Argument(help="File to write (default: standard output).")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Fail if PATH differs from the generated document.")
    ] = False,
) -> None:
    """Generate the OpenAPI document of every API Tinn serves."""
    document = openapi_document()
    if check:
        if path is None or not path.exists() or path.read_text("utf-8") != document:
            err_console.print(f"[red]{path} is out of date[/]: run `tinn openapi {path}`")
            raise typer.Exit(1)
        console.print(f"{path} is up to date")
        return
    if path is None:
        print(document, end="")
    else:
        path.write_text(document, "utf-8")


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


register_client_commands(app)  # `tinn submit`, `tinn receive`, `tinn demo`


def main() -> None:
    app()
