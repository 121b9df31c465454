"""``safetynet keys …``: API keys (create, list, revoke) and the rotation of the identity encryption key.

Registered on the ``safetynet`` group with ``cli.add_command(keys)``. Keys are stored only as hashes: a
new key is printed once, and ``keys list`` shows ids, prefixes, roles, scopes and status, never a secret.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import click


@click.group()
def keys() -> None:
    """Manage API keys and rotate the identity encryption key."""


class RoleChoice(click.Choice):
    """A role name, in any case (``admin`` or ``ADMIN``); errors list the names as the API spells them."""

    def __init__(self) -> None:
        from safetynet.model import Role

        super().__init__([role.name for role in Role])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if str(value).upper() not in self.choices:
            self.fail(f"'{value}' is not a role; use one of {', '.join(map(str, self.choices))}", param, ctx)
        return str(value).upper()


def expiry(expires_in: int | None, expires: datetime | None, now: datetime) -> datetime | None:
    """When a new key stops working: ``--expires-in DAYS`` from now, or the start (UTC) of ``--expires DATE``."""
    from safetynet.cli import CLIError

    if expires_in is not None and expires is not None:
        raise CLIError("give --expires-in DAYS or --expires DATE, not both", exit_code=2)
    if expires_in is not None:
        return now + timedelta(days=expires_in)
    if expires is not None:
        moment = datetime.combine(expires.date(), time(), tzinfo=UTC)
        if moment <= now:
            raise CLIError(f"--expires {expires.date()} is not in the future", exit_code=2)
        return moment
    return None


@keys.command("create")
@click.option("--role", required=True, type=RoleChoice(), help="What the key may do.")
@click.option(
    "--locality", metavar="CODE", help="Area a CIVIL_AFFAIRS or DEPARTMENT key is limited to (6 or 9 digits)."
)
@click.option("--partner", metavar="CODE", help="The partner a PARTNER key acts for.")
@click.option(
    "--department", metavar="CODE", help="The department a DEPARTMENT key acts for, e.g. medical_security."
)
@click.option("--label", metavar="TEXT", help="A note to recognise the key by.")
@click.option(
    "--expires-in", type=click.IntRange(min=1), metavar="DAYS", help="The key stops working after DAYS days."
)
@click.option(
    "--expires",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="The key stops working at the start of DATE (YYYY-MM-DD, UTC).",
)
@click.pass_context
def keys_create(
    ctx: click.Context,
    role: str,
    locality: str | None,
    partner: str | None,
    department: str | None,
    label: str | None,
    expires_in: int | None,
    expires: datetime | None,
) -> None:
    """Create an API key and print it (as the last line; it is shown only once)."""
    from safetynet.cli import CLIError, _options
    from safetynet.model import Role
    from safetynet.principals import create_key

    chosen = Role[role]
    expires_at = expiry(expires_in, expires, datetime.now(UTC))
    runtime = _options(ctx).runtime()
    if locality is not None and not runtime.localities.is_known(locality):
        raise CLIError(
            f"--locality {locality} is not under any configured locality "
            f"(installed: {', '.join(sorted(runtime.localities.localities))})",
            exit_code=2,
        )
    if partner is not None and partner not in runtime.catalogue.partners:
        click.echo(f"warning: no loaded plugin provides a partner '{partner}'", err=True)
    key = runtime.database.run(
        lambda session: create_key(
            session,
            chosen,
            locality_code=locality,
            partner_code=partner,
            department=department,
            label=label,
            expires_at=expires_at,
        )
    )
    scope = [
        f"{name} {value}"
        for name, value in (("locality", locality), ("partner", partner), ("department", department))
        if value
    ]
    article = "an" if chosen.name[0] in "AEIOU" else "a"
    described = f"created {article} {chosen.name} key" + (f" for {', '.join(scope)}" if scope else "")
    if label:
        described += f" labelled '{label}'"
    if expires_at:
        described += f", expiring at {expires_at:%Y-%m-%d %H:%M} UTC"
    click.echo(f"{described}; keep it safe, it is shown only once:")
    click.echo(key)


def _when(moment: datetime | None) -> str:
    from safetynet.principals import aware

    return f"{aware(moment):%Y-%m-%d %H:%M}" if moment else "-"


@keys.command("list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """List API keys: id, prefix, role, scope, label, dates and status (no secrets: only hashes are kept)."""
    from safetynet.cli import _options, _table
    from safetynet.principals import key_status, list_keys

    runtime = _options(ctx).runtime()
    now = datetime.now(UTC)
    rows = runtime.database.run(
        lambda session: [
            (
                row.id,
                f"{row.key_prefix}…",
                row.role.name,
                row.locality_code or row.partner_code or row.department or "-",
                row.label or "-",
                _when(row.created_at),
                _when(row.expires_at),
                key_status(row, now) + (f" {_when(row.revoked_at)}" if row.revoked_at else ""),
            )
            for row in list_keys(session)
        ]
    )
    _table(
        "API keys (times in UTC)",
        ("id", "prefix", "role", "scope", "label", "created", "expires", "status"),
        rows,
    )


@keys.command("revoke")
@click.argument("key_id", type=int, metavar="KEY_ID")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: int) -> None:
    """Revoke an API key by its id (from `safetynet keys list`); it stops working at once."""
    from safetynet.cli import _options
    from safetynet.principals import revoke_key

    runtime = _options(ctx).runtime()
    now = datetime.now(UTC)
    prefix, revoked_at = runtime.database.run(
        lambda session: (lambda row: (row.key_prefix, row.revoked_at))(revoke_key(session, key_id, now=now))
    )
    done = "was already revoked at" if revoked_at != now else "revoked at"
    click.echo(f"key {key_id} ({prefix}…) {done} {_when(revoked_at)} UTC")


@keys.command("rotate-identity")
@click.option(
    "--batch-size",
    default=1_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows re-encrypted per transaction.",
)
@click.option("--check", is_flag=True, help="Only count the values under each key; change nothing.")
@click.pass_context
def keys_rotate_identity(ctx: click.Context, batch_size: int, check: bool) -> None:
    """Re-encrypt identity numbers and other secrets under the current SAFETYNET_SECRET_KEY.

    Rotation: set SAFETYNET_SECRET_KEY=new,old and SAFETYNET_LOOKUP_KEY=<the secret the lookup hashes
    were made with>, restart the servers, run this command (again if it was interrupted: it carries on),
    then drop the old secret from SAFETYNET_SECRET_KEY.
    """
    from safetynet.cli import CLIError, _options
    from safetynet.identity_rotation import census, lookup_key_problem, rotate

    runtime = _options(ctx).runtime()
    vault = runtime.vault
    problem = runtime.database.run(lambda session: lookup_key_problem(session, vault))
    if problem:
        raise CLIError(problem)
    click.echo(f"current key id {vault.current_key_id}")
    if not check:

        def report(done: Any) -> None:
            click.echo(f"  {done.column}: {done.rotated} re-encrypted, {done.current} already current")

        try:
            rotate(runtime.database, vault, batch_size=batch_size, progress=report)
        except ValueError as exc:
            raise CLIError(f"{exc}; nothing more was changed") from exc
    left = 0
    for counted in census(runtime.database, vault):
        old = ", ".join(f"{n} under old key {key_id}" for key_id, n in sorted(counted.by_key.items()))
        click.echo(f"{counted.column}: {counted.current} under the current key" + (f", {old}" if old else ""))
        left += sum(counted.by_key.values())
    if left:
        click.echo(f"{left} values are still under old keys: run `safetynet keys rotate-identity`")
    else:
        click.echo(
            "every value is under the current key: old secrets may be removed from SAFETYNET_SECRET_KEY "
            "(keep SAFETYNET_LOOKUP_KEY)"
        )
