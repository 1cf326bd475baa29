"""A vendor: its declaration, and the delivery of one push message to its API.

The order of one delivery, all of it generic (a vendor folder only declares and maps):

1. decode the push envelope (:mod:`shared.delivery.envelope`);
2. gate, each gate an ack with a specific logged reason:
   measurement ID (``measurement_id_not_configured:G-X``), the configured event list
   (``event_not_subscribed:scroll``), the vendor's event mapping (``event_not_mapped:scroll``),
   consent per purpose (``consent_denied:ad_storage``; personal data removed, restricted
   processing flagged: :mod:`shared.delivery.consent_policy`), debug without a test code
   (``debug_without_test_event_code``), age (``event_too_old:...``), already delivered
   (``already_delivered``, vendors without a dedup key);
3. map (a pure function of event and settings) → :class:`VendorRequest`;
4. no credentials → dry run (the redacted request is logged);
5. send through one pooled async HTTP client (:mod:`shared.delivery.client`), with
   ``VENDOR_API_BASE`` overriding the origin; in batch mode the drain groups the requests of
   the messages it pulled into the vendor's batch API (:mod:`shared.delivery.batching`);
6. classify: delivered / retrying / rejected (vendor hook first, e.g. TikTok's ``code``);
7. one JSON ``delivery`` log line (docs/contracts.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared import jsonlog, local_guard, personal_data, secrets
from shared import settings as env_settings
from shared.delivery import batching, client, consent_policy, geo, http, ratelimit, tokens
from shared.delivery.envelope import EnvelopeError, PushMessage, decode_push
from shared.delivery.outcome import Outcome
from shared.privacy import rules as privacy_rules
from shared.privacy import transform as privacy

DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3.05
# Runtime settings every vendor understands, read as <VENDOR>_<KEY> like its own settings.
RUNTIME_SETTINGS = (
    "EVENTS",
    "EVENT_MAP",
    "SEND_UNMAPPED",
    "MEASUREMENT_IDS",
    "TEST_MODE",
    "TIMEOUT_SECONDS",
    *consent_policy.SETTING_NAMES,
    *privacy_rules.SETTING_NAMES,
)
# The one reason every configuration error a vendor reports (bad token, pixel, permission)
# is logged under, at ERROR: the monitoring alert fires on it (docs/contracts.md).
VENDOR_MISCONFIGURED = "vendor_misconfigured"
# Keys every mapping needs whatever the vendor: the dedup key (docs/contracts.md).
BASE_REQUIRED_KEYS = ("event_id",)
_MAX_REMEMBERED = 100_000


@dataclass
class VendorRequest:
    """The exact HTTP request a mapping produces (golden tests compare these)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None  # the body: JSON-encoded when sent, except a ``str``, sent as it is
    # How ``json`` goes on the wire: "json", or "form" (a flat object, URL-encoded); gzip
    # compresses it (Content-Encoding: gzip) for vendors that accept it.
    encoding: str = "json"
    gzip: bool = False

    def as_dict(self) -> dict[str, Any]:
        found = {"method": self.method, "url": self.url, "headers": dict(self.headers), "json": self.json}
        if self.encoding != "json":
            found["encoding"] = self.encoding
        if self.gzip:
            found["gzip"] = True
        return found


class Skip(Exception):
    """Raised by a mapping when the vendor must not get this event; the message is the reason."""


class Reject(Exception):
    """Raised by a mapping when the event can never be valid for the vendor (e.g. a purchase
    without currency for Meta); the message is the reason. Acked and logged as rejected;
    ``alert=True`` logs it at ERROR (a configuration error, e.g. a malformed JSON setting)."""

    def __init__(self, reason: str, alert: bool = False) -> None:
        super().__init__(reason)
        self.alert = alert


