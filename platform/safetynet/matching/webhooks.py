"""Webhooks for partners that cannot hold a websocket open.

A partner registers a URL; every need event it may see (and its webhook's filter wants) is POSTed there
as JSON, in cursor order, signed with the webhook's secret, with and without a timestamp::

    X-Safetynet-Timestamp: <Unix time in seconds when this attempt was signed>
    X-Safetynet-Timestamped-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + the raw body>
    X-Safetynet-Signature: sha256=<hex HMAC-SHA256 of the raw body>   (kept for existing receivers)

A receiver checks the timestamped signature and refuses timestamps more than a few minutes from its clock
(:func:`verify_timestamped`), so a recorded delivery cannot be replayed later.

A receiver answers 2xx to acknowledge. Anything else (or no answer within the timeout) is a failed
attempt: the same event is retried after a backoff that doubles each time (5 s, 10 s, 20 s … by default,
capped), and after ``max_attempts`` consecutive failures the webhook is PAUSED, not retried for ever;
``resumeWebhook`` takes it up again from the event that failed, so nothing is lost. Every attempt is
recorded (``webhook_deliveries``). Several server processes may run dispatchers: a lease on the webhook
row makes sure only one sends to a receiver at a time. Delivery is at least once (a receiver that
answers too late may see an event again): deduplicate by ``cursor``. Only public addresses, and those
allowed by ``SAFETYNET_WEBHOOK_ALLOW_HOSTS``, receive webhooks (:mod:`.webhook_targets`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from safetynet.catalogue import Catalogue
from safetynet.errors import Problems, fail
from safetynet.identity import IdentityVault
from safetynet.model import Role, WebhookStatus, format_yuan
from safetynet.principals import Principal
from safetynet.rules import LocalityCodeError, check_code, is_within
from safetynet.store.models import NeedEventRow, PartnerWebhook, WebhookDelivery

from .events import Audience, LoggedEvent, NeedFilterSpec, encode_cursor, head, read_events
from .webhook_targets import TargetRefused, WebhookTargets

if TYPE_CHECKING:
    from safetynet.runtime import Runtime
    from safetynet.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Safetynet-Signature"
TIMESTAMP_HEADER = "X-Safetynet-Timestamp"
TIMESTAMPED_SIGNATURE_HEADER = "X-Safetynet-Timestamped-Signature"
TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"
BATCH = 100
LEASE_SECONDS = 120
URL_LIMIT = 2000


@dataclass(frozen=True)
class WebhookSettings:
    max_attempts: int = 8
    backoff_seconds: float = 5.0
    max_backoff_seconds: float = 3600.0
    timeout_seconds: float = 10.0
    tick_seconds: float = 1.0

    def backoff(self, failures: int) -> timedelta:
        """The wait before attempt ``failures + 1``: base × 2^(failures − 1), capped."""
        return timedelta(
            seconds=min(self.backoff_seconds * 2 ** max(failures - 1, 0), self.max_backoff_seconds)
        )


def sign(secret: str, body: bytes, timestamp: int | str | None = None) -> str:
    """A signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body, or, given a timestamp,
    of ``b"<timestamp>." + body``."""
    signed = body if timestamp is None else f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What an existing receiver does with ``X-Safetynet-Signature``: compare in constant time."""
    return hmac.compare_digest(sign(secret, body), signature or "")


