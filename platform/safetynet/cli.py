"""The ``safetynet`` command (API.md, "Command line").

Configuration comes from the environment (``SAFETYNET_DATABASE_URL``, ``SAFETYNET_SECRET_KEY``, …);
``--disable-plugin`` and ``--plugin`` add to ``SAFETYNET_DISABLE_PLUGINS`` and ``SAFETYNET_PLUGINS``.
Errors a user can fix are one line on stderr, ``error: …``, with a non-zero exit code.
"""

from __future__ import annotations

import os
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from sqlalchemy import exc as sa_exc

from safetynet.cli_monitoring import ingest
from safetynet.explain_command import explain
from safetynet.governance.reconcile_command import reconcile_command
from safetynet.keys_command import keys
from safetynet.matching.commands import match
from safetynet.monitoring.sweep_command import sweep
from safetynet.plugins import PluginLoadError
from safetynet.principals import KeyError_
from safetynet.rules import LocalityCodeError, PackError, ParameterError
from safetynet.settings import Settings, SettingsError
from safetynet.store.backup_command import backup_command, restore_command
from safetynet.store.db import DatabaseURLError
from safetynet.store.load_command import load

if TYPE_CHECKING:
    from safetynet.runtime import Runtime

T = TypeVar("T")

APP_FACTORY = "safetynet.app:create_app_from_env"
DEMO_BATCH = 100
# Errors whose message already says what is wrong and what to do.
USER_ERRORS = (PluginLoadError, SettingsError, DatabaseURLError, PackError, ParameterError)