@dataclass
class Attempt:
    """The result of one delivery attempt, as logged."""

    outcome: Outcome
    reason: str = ""
    status: int | None = None
    detail: str = ""
    response: http.Response | None = None
    # Credentials refused (401/403, Meta 190, TikTok token codes): logged at ERROR so that
    # alerting fires, since every following event will fail the same way.
    alert: bool = False
    # Batch mode: how many events went in the vendor request that decided this outcome.
    batch_size: int | None = None
    # A vendor's own "slow down" (set by ``classify``): pause calls this many seconds
    # (0: the default pause). 429 and Retry-After are recognised without it.
    retry_after: float | None = None
    # Debug events: the logged (redacted) request, also returned in the push answer.
    request: dict[str, Any] | None = None


def misconfigured(status: int | None, detail: str) -> Attempt:
    """The vendor says its configuration (token, pixel, permission) is wrong, not the event:
    retry, so the events wait (and dead-letter) instead of vanishing as rejections, and log
    ``vendor_misconfigured`` at ERROR, which pages someone."""
    return Attempt(Outcome.RETRYING, reason=VENDOR_MISCONFIGURED, status=status, detail=detail[:500], alert=True)


@dataclass
class Plan:
    """What the runtime decided before any I/O: a request to send, or a gated outcome."""

    request: VendorRequest | None
    attempt: Attempt | None
    debug: bool = False
    vendor_event: str = ""
    # The consent state the event was (or would have been) sent under, for the log line.
    consent: dict[str, str] = field(default_factory=dict)
    # The vendor's copy of the event after its privacy controls (shared.privacy.transform).
    event: dict[str, Any] | None = None


BuildRequest = Callable[[dict[str, Any], Mapping[str, str]], VendorRequest]
Classifier = Callable[[http.Response], "Attempt | None"]
RowClassifier = Callable[[http.Response, int], "list[Attempt] | None"]


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _split(value: str) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_event_map(value: str) -> dict[str, str]:
    """``"generate_lead:Lead, contact:-"`` → ``{"generate_lead": "Lead", "contact": ""}``.

    ``-`` (or nothing after the colon) unmaps an event the vendor maps by default.
    """
    mapping: dict[str, str] = {}
    for pair in _split(value):
        source, _, target = pair.partition(":")
        target = target.strip()
        mapping[source.strip()] = "" if target in ("", "-") else target
    return mapping