def verify_timestamped(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance_seconds: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does with ``X-Safetynet-Timestamp`` and ``X-Safetynet-Timestamped-Signature``: the
    timestamp is a whole number of seconds within ``tolerance_seconds`` of ``now`` (default: the clock) and
    the signature matches, compared in constant time. A stale or tampered delivery is refused."""
    if not (timestamp and timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), signature or "")


# -- registration ----------------------------------------------------------------------------------


def _owner(principal: Principal, partner_code: str | None, catalogue: Catalogue) -> str:
    if principal.role is Role.PARTNER:
        code = principal.partner_code or ""
        if partner_code and partner_code != code:
            raise fail(("partner_code",), "a partner registers webhooks for itself only", "FORBIDDEN")
    elif principal.role is Role.ADMIN:
        if not partner_code:
            raise fail(("partner_code",), "name the partner the webhook is for", "REQUIRED")
        code = partner_code
    else:
        raise fail(("url",), f"a {principal.role.name} key cannot register webhooks", "FORBIDDEN")
    if code not in catalogue.partners:
        raise fail(("partner_code",), f"partner '{code}' is not installed", "UNKNOWN_PARTNER")
    return code


def check_url(url: str, targets: WebhookTargets) -> str | None:
    """Why ``url`` cannot receive webhooks, or None."""
    if not url or len(url) > URL_LIMIT:
        return f"give an http(s) URL of at most {URL_LIMIT} characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL"
    try:
        parts.port  # noqa: B018 (out of range or not a number: ValueError)
    except ValueError:
        return "must have a port number up to 65535"
    if parts.username or parts.password:
        return "must not carry a user name or password (the signature authenticates us)"
    if targets.production and parts.scheme != "https":
        return "must use https in production"
    return targets.refusal(parts.hostname)


def register_webhook(
    session: Session,
    data: Mapping[str, Any],
    *,
    principal: Principal,
    catalogue: Catalogue,
    vault: IdentityVault,
    settings: Settings,
) -> tuple[PartnerWebhook, str]:
    """Register a webhook; returns it and its secret (shown once: only an encrypted copy is kept)."""
    code = _owner(principal, data.get("partner_code"), catalogue)
    partner = catalogue.partners[code].item
    problems = Problems()
    url = (data.get("url") or "").strip()
    if (problem := check_url(url, WebhookTargets.of(settings))) is not None:
        problems.add(("url",), problem, "INVALID_URL")
    need_types = list(dict.fromkeys(data.get("need_types") or ()))
    foreign = [t for t in need_types if t not in partner.need_types]
    if foreign:
        problems.add(
            ("need_types",),
            f"partner {code} does not take {', '.join(foreign)}; it takes {', '.join(partner.need_types)}",
            "NOT_TAKEN",
        )
    locality = data.get("locality_code")
    if locality is not None:
        try:
            check_code(locality)
            if not any(is_within(locality, a) or is_within(a, locality) for a in partner.localities):
                problems.add(
                    ("locality_code",),
                    f"partner {code} does not serve {locality}; it serves {', '.join(partner.localities)}",
                    "NOT_SERVED",
                )
        except LocalityCodeError as exc:
            problems.add(("locality_code",), str(exc), "INVALID_LOCALITY")
    start = data.get("after")
    problems.raise_if_any()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    webhook = PartnerWebhook(
        partner_code=code,
        url=url,
        secret_encrypted=vault.encrypt(secret),
        need_types=need_types,
        locality_code=locality,
        status=WebhookStatus.ACTIVE,
        cursor=head(session) if start is None else start,
        consecutive_failures=0,
        created_by=principal.key_id,
    )
    session.add(webhook)
    session.flush()
    return webhook, secret


def webhook_for(session: Session, webhook_id: int, principal: Principal) -> PartnerWebhook:
    webhook = session.get(PartnerWebhook, webhook_id)
    mine = webhook is not None and (
        principal.role in (Role.ADMIN, Role.AUDITOR)
        or (principal.role is Role.PARTNER and webhook.partner_code == principal.partner_code)
    )
    if not mine:
        raise fail(("id",), "no webhook with this id that you may see", "NOT_FOUND")
    assert webhook is not None
    return webhook


def _check_changer(principal: Principal) -> None:
    """Only partners (their own) and admins change webhooks: the others are refused before any lookup."""
    if principal.role not in (Role.ADMIN, Role.PARTNER):
        article = "an" if principal.role.name[0] in "AEIOU" else "a"
        raise fail(("id",), f"{article} {principal.role.name} key cannot change webhooks", "FORBIDDEN")


def resume_webhook(session: Session, webhook_id: int, *, principal: Principal) -> PartnerWebhook:
    _check_changer(principal)
    webhook = webhook_for(session, webhook_id, principal)
    if webhook.status is not WebhookStatus.PAUSED:
        raise fail(("id",), "this webhook is not paused", "NOT_PAUSED")
    webhook.status = WebhookStatus.ACTIVE
    webhook.consecutive_failures = 0
    webhook.next_attempt_at = None
    webhook.paused_at = None
    webhook.pause_reason = None
    session.flush()
    return webhook


def delete_webhook(session: Session, webhook_id: int, *, principal: Principal) -> PartnerWebhook:
    _check_changer(principal)
    webhook = webhook_for(session, webhook_id, principal)
    session.delete(webhook)
    session.flush()
    return webhook


def visible_webhooks(session: Session, principal: Principal) -> list[PartnerWebhook]:
    query = select(PartnerWebhook).order_by(PartnerWebhook.id)
    if principal.role is Role.PARTNER:
        query = query.where(PartnerWebhook.partner_code == (principal.partner_code or ""))
    elif principal.role not in (Role.ADMIN, Role.AUDITOR):
        return []
    return list(session.scalars(query))


# -- the body --------------------------------------------------------------------------------------


def listing_json(event: LoggedEvent, audience: Audience) -> dict[str, Any]:
    """The listing as a partner may see it: never the household's id, name, number or address."""
    from safetynet.api.ids import encode

    state = event.state()
    row = state.row
    own = audience.may_see_fulfilment(state.claimed_by)
    return {
        "id": encode("NeedListing", row.id),
        "cursor": encode_cursor(event.cursor),
        "needType": row.need_type,
        "summary": row.summary,
        "localityCode": row.locality_code,
        "urgency": row.urgency.name,
        "status": state.status.name,
        "publishedAt": _iso(row.published_at),
        "claimedBy": state.claimed_by,
        "claimedAt": _iso(state.claimed_at),
        "fulfilledAt": _iso(state.fulfilled_at),
        "withdrawnAt": _iso(state.withdrawn_at),
        "fulfilledAmount": format_yuan(state.fulfilled_amount_fen)
        if own and state.fulfilled_amount_fen is not None
        else None,
        "fulfilmentNote": state.fulfilment_note if own else None,
    }


def body_of(event: LoggedEvent, audience: Audience, webhook_id: int) -> bytes:
    from safetynet.api.ids import encode

    payload = {
        "cursor": encode_cursor(event.cursor),
        "kind": event.kind.name,
        "listing": listing_json(event, audience),
        "webhook": encode("Webhook", webhook_id),
        "sentAt": datetime.now(UTC).isoformat(),
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


# -- sending ---------------------------------------------------------------------------------------


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, targets: WebhookTargets
) -> tuple[int | None, str | None]:
    """POST to ``url`` at an address its host resolves to now, if every such address is allowed. A redirect
    is a failed delivery: we never follow a receiver elsewhere. No proxy is used."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if https else 80)
        addresses = targets.resolve(host, port)
        connection = (http.client.HTTPSConnection if https else http.client.HTTPConnection)(
            host, port, timeout=timeout
        )
        # Connect to the addresses just checked, not to whatever a second lookup answers; TLS still
        # verifies the certificate against the host name.
        connection._create_connection = lambda _where, *args: _connect(addresses, port, timeout)  # type: ignore[attr-defined]
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read(1024)
        finally:
            connection.close()
    except TargetRefused as exc:
        return None, f"refused: {exc}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    status = response.status
    return status, None if 200 <= status < 300 else f"HTTP {status} {response.reason}"


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A connection to the first of ``addresses`` that answers."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error


@dataclass(frozen=True)
class _Attempt:
    webhook_id: int
    event_id: int
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime

    @property
    def succeeded(self) -> bool:
        return self.error is None


class WebhookDispatcher:
    """Sends need events to webhooks, in order per webhook, retrying with backoff and pausing."""

    def __init__(self, runtime: Runtime, settings: WebhookSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.owner = uuid.uuid4().hex
        self.targets = WebhookTargets.of(runtime.settings)
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="safetynet-webhook")
        self._drains: dict[int, asyncio.Task[int]] = {}  # webhook id → the task sending to it

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="safetynet-webhooks")

    def kick(self) -> None:
        self._kick.set()

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._drains.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._drains.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.tick_seconds):
                    await self._kick.wait()
            self._kick.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery round failed; trying again")

    async def _db(self, work: Any, *, write: bool = False) -> Any:
        database = self.runtime.database
        async with database.async_session() as session:
            if write:
                async with session.begin():
                    return await session.run_sync(work)
            return await session.run_sync(work)

    async def run_once(self) -> int:
        """One round: start sending to every active webhook with events waiting that is due (and not being
        sent to already); returns how many were started."""
        now = datetime.now(UTC)

        def due(session: Session) -> list[int]:
            newest = select(func.max(NeedEventRow.id)).scalar_subquery()
            return list(
                session.scalars(
                    select(PartnerWebhook.id).where(
                        PartnerWebhook.status == WebhookStatus.ACTIVE,
                        PartnerWebhook.cursor < newest,
                        or_(PartnerWebhook.next_attempt_at.is_(None), PartnerWebhook.next_attempt_at <= now),
                        or_(PartnerWebhook.lease_until.is_(None), PartnerWebhook.lease_until < now),
                    )
                )
            )

        started = [i for i in await self._db(due) if i not in self._drains]
        for webhook_id in started:  # each receiver in its own task: a slow one holds up no other
            task = asyncio.create_task(self._drain(webhook_id), name=f"safetynet-webhook-{webhook_id}")
            self._drains[webhook_id] = task
            task.add_done_callback(lambda _task, i=webhook_id: self._drains.pop(i, None))
        return len(started)

    async def _drain(self, webhook_id: int) -> int:
        """Send a webhook everything it has waiting, in order, under a lease; the attempts made."""
        try:
            webhook = await self._db(lambda s: self._lease(s, webhook_id), write=True)
            if webhook is None:
                return 0
            try:
                return await self._send_pending(webhook)
            finally:
                await self._db(lambda s: self._release(s, webhook_id), write=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering to webhook %s failed; the next round tries again", webhook_id)
            return 0

    def _lease(self, session: Session, webhook_id: int) -> PartnerWebhook | None:
        now = datetime.now(UTC)
        taken = session.execute(
            update(PartnerWebhook)
            .where(
                PartnerWebhook.id == webhook_id,
                PartnerWebhook.status == WebhookStatus.ACTIVE,
                or_(PartnerWebhook.lease_until.is_(None), PartnerWebhook.lease_until < now),
            )
            .values(lease_owner=self.owner, lease_until=now + timedelta(seconds=LEASE_SECONDS))
        )
        if taken.rowcount != 1:
            return None
        return session.get(PartnerWebhook, webhook_id)

    def _release(self, session: Session, webhook_id: int) -> None:
        session.execute(
            update(PartnerWebhook)
            .where(PartnerWebhook.id == webhook_id, PartnerWebhook.lease_owner == self.owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def _send_pending(self, webhook: PartnerWebhook) -> int:
        catalogue = self.runtime.catalogue
        provided = catalogue.partners.get(webhook.partner_code)
        if provided is None:
            await self._pause(webhook.id, f"partner '{webhook.partner_code}' is no longer installed")
            return 0
        audience = Audience(Principal(None, Role.PARTNER, partner_code=webhook.partner_code), provided.item)
        spec = NeedFilterSpec.of(locality_code=webhook.locality_code, need_types=webhook.need_types or None)
        conditions = [audience.sql(), *spec.event_conditions()]
        secret = self.runtime.vault.decrypt(webhook.secret_encrypted)
        cursor, failures, attempts = webhook.cursor, webhook.consecutive_failures, 0
        while True:

            def page(session: Session, cursor: int = cursor) -> tuple[int, list[LoggedEvent]]:
                newest = head(session)  # first: every event up to it is committed (writers lock)
                return newest, read_events(session, cursor, conditions=conditions, up_to=newest, limit=BATCH)

            newest, events = await self._db(page)
            for event in events:
                # Authorisation again for every event: the partner is still installed and still takes it.
                if not (audience.allows_event(event) and spec.matches_event(event)):
                    cursor = event.cursor
                    continue
                attempt = await self._deliver(webhook, secret, event, audience, failures + 1)
                attempts += 1
                if attempt.succeeded:
                    cursor, failures = event.cursor, 0

                    def delivered(s: Session, a: _Attempt = attempt, c: int = cursor) -> None:
                        s.add(_record(a))
                        self._advance(s, webhook.id, c)

                    await self._db(delivered, write=True)
                    continue
                failures += 1

                def failed(s: Session, a: _Attempt = attempt, f: int = failures) -> None:
                    s.add(_record(a))
                    self._failed(s, webhook.id, a, f)

                await self._db(failed, write=True)
                return attempts
            if len(events) < BATCH:
                if newest > cursor:
                    await self._db(lambda s, c=newest: self._advance(s, webhook.id, c), write=True)
                return attempts
            cursor = events[-1].cursor

    async def _deliver(
        self, webhook: PartnerWebhook, secret: str, event: LoggedEvent, audience: Audience, attempt: int
    ) -> _Attempt:
        """Post one event. The caller records the attempt together with the webhook's new state, in
        one transaction, so a reader never sees a delivery without its effect on the webhook."""
        body = body_of(event, audience, webhook.id)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "safetynet-webhooks/1",
            TIMESTAMP_HEADER: str(timestamp),
            TIMESTAMPED_SIGNATURE_HEADER: sign(secret, body, timestamp),
            SIGNATURE_HEADER: sign(secret, body),
            "X-Safetynet-Event": event.kind.name,
            "X-Safetynet-Cursor": encode_cursor(event.cursor),
            "X-Safetynet-Attempt": str(attempt),
        }
        started = time.perf_counter()
        status, error = await asyncio.get_running_loop().run_in_executor(
            self._pool, _post, webhook.url, body, headers, self.settings.timeout_seconds, self.targets
        )
        duration = int((time.perf_counter() - started) * 1000)
        result = _Attempt(webhook.id, event.cursor, attempt, status, error, duration, datetime.now(UTC))
        if error is not None:
            log.info("webhook %s: event %s attempt %s failed: %s", webhook.id, event.cursor, attempt, error)
        return result

    def _advance(self, session: Session, webhook_id: int, cursor: int) -> None:
        """Move past a delivered (or skipped) event, renewing our lease: a long catch-up keeps it."""
        session.execute(
            update(PartnerWebhook)
            .where(
                PartnerWebhook.id == webhook_id,
                PartnerWebhook.cursor < cursor,
                PartnerWebhook.lease_owner == self.owner,
            )
            .values(
                cursor=cursor,
                consecutive_failures=0,
                next_attempt_at=None,
                lease_until=datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS),
            )
        )

    def _failed(self, session: Session, webhook_id: int, attempt: _Attempt, failures: int) -> None:
        values: dict[str, Any] = {"consecutive_failures": failures}
        if failures >= self.settings.max_attempts:
            values.update(
                status=WebhookStatus.PAUSED,
                paused_at=attempt.at,
                next_attempt_at=None,
                pause_reason=f"{failures} consecutive failed attempts; last: {attempt.error}",
            )
            log.warning("webhook %s paused after %s failed attempts: %s", webhook_id, failures, attempt.error)
        else:
            values["next_attempt_at"] = attempt.at + self.settings.backoff(failures)
        session.execute(update(PartnerWebhook).where(PartnerWebhook.id == webhook_id).values(**values))

    async def _pause(self, webhook_id: int, reason: str) -> None:
        def work(session: Session) -> None:
            session.execute(
                update(PartnerWebhook)
                .where(PartnerWebhook.id == webhook_id)
                .values(status=WebhookStatus.PAUSED, paused_at=datetime.now(UTC), pause_reason=reason)
            )

        await self._db(work, write=True)


def _record(attempt: _Attempt) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=attempt.webhook_id,
        event_id=attempt.event_id,
        attempt=attempt.attempt,
        succeeded=attempt.succeeded,
        status_code=attempt.status_code,
        error=attempt.error,
        duration_ms=attempt.duration_ms,
        attempted_at=attempt.at,
    )