class CLIError(click.ClickException):
    """A one-line ``error: …`` on stderr and an exit code (1 by default, 2 for bad usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class SafetynetGroup(click.Group):
    """Turns the platform's configuration and plugin errors into ``error: …`` lines (no tracebacks)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyError_, LocalityCodeError) as exc:
            raise CLIError(str(exc), exit_code=2) from exc
        except USER_ERRORS as exc:
            raise CLIError(str(exc)) from exc
        except (sa_exc.OperationalError, sa_exc.ProgrammingError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
            raise CLIError(
                f"database: {reason} (has `safetynet migrate` been run on this database?)"
            ) from exc


@dataclass(frozen=True)
class Options:
    """The global options, kept until a command needs the settings."""

    disabled_plugins: tuple[str, ...]
    allowed_plugins: tuple[str, ...]

    def settings(self) -> Settings:
        disabled = _merge(os.environ.get("SAFETYNET_DISABLE_PLUGINS"), self.disabled_plugins)
        allowed = _merge(os.environ.get("SAFETYNET_PLUGINS"), self.allowed_plugins)
        return Settings.from_env(disabled_plugins=disabled, allowed_plugins=allowed)

    def runtime(self) -> Runtime:
        from safetynet.runtime import Runtime

        return Runtime.start(self.settings())


def _merge(env_value: str | None, names: Iterable[str]) -> tuple[str, ...]:
    """The comma-separated names of an environment variable followed by the options, without repeats."""
    merged: list[str] = []
    for name in [*(env_value or "").split(","), *names]:
        name = name.strip()
        if name and name not in merged:
            merged.append(name)
    return tuple(merged)


def _options(ctx: click.Context) -> Options:
    return ctx.find_object(Options) or Options((), ())


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


@click.group(cls=SafetynetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--disable-plugin",
    "disabled",
    multiple=True,
    metavar="NAME",
    help="Do not load this plugin (entry point name, e.g. aid.dibao); repeatable. Adds to SAFETYNET_DISABLE_PLUGINS.",
)
@click.option(
    "--plugin",
    "allowed",
    multiple=True,
    metavar="NAME",
    help="Load only the plugins named (repeatable allow-list). Adds to SAFETYNET_PLUGINS.",
)
@click.version_option(package_name="safetynet")
@click.pass_context
def cli(ctx: click.Context, disabled: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """safetynet — low-income population monitoring and tiered social assistance (低收入人口动态监测).

    Configured by SAFETYNET_DATABASE_URL (default sqlite:///safetynet.db), SAFETYNET_SECRET_KEY,
    SAFETYNET_BROADCAST_URL and SAFETYNET_ENV (development/production).
    """
    ctx.obj = Options(tuple(disabled), tuple(allowed))


# ---------------------------------------------------------------- migrate


def _revisions(runtime: Runtime) -> tuple[str | None, str | None]:
    """(the database's current revision, the newest revision in migrations/)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from safetynet.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with runtime.database.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head


def _migrate(runtime: Runtime) -> None:
    from safetynet.store.migrate import upgrade

    before, head = _revisions(runtime)
    upgrade(runtime.database)
    if before == head:
        click.echo(f"database {_shown_url(runtime.settings.database_url)} is already at revision {head}")
    else:
        click.echo(
            f"database {_shown_url(runtime.settings.database_url)} migrated from "
            f"{before or 'empty'} to revision {head}"
        )
    runtime.sync_localities()
    codes = sorted(runtime.localities.localities)
    click.echo(f"localities synced: {len(codes)} ({', '.join(codes)})")


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the database to the newest schema and mirror the plugins' localities into it."""
    _migrate(_options(ctx).runtime())


# ---------------------------------------------------------------- serve


def _check_migrated(runtime: Runtime) -> None:
    current, head = _revisions(runtime)
    if current is None:
        raise CLIError(
            f"database {_shown_url(runtime.settings.database_url)} has no tables: run `safetynet migrate` first"
        )
    if current != head:
        click.echo(
            f"warning: database is at revision {current}, the code expects {head}; run `safetynet migrate`",
            err=True,
        )


def _serve(runtime: Runtime, host: str, port: int, workers: int = 1, reload: bool = False) -> None:
    import uvicorn

    if workers > 1 or reload:
        # Each worker process builds its own runtime from the environment, so pass the plugin options on.
        settings = runtime.settings
        os.environ["SAFETYNET_DISABLE_PLUGINS"] = ",".join(settings.disabled_plugins)
        os.environ["SAFETYNET_PLUGINS"] = ",".join(settings.allowed_plugins)
        # Each worker re-imports the app; on a busy machine that takes longer than uvicorn's 5 s default.
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            timeout_worker_healthcheck=60,
        )
        return
    from safetynet.app import create_app

    uvicorn.run(create_app(runtime), host=host, port=port)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
@click.option(
    "--reload/--no-reload", default=False, show_default=True, help="Restart when code changes (development)."
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, reload: bool) -> None:
    """Serve the GraphQL API at http://HOST:PORT/graphql (run `safetynet migrate` first)."""
    runtime = _options(ctx).runtime()
    _check_migrated(runtime)
    _serve(runtime, host, port, workers, reload)


# ---------------------------------------------------------------- plugins


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    click.echo(f"{title} ({len(rows)})")
    if not rows:
        click.echo("  (none)")
        click.echo()
        return
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        padded = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        click.echo("  " + "  ".join(padded).rstrip())
        if n == 0:
            click.echo("  " + "  ".join("-" * w for w in widths))
    click.echo()


def _name(value: Any) -> str:
    return getattr(value, "name", str(value))


@cli.command()
@click.pass_context
def plugins(ctx: click.Context) -> None:
    """List the loaded plugins and everything each one provides."""
    runtime = _options(ctx).runtime()
    catalogue = runtime.catalogue
    _table(
        "Plugins",
        ("name", "module", "hooks"),
        [
            (p.name, p.module, ", ".join(h.removeprefix("safetynet_") for h in p.hooks))
            for p in catalogue.plugins()
        ],
    )
    _table(
        "Aid types",
        ("code", "name", "name_en", "tier", "department", "plugin"),
        [
            (code, p.item.name, p.item.name_en, _name(p.item.tier), p.item.department, p.plugin)
            for code, p in sorted(catalogue.aid_types.items())
        ],
    )
    _table(
        "Partners",
        ("code", "name", "name_en", "kind", "plugin"),
        [
            (code, p.item.name, p.item.name_en, _name(p.item.kind), p.plugin)
            for code, p in sorted(catalogue.partners.items())
        ],
    )
    _table(
        "Localities",
        ("code", "name", "name_en", "level", "parent", "plugin"),
        [
            (
                code,
                loc.name,
                loc.name_en,
                _name(loc.level),
                loc.parent_code,
                catalogue.locality_plugins.get(code),
            )
            for code, loc in sorted(catalogue.localities.localities.items())
        ],
    )
    _table(
        "Data sources",
        ("code", "department", "plugin"),
        [(code, p.item.department, p.plugin) for code, p in sorted(catalogue.data_sources.items())],
    )
    _table(
        "Warning rules",
        ("code", "name", "level", "plugin"),
        [
            (code, p.item.name, _name(p.item.level), p.plugin)
            for code, p in sorted(catalogue.warning_rules.items())
        ],
    )


# ---------------------------------------------------------------- schema


@cli.command()
@click.pass_context
def schema(ctx: click.Context) -> None:
    """Print the GraphQL schema (SDL) built from the core and the loaded plugins."""
    from safetynet.api.schema import build_schema

    sdl = build_schema(_options(ctx).runtime()).as_str()
    click.echo(sdl.rstrip("\n"))


# ---------------------------------------------------------------- generate


def synthetic_areas(runtime: Runtime, as_of: date) -> list[Any]:
    """Two or three townships under every installed locality below the nation, with its dibao standards."""
    from safetynet.model import LocalityLevel
    from safetynet.synthetic import Area

    codes: list[str] = []
    for code, locality in sorted(runtime.localities.localities.items()):
        if locality.level is LocalityLevel.PROVINCE:
            townships = [f"{code[:2]}0101001", f"{code[:2]}0101002", f"{code[:2]}0102001"]
        elif locality.level is LocalityLevel.CITY:
            townships = [f"{code[:4]}02001", f"{code[:4]}02002", f"{code[:4]}03001"]
        elif locality.level is LocalityLevel.COUNTY:
            townships = [f"{code}001", f"{code}002"]
        else:
            continue
        codes.extend(t for t in townships if t not in codes)
    if not codes:
        raise CLIError(
            "no locality below the national level is loaded: enable a locality plugin (e.g. locality.tianjin)"
        )
    return [
        Area(
            township,
            _standard_fen(runtime, "dibao.standard.urban", township, as_of),
            _standard_fen(runtime, "dibao.standard.rural", township, as_of),
        )
        for township in codes
    ]


def _standard_fen(runtime: Runtime, name: str, code: str, as_of: date) -> int:
    use = runtime.localities.resolve(name, code, as_of)
    if use is None:
        raise CLIError(
            f"no locality sets {name} for {code} on {as_of}: enable locality.national or its own plugin"
        )
    return int((Decimal(use.value) * 100).to_integral_value(ROUND_HALF_UP))


def _echo_summary(summary: Any) -> None:
    if is_dataclass(summary) and not isinstance(summary, type):
        for name, value in asdict(summary).items():
            if isinstance(value, Mapping):
                click.echo(f"  {name}:")
                for key, item in value.items():
                    click.echo(f"    {key}: {item}")
            else:
                click.echo(f"  {name}: {value}")
    else:
        click.echo(f"  {summary}")


@cli.command()
@click.option("--households", "count", required=True, type=click.IntRange(min=1), help="How many households.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for households.jsonl and the department feeds.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same data).")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date the data describes (default: today).",
)
@click.pass_context
def generate(ctx: click.Context, count: int, out: Path, seed: int, as_of: Any) -> None:
    """Write synthetic households and the department feeds for load tests and benchmarks."""
    from safetynet.synthetic import write_dataset

    runtime = _options(ctx).runtime()
    day = as_of.date() if as_of else runtime.today()
    areas = synthetic_areas(runtime, day)
    started = time.perf_counter()
    summary = write_dataset(out, count, areas, seed=seed, as_of=day)
    elapsed = time.perf_counter() - started
    click.echo(f"wrote {count} synthetic households in {len(areas)} townships to {out}:")
    _echo_summary(summary)
    click.echo(f"took {elapsed:.2f} s")