@dataclass
class Vendor:
    """A vendor function's declaration.

    ``build_request(event, settings)`` is a pure function. ``settings`` holds the values of
    ``setting_names`` (environment variables ``<NAME>_<SETTING>``) and ``secret_names``
    (through :mod:`shared.secrets`, names ``<NAME>_<SECRET>``), plus two the runtime
    resolves: ``EVENT``, the vendor's name for this event, and ``DEBUG``, ``"1"`` when the
    event goes through the vendor's test mechanism. When a setting or secret in
    ``required_settings`` is empty, the vendor runs dry: it logs the exact request instead of
    sending it; an entry ``"A|B"`` is satisfied by either.

    ``event_map`` maps GA4 event names to the vendor's (``None``: every event, named as is);
    the ``<NAME>_EVENT_MAP`` setting overrides entries, ``<NAME>_SEND_UNMAPPED=true`` sends
    unmapped events under their GA4 name. ``consent`` is the vendor's
    :class:`~shared.delivery.consent_policy.ConsentPolicy` (``required_consent``, the older
    form, lists the purposes needed to send at all). With ``test_event_code_setting``, debug
    events need that setting (else they are skipped), and ``<NAME>_TEST_MODE=all`` makes every event a test event.
    ``classify`` sees every HTTP response first and may decide its outcome (``None``: the
    generic status rules decide). ``classify_rows(response, n)`` reads a vendor answer that
    reports each of the request's ``n`` events (Pinterest ``events[].status``, Microsoft
    ``error.details``) into one attempt per event (:mod:`shared.delivery.rows`).
    ``auth`` mints the Authorization header per request (:mod:`shared.delivery.tokens`).
    A 429, a ``Retry-After`` or an attempt with ``retry_after`` pauses every call of this
    instance to the vendor (:mod:`shared.delivery.ratelimit`).

    Privacy (docs/privacy.md): ``kind`` is ``"ad"`` or ``"analytics"`` (bot events are skipped
    for ad vendors by default; transformation scopes name kinds); ``required_keys`` are the
    event keys the mapping cannot work without: a transformation that removes one fails at
    load, naming vendor, rule and key.
    """

    name: str
    build_request: BuildRequest
    setting_names: tuple[str, ...] = ()
    required_settings: tuple[str, ...] = ()
    secret_names: tuple[str, ...] = ()
    event_map: Mapping[str, str] | None = None
    required_consent: tuple[str, ...] = ()
    consent: consent_policy.ConsentPolicy | None = None
    test_event_code_setting: str | None = None
    measurement_id_setting: str = "MEASUREMENT_IDS"
    max_event_age_seconds: float | None = None
    classify: Classifier | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    dedupe_delivered: bool = False
    kind: str = "analytics"
    required_keys: tuple[str, ...] = ()
    # The vendor's batch API, used in batch mode (docs/batch.md); None: one request per event.
    batch_api: batching.BatchApi | None = None
    classify_rows: RowClassifier | None = None
    auth: tokens.OAuthRefreshToken | tokens.GoogleToken | None = None
    backoff: ratelimit.Backoff = field(default_factory=ratelimit.Backoff, repr=False)
    # ``required_settings`` per event, when they depend on it (GA4: the MP secret for MP events only).
    required_settings_for: Callable[[dict[str, Any]], tuple[str, ...]] | None = None
    _seen: OrderedDict[str, int] = field(default_factory=OrderedDict, repr=False)
    _delivered: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Start-up validation of the privacy configuration: a wrong rule stops the function
        # here, with vendor, rule and key in the message, instead of leaking or failing later.
        if self.kind not in privacy_rules.KINDS:
            raise ValueError(f"vendor {self.name!r}: kind must be one of {privacy_rules.KINDS}, got {self.kind!r}")
        prefix = self.name.upper()
        privacy.check_vendor(
            self.name,
            self.kind,
            self.all_required_keys(),
            {key: os.environ.get(f"{prefix}_{key}", "") for key in privacy_rules.SETTING_NAMES},
        )

    # -- configuration -------------------------------------------------------------------------

    def all_required_keys(self) -> tuple[str, ...]:
        """The keys no transformation may remove for this vendor."""
        return tuple(dict.fromkeys((*BASE_REQUIRED_KEYS, *self.required_keys)))

    def settings(self) -> dict[str, str]:
        """Settings, runtime settings and secrets of this vendor, read now.

        Raises :class:`shared.secrets.SecretUnavailable` when a configured secret cannot be
        read (the delivery then retries). In a drain, read once per pulled batch.
        """
        batch = batching.current_batch()
        if batch is not None and self.name in batch.settings_cache:
            return dict(batch.settings_cache[self.name])
        prefix = self.name.upper()
        values = dict(
            env_settings.memo(
                ("vendor_settings", prefix, self.setting_names, self.measurement_id_setting), self._env_settings
            )
        )
        for key in self.secret_names:
            values[key] = secrets.get(f"{prefix}_{key}")
        if values.get("CLIENT_ID_MODE", "").lower() == "anonymize":
            values["CLIENT_ID_HMAC_KEY"] = secrets.get(f"{prefix}_CLIENT_ID_HMAC_KEY")
        if batch is not None:
            batch.settings_cache[self.name] = dict(values)
        return values

    def _env_settings(self) -> dict[str, str]:
        """The settings from environment variables (secrets aside), read now."""
        prefix = self.name.upper()
        names = dict.fromkeys((*self.setting_names, *RUNTIME_SETTINGS, self.measurement_id_setting))
        return {key: os.environ.get(f"{prefix}_{key}", "").strip() for key in names}

    def _secrets_due(self) -> bool:
        """Whether :meth:`settings` would call Secret Manager now (not cached for this batch)."""
        batch = batching.current_batch()
        if batch is not None and self.name in batch.settings_cache:
            return False
        prefix = self.name.upper()
        names = [f"{prefix}_{key}" for key in self.secret_names]
        names.append(f"{prefix}_CLIENT_ID_HMAC_KEY")
        return secrets.would_fetch(names)

    def declared_consent(self) -> consent_policy.ConsentPolicy:
        """The declared consent policy (``required_consent`` alone: needed to send)."""
        if self.consent is not None:
            return self.consent
        return consent_policy.ConsentPolicy(send=tuple(self.required_consent))

    def max_delivery_attempts(self) -> int:
        return env_settings.env_int("MAX_DELIVERY_ATTEMPTS", 5)

    def vendor_event_name(self, event_name: str, values: Mapping[str, str]) -> str:
        """The vendor's name for a GA4 event, ``""`` when the vendor does not take it."""
        overrides = parse_event_map(values.get("EVENT_MAP", ""))
        if event_name in overrides:
            return overrides[event_name]
        if self.event_map is None:
            return event_name
        if event_name in self.event_map:
            return self.event_map[event_name]
        return event_name if _truthy(values.get("SEND_UNMAPPED", "")) else ""

    # -- the pure part: gates and mapping --------------------------------------------------------

    def plan(
        self,
        event: dict[str, Any],
        values: Mapping[str, str],
        attributes: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> Plan:
        """Gate and map one event; no I/O, so golden tests call it directly."""
        attributes = attributes or {}
        debug = _truthy(event.get("debug_mode", False)) or attributes.get("debug") == "true"
        event_name = str(event.get("event_name") or "")

        consent = consent_policy.consent_state(event, attributes)

        def gated(outcome: Outcome, reason: str) -> Plan:
            return Plan(None, Attempt(outcome, reason=reason), debug=debug, consent=consent)

        accepted_ids = _split(values.get(self.measurement_id_setting, ""))
        measurement_id = str(event.get("x-ga-measurement_id") or attributes.get("measurement_id") or "")
        if accepted_ids and measurement_id not in accepted_ids:
            return gated(Outcome.SKIPPED, f"measurement_id_not_configured:{measurement_id or '(none)'}")
        selected = _split(values.get("EVENTS", ""))
        if selected and event_name not in selected:
            return gated(Outcome.SKIPPED, f"event_not_subscribed:{event_name}")
        vendor_event = self.vendor_event_name(event_name, values)
        if not vendor_event:
            return gated(Outcome.SKIPPED, f"event_not_mapped:{event_name}")
        try:
            policy = consent_policy.effective(self.declared_consent(), values)
        except ValueError as exc:
            return Plan(None, misconfigured(None, f"{self.name.upper()}_CONSENT_*: {exc}"), debug, consent=consent)
        decision = consent_policy.decide(policy, event, attributes, values.get("CONSENT_NOT_SET", ""), consent)
        if not decision.send:
            return gated(Outcome.SKIPPED, decision.reason)
        if not decision.personal_data:
            # Removed before the mapping runs, so no vendor mapping can send it.
            event = consent_policy.without_personal_data(event)
        bot = privacy.bot_gate(event, self.kind, values)
        if bot:
            return gated(Outcome.SKIPPED, bot)
        try:
            event = privacy.for_vendor(event, self.name, self.kind, values)
        except privacy.PrivacyMisconfigured as exc:
            # Never send what the owner asked to anonymize: wait (and alert) until it is fixed.
            attempt = Attempt(Outcome.RETRYING, reason="privacy_misconfigured", detail=str(exc), alert=True)
            return Plan(None, attempt, debug, vendor_event, consent)
        prepared = dict(values)
        prepared["RESTRICTED"] = "1" if decision.restricted else ""
        if self.test_event_code_setting:
            code = prepared.get(self.test_event_code_setting, "")
            if code and prepared.get("TEST_MODE", "").lower() == "all":
                debug = True
            elif debug and not code:
                return gated(Outcome.SKIPPED, "debug_without_test_event_code")
            elif not debug:
                prepared[self.test_event_code_setting] = ""
        if self.max_event_age_seconds is not None:
            micros = event.get("timestamp_micros")
            if isinstance(micros, (int, float)) and not isinstance(micros, bool) and micros > 0:
                age = (time.time() if now is None else now) - micros / 1_000_000
                if age > self.max_event_age_seconds:
                    return gated(Outcome.REJECTED, f"event_too_old:{int(age)}s>{int(self.max_event_age_seconds)}s")
        prepared["EVENT"] = vendor_event
        prepared["DEBUG"] = "1" if debug else ""
        try:
            request = self.build_request(event, prepared)
        except Skip as skip:
            return Plan(None, Attempt(Outcome.SKIPPED, reason=str(skip)), debug, vendor_event, consent)
        except Reject as reject:
            return Plan(
                None, Attempt(Outcome.REJECTED, reason=str(reject), alert=reject.alert), debug, vendor_event, consent
            )
        except Exception as exc:  # noqa: BLE001
            # Whatever the mapping raised, it is a bug in the mapping (a mapping states what it
            # refuses with Skip or Reject): retry, so the event ends in the dead-letter topic and
            # can be replayed once the mapping is fixed, instead of being acked and lost.
            attempt = Attempt(
                Outcome.RETRYING, reason="mapping_error", detail=f"{type(exc).__name__}: {exc}", alert=True
            )
            return Plan(None, attempt, debug, vendor_event, consent)
        try:
            _check_json(request.json)
        except (TypeError, ValueError) as exc:
            # The event carried a value JSON cannot hold (NaN, Infinity) through the mapping:
            # no resend can make it valid.
            attempt = Attempt(Outcome.REJECTED, reason="mapping_failed", detail=f"body is not valid JSON: {exc}")
            return Plan(None, attempt, debug, vendor_event, consent)
        required = self.required_settings_for(event) if self.required_settings_for else self.required_settings
        # "A|B": either A or B (Mixpanel: a service account or a project token).
        missing = [key for key in required if not any(prepared.get(k) for k in key.split("|"))]
        if missing:
            prefix = self.name.upper()
            reason = "missing_settings:" + ",".join(
                "|".join(f"{prefix}_{k}" for k in key.split("|")) for key in missing
            )
            return Plan(request, Attempt(Outcome.DRY_RUN, reason=reason), debug, vendor_event, consent, event)
        return Plan(request, None, debug, vendor_event, consent, event)

    # -- the I/O part ----------------------------------------------------------------------------

    def handle_push(self, body: bytes, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """Synchronous :meth:`ahandle_push` (tests and tools; the functions are async)."""
        return client.run_sync(self.ahandle_push(body, headers))

    def deliver(self, message: PushMessage) -> Attempt:
        """Synchronous :meth:`adeliver`."""
        return client.run_sync(self.adeliver(message))

    async def ahandle_push(self, body: bytes, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """Deliver one push message; return the HTTP status for Pub/Sub and a JSON body.

        With ``headers`` and ``REQUIRE_LOOPBACK=1`` (local runs), a request a web page could
        have sent is refused first (shared/local_guard.py)."""
        if headers is not None and local_guard.enabled():
            reason = local_guard.refusal(headers)
            if reason is not None:
                return 403, {
                    "error": reason,
                    "detail": "local vendor functions accept only the emulator's push requests",
                }
        try:
            message = decode_push(body)
        except EnvelopeError as exc:
            # Not acked: a malformed message is a poison message and belongs in the
            # dead-letter topic, where an operator can see it, not silently dropped.
            jsonlog.error("delivery", vendor=self.name, outcome="invalid_envelope", reason=str(exc))
            return 400, {"error": "invalid_envelope", "detail": str(exc)}
        attempt = await self.adeliver(message)
        status = 200 if attempt.outcome.ack else 503
        payload: dict[str, Any] = {"outcome": attempt.outcome.value, "reason": attempt.reason}
        if attempt.request is not None:
            payload["request"] = attempt.request  # debug events: the exact outgoing request, redacted
        return status, payload

    async def adeliver(self, message: PushMessage) -> Attempt:
        """Gate, map, send and log one message; it awaits only the vendor request and, once per
        cache period, a Secret Manager read in a worker thread."""
        started = time.perf_counter()
        event = message.event
        log_requests = env_settings.env_bool("LOG_REQUESTS")
        plan = Plan(None, None)
        values: dict[str, str] = {}
        try:
            # A Secret Manager read blocks for up to 5 s once per cache period: off the loop,
            # so the other deliveries in flight on this instance keep going meanwhile.
            values = await asyncio.to_thread(self.settings) if self._secrets_due() else self.settings()
        except secrets.SecretUnavailable as exc:
            attempt = Attempt(Outcome.RETRYING, reason="secret_unavailable", detail=str(exc))
        else:
            # Keyed on the Pub/Sub message: a redelivery repeats it, while a page may reuse
            # an event_id for two different events, and both must arrive.
            delivery_key = message.message_id
            if self.dedupe_delivered and delivery_key and self._was_delivered(delivery_key):
                attempt = Attempt(Outcome.SKIPPED, reason="already_delivered")
            else:
                plan = self.plan(event, values, message.attributes)
                attempt = plan.attempt or await self._send(plan.request, values)
                if attempt.outcome is Outcome.DELIVERED and self.dedupe_delivered and delivery_key:
                    self._remember_delivered(delivery_key)
        attempt_number = self._attempt_number(message)
        if attempt.outcome is Outcome.RETRYING and attempt_number >= self.max_delivery_attempts():
            attempt.outcome = Outcome.DEAD_LETTERED
        record: dict[str, Any] = {
            "vendor": self.name,
            "event_id": event.get("event_id"),
            "event_name": event.get("event_name"),
            "message_id": message.message_id,
            "outcome": attempt.outcome.value,
            "reason": attempt.reason,
            "http_status": attempt.status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "attempt": attempt_number,
            "debug": plan.debug,
        }
        if plan.consent:
            record["consent"] = plan.consent
        # Where the location this vendor's copy carries came from (after its privacy rules):
        # lb, sender or unknown (shared/delivery/geo.py); unknown: no location field was sent.
        record["geo"] = geo.provenance(plan.event if plan.event is not None else event)
        secret_values = [values.get(key, "") for key in self.secret_names]
        if attempt.detail:
            # A vendor may echo what it was sent (a token in an error message): redacted too.
            record["detail"] = http.redact_text(attempt.detail, secret_values)[:500]
        if attempt.batch_size:
            record["batch_size"] = attempt.batch_size
        if plan.request is not None and (log_requests or plan.debug or attempt.outcome is Outcome.DRY_RUN):
            record["request"] = self._loggable(plan.request, values, log_requests)
            if plan.debug:
                attempt.request = record["request"]
        if log_requests and plan.event is not None:
            # Local only: the vendor's copy of the event after its privacy controls (inspector).
            record["vendor_event"] = plan.event
        if log_requests and attempt.response is not None:
            record["response"] = {
                "status": attempt.response.status,
                "body": http.redact_text(attempt.response.excerpt(), secret_values),
            }
        severity = "INFO" if attempt.outcome.ack and attempt.outcome is not Outcome.REJECTED else "WARNING"
        if attempt.alert:
            severity = "ERROR"
        jsonlog.log(severity, "delivery", **record)
        return attempt

    def _loggable(self, request: VendorRequest, values: Mapping[str, str], local: bool) -> dict[str, Any]:
        """The request with secrets redacted; outside local runs (no LOG_REQUESTS), the user's
        IP and all personal data too (shared.personal_data): dry runs log in the cloud."""
        secret_values = [values.get(key, "") for key in self.secret_names]
        logged = http.redact_request(self._outgoing(request).as_dict(), secret_values)
        if not local:
            logged["json"] = _mask_ips(logged["json"])
            logged["url"] = _mask_url_ip(logged["url"])
            logged = personal_data.redact_request(logged)
        return logged

    def _outgoing(self, request: VendorRequest) -> VendorRequest:
        base = os.environ.get("VENDOR_API_BASE", "").strip()
        if not base:
            return request
        return VendorRequest(request.method, http.with_origin(request.url, base), request.headers, request.json)

    def _paused(self) -> Attempt | None:
        """The vendor asked this instance to wait: retry later without calling it."""
        left = self.backoff.remaining()
        if left <= 0:
            return None
        return Attempt(Outcome.RETRYING, reason="rate_limited", detail=f"retry_after={left:.1f}s; no call made")

    async def _send(self, request: VendorRequest | None, values: Mapping[str, str]) -> Attempt:
        assert request is not None
        paused = self._paused()
        if paused is not None:
            return paused
        batch = batching.current_batch()
        if batch is not None and self.batch_api is not None:
            # Batch mode: the drain sends this request together with the others it pulled.
            return await batch.submit(self, request, values)
        outgoing = self._outgoing(request)
        headers = outgoing.headers
        if self.auth is not None:
            try:
                headers = {**headers, **await self.auth.headers(self.name, values)}
            except tokens.TokenError as exc:
                return tokens.failed_attempt(exc)
        try:
            timeout = float(values.get("TIMEOUT_SECONDS") or self.timeout)
        except ValueError:
            timeout = self.timeout
        try:
            response = await client.send(
                outgoing.method,
                outgoing.url,
                headers,
                outgoing.json,
                (min(CONNECT_TIMEOUT_SECONDS, timeout), timeout),
                encoding=outgoing.encoding,
                gzip=outgoing.gzip,
            )
        except client.TimeoutError_:
            return Attempt(Outcome.RETRYING, reason="timeout")
        except client.ConnectError as exc:
            return Attempt(Outcome.RETRYING, reason="connection_error", detail=_safe_error(exc, values, self))
        except client.RequestError as exc:
            return Attempt(Outcome.RETRYING, reason="request_error", detail=_safe_error(exc, values, self))
        attempt = self.classify(response) if self.classify is not None else None
        if attempt is None and self.classify_rows is not None:
            attempt = self._row_attempt(response, request)
        if attempt is None:
            attempt = classify_response(response.status, response.text)
        if attempt.status is None:
            attempt.status = response.status
        if response.status == 401 and self.auth is not None:
            self.auth.invalidate(values)  # revoked before its expiry: mint a new one next time
        retry_after = response.headers.get("retry-after")
        if attempt.outcome is Outcome.RETRYING and (
            response.status == 429 or retry_after or attempt.retry_after is not None
        ):
            seconds = ratelimit.parse_retry_after(retry_after) if retry_after else None
            if seconds is None and attempt.retry_after:
                seconds = attempt.retry_after
            pause_seconds = self.backoff.pause(seconds)
            attempt.detail = f"retry_after={pause_seconds:g}s; {attempt.detail}".rstrip("; ")
            jsonlog.log(
                "WARNING",
                "rate_limited",
                vendor=self.name,
                http_status=response.status,
                pause_seconds=round(pause_seconds, 1),
            )
        attempt.response = response
        return attempt

    def _row_attempt(self, response: http.Response, request: VendorRequest) -> Attempt | None:
        """The request's outcome from a per-event answer: its one row, or (a batch) its worst
        row; the batch then gives each message its own rows (``BatchApi.split``)."""
        assert self.classify_rows is not None
        count = self.batch_api.events(request) if self.batch_api is not None else 1
        rows = self.classify_rows(response, count)
        if not rows:
            return None
        return next((r for r in rows if r.outcome is not Outcome.DELIVERED), rows[0])

    # -- per-process memory ----------------------------------------------------------------------

    def _attempt_number(self, message: PushMessage) -> int:
        """Pub/Sub's deliveryAttempt; without it (the emulator), this process's own count."""
        with self._lock:
            count = self._seen.pop(message.message_id, 0) + 1
            self._seen[message.message_id] = count
            while len(self._seen) > _MAX_REMEMBERED:
                self._seen.popitem(last=False)
        return message.delivery_attempt or count

    def upcoming_attempt(self, message: PushMessage) -> int:
        """The number :meth:`_attempt_number` will give this delivery, without counting it."""
        with self._lock:
            return message.delivery_attempt or self._seen.get(message.message_id, 0) + 1

    def _was_delivered(self, key: str) -> bool:
        with self._lock:
            return key in self._delivered

    def _remember_delivered(self, key: str) -> None:
        with self._lock:
            self._delivered[key] = None
            while len(self._delivered) > _MAX_REMEMBERED:
                self._delivered.popitem(last=False)


def _safe_error(exc: BaseException, values: Mapping[str, str], vendor: Vendor) -> str:
    """A transport error's text, with credentials out of it (URLs may carry tokens)."""
    text = http.redact_text(str(exc), [values.get(key, "") for key in vendor.secret_names])
    return type(exc).__name__ + ": " + text[:300]


# What json.dumps refuses, orjson refuses too (with these options), except NaN and Infinity,
# which it writes as null.
_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _check_json(body: Any) -> None:
    """Raise ``TypeError``/``ValueError`` as ``json.dumps(body, allow_nan=False)`` would.

    orjson proves most bodies valid about ten times faster (once per delivery); a body it
    refuses, or whose encoding holds a ``null`` (maybe a NaN or an Infinity), gets json's
    own verdict. orjson's native types beyond JSON's (UUID, Enum) are not passed through;
    no mapping builds them.
    """
    try:
        encoded = orjson.dumps(body, option=_ORJSON_STRICT)
    except TypeError:  # orjson.JSONEncodeError: big ints, non-str keys, surrogates ...
        encoded = None
    if encoded is None or b"null" in encoded:
        json.dumps(body, allow_nan=False)


_IP_KEYS = frozenset({"client_ip_address", "ip", "ip_override", "ip_address"})


def _mask_url_ip(url: str) -> str:
    """GA4's ``_uip`` (the visitor's IP in a ``/g/collect`` URL) masked in logs."""
    if "_uip=" not in url:
        return url
    return re.sub(r"([?&]_uip=)[^&]*", lambda m: m.group(1) + http.REDACTED, url)


def _mask_ips(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (http.REDACTED if k in _IP_KEYS and v else _mask_ips(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_ips(v) for v in value]
    return value


def classify_response(status: int, text: str) -> Attempt:
    """Vendor response → outcome: 2xx delivered; 408, 429 and 5xx retry; other 4xx rejected."""
    if 200 <= status < 300:
        return Attempt(Outcome.DELIVERED, status=status)
    if status in (408, 425, 429) or status >= 500:
        return Attempt(Outcome.RETRYING, reason=f"http_{status}", status=status, detail=text[:500])
    if status in (401, 403):
        # Credentials or permission refused: configuration, not this event.
        return misconfigured(status, f"http_{status}: {text[:480]}")
    return Attempt(Outcome.REJECTED, reason=f"http_{status}", status=status, detail=text[:500])
