"""Converge an Uptime Kuma 2 instance to the wanted monitors, over its Socket.IO API.

Kuma has no configuration as code: this module claims a fresh instance (creates the admin the
deploy generated) and then adds, edits and deletes the monitors named with PREFIX until Kuma
matches the wanted list. Monitors without the prefix were made by a person and are never
touched. Names are not unique in Kuma, so monitors are matched by name, and since every edit
restarts a monitor, only monitors whose managed fields differ are edited.

Kuma may still be starting, or restart under us: such transient failures are retried with
backoff, from a fresh connection each time (every step is idempotent). Whatever still fails
ends up in ``Report.warnings``; nothing raises for Kuma's sake, because a monitoring hiccup
must not fail a deploy of the service it monitors.

The client is ``uptime-kuma-api-ng`` (imported as ``uptime_kuma_api``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from enum import Enum
from functools import partial
from typing import Any

from socketio.exceptions import SocketIOError
from uptime_kuma_api import UptimeKumaApi, UptimeKumaException
from uptime_kuma_api.exceptions import Timeout

from .monitors import (
    HTTP,
    KEYWORD,
    PREFIX,
    PUSH,
    WEBSOCKET_UPGRADE,
    Monitor,
    Notification,
)
from .report import Admin, Report, Retry

log = logging.getLogger(__name__)

# Monitor types younger than Kuma 2.0, by the release that brought them. A pre-release counts
# as its release: 2.1.0-beta.0 has websocket-upgrade, the npm snapshot 2.0.0-dev.0 has not.
TYPE_SINCE = {WEBSOCKET_UPGRADE: (2, 1)}
HTTP_LIKE = (HTTP, KEYWORD, WEBSOCKET_UPGRADE)


DEFAULT_RETRY = Retry()


class _Unreachable(Exception):
    """Kuma did not accept the connection (not started yet, restarting, tunnel down)."""


class _Refused(Exception):
    """Kuma answered but will not let us in; retrying cannot help."""


TRANSIENT = (_Unreachable, Timeout, SocketIOError, OSError)


def converge(
    url: str,
    admin: Admin,
    monitors: Sequence[Monitor],
    notifications: Sequence[Notification] = (),
    *,
    retry: Retry = DEFAULT_RETRY,
    timeout: float = 10.0,
) -> Report:
    """Make the Kuma at ``url`` watch exactly ``monitors``, each notifying ``notifications``.

    ``url`` is Kuma's base URL as reachable from here, e.g. what ``tunnel.kuma_tunnel`` yields.
    Never raises for Kuma's sake: failures are warnings in the report. (A wanted list that
    could never converge is the caller's bug and raises ValueError.)
    """
    _check_names([*monitors, *notifications])
    report = Report()
    failure: Exception | None = None
    for attempt in range(1, retry.attempts + 1):
        report.attempts = attempt
        try:
            _converge_once(url, admin, monitors, notifications, timeout, report)
            return report
        except _Refused as error:
            report.warnings.append(str(error))
            report.refused = True
            return report
        except TRANSIENT as error:
            failure = error
            if attempt < retry.attempts:
                pause = retry.delay(attempt)
                log.info("Uptime Kuma not ready (%s); retrying in %.1fs", _describe(error), pause)
                time.sleep(pause)
    report.warnings.append(
        f"Uptime Kuma gave no answer in {retry.attempts} attempts at {url} "
        f"({_describe(failure)}), so its monitors were not provisioned"
    )
    return report


def _check_names(wanted: Sequence[Monitor | Notification]) -> None:
    """Unprefixed names would be created again on every run, duplicates edited back and forth."""
    names = [item.name for item in wanted]
    if unprefixed := [name for name in names if not name.startswith(PREFIX)]:
        raise ValueError(f"managed names must start with {PREFIX!r}: {unprefixed}")
    if len(set(names)) != len(names):
        raise ValueError(f"managed names must be unique: {sorted(names)}")


def _converge_once(
    url: str,
    admin: Admin,
    monitors: Sequence[Monitor],
    notifications: Sequence[Notification],
    timeout: float,
    report: Report,
) -> None:
    """One pass from a fresh connection; a transient failure leaves the rest to a retry."""
    report.unchanged.clear()
    with _session(url, timeout) as api:
        _sign_in(api, admin)
        report.signed_in = True
        missing = missing_types(api.version)
        wanted = [m for m in (_as_provisioned(m, missing, report) for m in monitors) if m]
        notification_ids, dropped = _ensure_notifications(api, notifications, report)
        _converge_monitors(api, wanted, (notification_ids, dropped), report)
        _drop_docker_hosts(api, report)


@contextmanager
def _session(url: str, timeout: float) -> Iterator[UptimeKumaApi]:
    try:
        # wait_events: how long the client lingers after an event for more of its kind. The
        # lists read here come in one event each, and the client reads Kuma's version (an
        # event too) several times per added monitor: its default of 0.2s made each add ~2s.
        api = UptimeKumaApi(url, timeout=timeout, wait_events=0)
    except Timeout:
        raise
    except UptimeKumaException as error:  # the client says only "unable to connect"
        raise _Unreachable(f"cannot connect to {url}") from error
    # A lost connection must end the pass, to be retried from a fresh login: the client's own
    # reconnect would carry on unauthenticated, and Kuma refuses every call of such a socket.
    api.sio.reconnection = False
    try:
        yield api
    finally:
        with suppress(SocketIOError, OSError):
            api.disconnect()


def _sign_in(api: UptimeKumaApi, admin: Admin) -> None:
    """Claim a fresh Kuma (until then anyone reaching it could), else log in."""
    try:
        if api.need_setup():
            log.info("claiming the new Uptime Kuma: creating its admin %r", admin.username)
            api.setup(admin.username, admin.password)
        api.login(admin.username, admin.password)
    except Timeout:
        raise
    except UptimeKumaException as error:
        raise _Refused(
            f"Uptime Kuma refused the admin {admin.username!r} ({error}); was it claimed by "
            "someone else, or its password changed by hand?"
        ) from None


def missing_types(version: str | None) -> frozenset[str]:
    """The monitor types of TYPE_SINCE that Kuma ``version`` lacks (all, if it is unreadable:
    a fallback monitor works everywhere, a missing type does not)."""
    found = re.match(r"(\d+)\.(\d+)", version or "")
    if not found:
        return frozenset(TYPE_SINCE)
    release = (int(found[1]), int(found[2]))
    return frozenset(kind for kind, since in TYPE_SINCE.items() if release < since)


def _as_provisioned(monitor: Monitor, missing: frozenset[str], report: Report) -> Monitor | None:
    if monitor.type not in missing:
        return monitor
    if monitor.fallback is None:
        report.record(report.warnings, f"{monitor.name}: this Kuma has no {monitor.type} monitors")
        return None
    report.record(report.fallbacks, monitor.name)
    return replace(monitor.fallback, name=monitor.name)


def _ensure_notifications(
    api: UptimeKumaApi, wanted: Sequence[Notification], report: Report
) -> tuple[list[int], set[int]]:
    """Add, edit or delete the prefixed notifications; return the ids every monitor gets and
    the ids deleted (Kuma unlinks those from monitors itself)."""
    current, extras = _by_name(api.get_notifications())
    ids = []
    for notification in wanted:
        label = f"notification {notification.name}"
        fields = {"name": notification.name, "type": notification.type, **notification.settings}
        found = current.pop(notification.name, None)
        if found is None:
            added = _change(report, "created", label, partial(api.add_notification, **fields))
            if added:
                ids.append(int(added["id"]))
            continue
        ids.append(int(found["id"]))
        if _differences(found, fields):
            _change(report, "edited", label, partial(api.edit_notification, found["id"], **fields))
        else:
            _unchanged(report, label)
    dropped = set()
    for stale in [*current.values(), *extras]:
        label = f"notification {stale['name']}"
        if _change(report, "deleted", label, partial(api.delete_notification, stale["id"])):
            dropped.add(int(stale["id"]))
    return sorted(ids), dropped


def _drop_docker_hosts(api: UptimeKumaApi, report: Report) -> None:
    """Earlier versions registered the engine's socket for Docker monitors; Kuma holds no
    socket now, so their entry only points at nothing. Deleted after the monitors using it."""
    for stale in api.get_docker_hosts():
        if stale["name"].startswith(PREFIX):
            label = f"docker host {stale['name']}"
            _change(report, "deleted", label, partial(api.delete_docker_host, stale["id"]))


def _converge_monitors(
    api: UptimeKumaApi,
    wanted: Sequence[Monitor],
    notifications: tuple[list[int], set[int]],
    report: Report,
) -> None:
    """``notifications``: the ids to link, and the ids deleted in this pass, which the client's
    monitor list (as Kuma sent it at login) still shows linked."""
    notification_ids, dropped = notifications
    current, extras = _by_name(api.get_monitors())
    for monitor in wanted:
        fields = kuma_fields(monitor, notification_ids)
        found = current.pop(monitor.name, None)
        if found is None:
            _change(report, "created", monitor.name, partial(_add_monitor, api, fields))
            continue
        linked = [i for i in found["notificationIDList"] if i not in dropped]
        if changes := _differences({**found, "notificationIDList": linked}, fields):
            edit = partial(api.edit_monitor, found["id"], **changes)
            _change(report, "edited", monitor.name, edit)
        else:
            _unchanged(report, monitor.name)
    for stale in [*current.values(), *extras]:
        _change(report, "deleted", stale["name"], partial(api.delete_monitor, stale["id"]))


def kuma_fields(monitor: Monitor, notification_ids: Sequence[int]) -> dict[str, Any]:
    """The Kuma fields this project manages for ``monitor``, by Kuma's names; Kuma keeps its own
    defaults for the rest. These are exactly the fields compared to decide on an edit."""
    fields: dict[str, Any] = {
        "type": monitor.type,
        "name": monitor.name,
        "interval": monitor.interval,
        "notificationIDList": sorted(notification_ids),
    }
    if monitor.type in HTTP_LIKE:
        fields["url"] = monitor.url
        fields["accepted_statuscodes"] = list(monitor.accepted_statuscodes)
    if monitor.type in (HTTP, KEYWORD):
        fields["expiryNotification"] = monitor.expiry_notification
    if monitor.type == KEYWORD:
        fields["keyword"] = monitor.keyword
    if monitor.type == WEBSOCKET_UPGRADE:
        fields["wsSubprotocol"] = monitor.ws_subprotocol
    if monitor.type == PUSH:
        fields["pushToken"] = monitor.push_token
    return fields


def _add_monitor(api: UptimeKumaApi, fields: dict[str, Any]) -> None:
    """The client makes up a push token when adding, so a wanted one is set right after."""
    token = fields.pop("pushToken", None)
    added = api.add_monitor(**fields)
    if token is not None:
        api.edit_monitor(added["monitorID"], pushToken=token)


def _by_name(items: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], list[Any]]:
    """Prefixed items by name, the oldest of each name kept; later duplicates are extras."""
    kept: dict[str, Any] = {}
    extras = []
    for item in sorted(items, key=lambda item: item["id"]):
        if not item["name"].startswith(PREFIX):
            continue
        if item["name"] in kept:
            extras.append(item)
        else:
            kept[item["name"]] = item
    return kept, extras


def _differences(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wanted.items() if _plain(current.get(k)) != _plain(v)}


def _plain(value: Any) -> Any:
    """Kuma's and the client's spellings of one value made comparable (enums, tuples)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _change(report: Report, verb: str, name: str, call: Callable[[], Any]) -> Any:
    """Run one change (``verb``: created, edited or deleted). Kuma refusing it is a warning about
    that item, not the end of the run; a timeout or a lost connection is left to the retry of
    the whole pass. Returns what the client returned, None when refused."""
    try:
        result = call()
    except Timeout:
        raise
    except UptimeKumaException as error:
        report.record(report.warnings, f"{name}: Uptime Kuma refused to be {verb}: {error}")
        return None
    log.info("%s %s", verb, name)
    report.record(getattr(report, verb), name)
    return result


def _unchanged(report: Report, name: str) -> None:
    if name not in report.created and name not in report.edited:
        report.record(report.unchanged, name)


def _describe(error: BaseException | None) -> str:
    if error is None or isinstance(error, _Unreachable):
        return str(error or "no attempt")
    return f"{type(error).__name__}: {error}"