# ---------------------------------------------------------------- demo

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_keys(value: Any) -> Any:
    """``{"idNumber": …, "monthlyIncomes": [{"monthlyAmount": …}]}`` → snake_case keys, values untouched."""
    if isinstance(value, Mapping):
        return {_CAMEL_BOUNDARY.sub("_", str(k)).lower(): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [snake_keys(v) for v in value]
    return value


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _household_count(runtime: Runtime) -> int:
    from sqlalchemy import func, select

    from safetynet.store.models import Household

    return runtime.database.run(
        lambda session: session.scalar(select(func.count()).select_from(Household)) or 0
    )


def _load_synthetic(runtime: Runtime, count: int, seed: int = 0) -> int:
    """Register ``count`` synthetic households as an admin, ~100 per transaction; returns how many were loaded."""
    from tqdm import tqdm

    from safetynet.errors import InputErrors
    from safetynet.households import register_household
    from safetynet.model import Role
    from safetynet.principals import Principal
    from safetynet.synthetic import households

    today = runtime.today()
    admin = Principal(key_id=None, role=Role.ADMIN)
    rejected: list[str] = []
    loaded = 0

    def register_batch(batch: list[tuple[int, dict[str, Any]]]) -> Callable[[Any], int]:
        def work(session: Any) -> int:
            done = 0
            for number, data in batch:
                savepoint = session.begin_nested()
                try:
                    register_household(
                        session,
                        data,
                        principal=admin,
                        localities=runtime.localities,
                        vault=runtime.vault,
                        today=today,
                    )
                except InputErrors as exc:
                    savepoint.rollback()
                    rejected.append(f"household {number}: {exc}")
                else:
                    savepoint.commit()
                    done += 1
            return done

        return work

    generated = (
        snake_keys(h) for h in households(count, synthetic_areas(runtime, today), seed=seed, as_of=today)
    )
    with tqdm(total=count, desc="registering households", unit="household", file=sys.stderr) as bar:
        for batch in _chunks(enumerate(generated, start=1), DEMO_BATCH):
            loaded += runtime.database.run(register_batch(batch))
            bar.update(len(batch))
    if rejected:
        click.echo(
            f"warning: {len(rejected)} synthetic households were rejected, e.g. {rejected[0]}", err=True
        )
    if not loaded:
        raise CLIError("no synthetic household could be registered (see the warning above)")
    return loaded


@cli.command()
@click.option("--households", "count", default=300, show_default=True, type=click.IntRange(min=1))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-serve", is_flag=True, help="Prepare the database and print the key, but do not serve.")
@click.pass_context
def demo(ctx: click.Context, count: int, host: str, port: int, no_serve: bool) -> None:
    """Set up a demo database with synthetic households, print an admin key, and serve."""
    from safetynet.model import Role
    from safetynet.principals import create_key

    runtime = _options(ctx).runtime()
    _migrate(runtime)
    existing = _household_count(runtime)
    if existing:
        click.echo(f"the database already holds {existing} households; not loading synthetic ones")
    else:
        started = time.perf_counter()
        loaded = _load_synthetic(runtime, count)
        click.echo(f"registered {loaded} synthetic households in {time.perf_counter() - started:.1f} s")
    key = runtime.database.run(lambda session: create_key(session, Role.ADMIN, label="demo"))
    url = f"http://{host}:{port}/graphql"
    query = (
        '{"query": "{ households(first: 3) { totalCount edges { node { id localityCode residence } } } }"}'
    )
    click.echo()
    click.echo(f"GraphQL API:  {url}")
    click.echo(f"Admin key:    {key}")
    click.echo("Try it:")
    click.echo(
        f"  curl -s {url} -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' -d '{query}'"
    )
    click.echo()
    if not no_serve:
        _serve(runtime, host, port)


cli.add_command(sweep)
cli.add_command(explain)
cli.add_command(ingest)
cli.add_command(match)
cli.add_command(load)
cli.add_command(reconcile_command)
cli.add_command(keys)
cli.add_command(backup_command)
cli.add_command(restore_command)


def main() -> None:
    cli(prog_name="safetynet")


if __name__ == "__main__":
    main()
