"""XeroClient: the Accounting and Identity APIs for one organisation (tenant).

Built on xero-python (``AccountingApi``, ``IdentityApi``, ``TokenApi``) with
configurable hosts so it can talk to the local emulator. At its boundary the
client speaks plain dicts in Xero's wire JSON shape (PascalCase); inside, the
dicts become SDK models (validated by the SDK's setters) and the SDK's
serializer writes the request bodies. Answers are read as JSON with amounts
as ``Decimal`` (the SDK's models would turn them into floats on the way back).

Each call goes through:

1. the token check (refresh under the store's lock when the access token
   expires within ``refresh_margin``; one forced refresh on 401 TokenExpired);
2. the rate limiter (per-tenant minute/day/concurrency, app-wide minute);
3. retries: 429 honours ``Retry-After``; 5xx, timeouts and connection errors
   back off exponentially with full jitter; at most ``max_attempts``; a write
   sends the same ``Idempotency-Key`` on every attempt.

Batch writes return one :class:`~coworks_xero.services.documents.Result` per
input element, in input order; anything that is not per element raises
:class:`~coworks_xero.services.xero.errors.XeroError`.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import http.client
import logging
import random
import re
import socket
import threading
import time
from decimal import Decimal
from enum import Enum
from urllib.parse import quote

import urllib3
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient, ModelFinder
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.deserializer import deserialize
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import ApiException
from xero_python.identity import IdentityApi

from ..documents import Result
from . import const
from .errors import (
    CONFLICT,
    REAUTH,
    RETRYABLE,
    VALIDATION,
    XeroError,
    classify,
    element_has_errors,
    element_label,
    element_code,
    element_messages,
    header,
    http_code,
    NO_ID_RETURNED,
    with_advice,
    is_token_expired,
    parse_body,
    redact,
    sentence,
)
from .oauth import TokenSet
from .ratelimit import RateLimiter

_logger = logging.getLogger(__name__)

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_real_guid(value):
    """A well-formed GUID that is not Xero's all-zero placeholder."""
    return bool(value) and isinstance(value, str) and bool(_GUID_RE.match(value)) and value != const.ZERO_GUID


@dataclasses.dataclass
class ClientConfig:
    """Where Xero is and how patient to be. Defaults are real Xero's hosts."""

    base_url: str = const.API_BASE_URL
    identity_url: str = const.IDENTITY_URL
    login_url: str = const.LOGIN_URL
    client_id: str = ""
    client_secret: str = dataclasses.field(default="", repr=False)
    connect_timeout: float = const.DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = const.DEFAULT_READ_TIMEOUT
    max_attempts: int = const.DEFAULT_MAX_ATTEMPTS
    backoff_base: float = const.DEFAULT_BACKOFF_BASE
    backoff_cap: float = const.DEFAULT_BACKOFF_CAP
    refresh_margin: float = const.REFRESH_MARGIN
    pool_maxsize: int = 10

    @classmethod
    def for_emulator(cls, base_url, client_id, client_secret, **kwargs):
        """Every host under one base URL, as the emulator serves them."""
        base_url = base_url.rstrip("/")
        return cls(base_url=base_url, identity_url=base_url, login_url=base_url, client_id=client_id,
                   client_secret=client_secret, **kwargs)

    @property
    def accounting_url(self):
        return self.base_url.rstrip("/") + const.ACCOUNTING_PATH

    @property
    def connections_base_url(self):
        return self.base_url.rstrip("/")

    @property
    def token_url(self):
        return self.identity_url.rstrip("/") + const.TOKEN_PATH

    @property
    def revoke_url(self):
        return self.identity_url.rstrip("/") + const.REVOKE_PATH

    @property
    def authorize_url(self):
        return self.login_url.rstrip("/") + const.AUTHORIZE_PATH


# ---------------------------------------------------------------------------
# Transport plumbing


class _BoundedPoolManager(urllib3.PoolManager):
    """One pool manager per client: no hidden urllib3 retries (the client
    counts every attempt against Xero's limits) and a timeout on every call,
    including the SDK's token calls that pass none."""

    def __init__(self, default_timeout, **kwargs):
        super().__init__(**kwargs)
        self._default_timeout = default_timeout

    def urlopen(self, method, url, redirect=True, **kw):
        if kw.get("timeout") is None:
            kw["timeout"] = self._default_timeout
        kw["retries"] = False
        return super().urlopen(method, url, redirect=False, **kw)


class _ThreadAuth(OAuth2Token):
    """Gives the SDK the access token chosen for the current thread's call.

    The client decides when to refresh (under the token store's lock); the
    SDK's own refresh is never used."""

    def __init__(self):
        super().__init__()
        self._local = threading.local()

    def set(self, access_token):
        self._local.token = access_token

    def get_auth_settings(self):
        return self._auth_settings

    def _auth_settings(self, api_client=None):
        token = getattr(self._local, "token", None)
        if not token:
            raise XeroError(REAUTH, "Not connected to Xero: no access token.")
        return {"type": "oauth2", "in": "header", "key": "Authorization", "value": "Bearer " + token}


class _NetworkError(Exception):
    def __init__(self, what, exc_name):
        super().__init__(what)
        self.what = what
        self.exc_name = exc_name


# ---------------------------------------------------------------------------
# dict (Xero wire JSON) -> SDK model

_ACCOUNTING_MODELS = ModelFinder(AccountingApi.models_module)
_LIST_RE = re.compile(r"^list\[(.*)\]$")
_MS_DATE_RE = re.compile(r"^/Date\(-?\d+([+-]\d{2,4})?\)/$")


def _to_date(value, with_time):
    if isinstance(value, datetime.datetime):
        return value if with_time else value.date()
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time(), datetime.timezone.utc) if with_time else value
    if isinstance(value, str):
        text = value.strip()
        if _MS_DATE_RE.match(text):
            return deserialize("datetime[ms-format]" if with_time else "date[ms-format]", text, _ACCOUNTING_MODELS)
        try:
            if with_time:
                parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
            return datetime.date.fromisoformat(text[:10])
        except ValueError:
            pass
    raise ValueError("%r is not a date" % (value,))


def to_model(type_name, data, path=""):
    """Convert Xero wire JSON (dicts, lists, scalars) into xero-python models.

    Raises ``ValueError`` naming the field when the data does not fit the
    SDK's model (unknown field, wrong type, value outside an enum)."""
    path = path or type_name
    if data is None:
        return None
    match = _LIST_RE.match(type_name)
    if match:
        if not isinstance(data, (list, tuple)):
            raise ValueError("%s must be a list" % path)
        return [to_model(match.group(1), item, "%s[%d]" % (path, i)) for i, item in enumerate(data)]
    if type_name in ("date[ms-format]", "date", "datetime[ms-format]", "datetime"):
        try:
            return _to_date(data, with_time=type_name.startswith("datetime"))
        except ValueError:
            raise ValueError("%s: %r is not a date (use YYYY-MM-DD)" % (path, data)) from None
    if type_name == "float":
        if isinstance(data, bool):
            raise ValueError("%s must be a number" % path)
        try:
            return data if isinstance(data, Decimal) else Decimal(str(data))
        except ArithmeticError:
            raise ValueError("%s must be a number, not %r" % (path, data)) from None
    if type_name == "str":
        return str(data)
    if type_name == "bool":
        if not isinstance(data, bool):
            raise ValueError("%s must be true or false" % path)
        return data
    if type_name == "int":
        return int(data)
    if type_name == "object":
        return data
    model = getattr(_ACCOUNTING_MODELS.models, type_name, None)
    if model is None:
        raise ValueError("%s: unknown type %s" % (path, type_name))
    if isinstance(model, type) and issubclass(model, Enum):
        if isinstance(data, model):
            return data
        try:
            return model(data)
        except ValueError:
            raise ValueError("%s: %r is not one of Xero's values" % (path, data)) from None
    if not isinstance(data, dict):
        raise ValueError("%s must be an object" % path)
    reverse = {json_key: attr for attr, json_key in model.attribute_map.items()}
    kwargs = {}
    for key, value in data.items():
        attr = reverse.get(key)
        if attr is None:
            raise ValueError("%s has no field %s" % (path, key))
        if value is None:
            continue
        kwargs[attr] = to_model(model.openapi_types[attr], value, "%s.%s" % (path, key))
    try:
        instance = model(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s: %s" % (path, exc)) from None
    # The SDK's models default some read-only flags (HasErrors,
    # HasAttachments, ...) to False; send only what the caller gave.
    for attr in model.openapi_types:
        if attr not in kwargs and getattr(instance, "_" + attr, None) is not None:
            setattr(instance, "_" + attr, None)
    return instance


# ---------------------------------------------------------------------------
# Per-kind facts for batch results

_KINDS = {
    # kind: (wrapper, model, id key, number key, status key)
    "contact": ("Contacts", "Contact", "ContactID", "ContactNumber", "ContactStatus"),
    "invoice": ("Invoices", "Invoice", "InvoiceID", "InvoiceNumber", "Status"),
    "credit_note": ("CreditNotes", "CreditNote", "CreditNoteID", "CreditNoteNumber", "Status"),
    "payment": ("Payments", "Payment", "PaymentID", "", "Status"),
    "allocation": ("Allocations", "Allocation", "AllocationID", "", ""),
    "bank_transaction": ("BankTransactions", "BankTransaction", "BankTransactionID", "", "Status"),
}


def _chunks(items, size=const.BATCH_SIZE):
    items = list(items)
    return [items[i: i + size] for i in range(0, len(items), size)]


def _check_key(idempotency_key):
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise XeroError(VALIDATION, "Every write to Xero needs an idempotency key.")
    if len(idempotency_key) > const.IDEMPOTENCY_KEY_MAX:
        raise XeroError(VALIDATION, "Idempotency keys are at most %d characters." % const.IDEMPOTENCY_KEY_MAX)
    if not idempotency_key.isascii() or not idempotency_key.isprintable():
        raise XeroError(VALIDATION, "Idempotency keys must be printable ASCII.")
    return idempotency_key


def _chunk_key(idempotency_key, index, count):
    """Each chunk of a split batch is its own request, so it needs its own key."""
    if count == 1:
        return idempotency_key
    key = "%s:%d" % (idempotency_key, index)
    if len(key) > const.IDEMPOTENCY_KEY_MAX:
        key = hashlib.sha256(key.encode()).hexdigest()
    return key


# Query booleans as OpenAPI writes them ("false"); the SDK would send Python's "False".
_TRUE = "true"
_FALSE = "false"
# Characters of a URL-encoded where clause per request: Xero refuses query strings much past 2,000
# (e.g. IDs lists beyond about 52 GUIDs answer 404, xero-api-facts.md).
WHERE_MAX_QUERY = 1800


def _query_bool(value):
    return _TRUE if value else _FALSE


def _where_quote(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


class XeroClient:
    """Xero for one organisation. Thread-safe; share one per tenant and process.

    :param config: :class:`ClientConfig`
    :param tenant_id: the organisation's ``xero-tenant-id`` ("" for
        tenantless calls such as :meth:`list_connections` right after connecting)
    :param token_store: a :class:`~coworks_xero.services.xero.oauth.TokenStore`
    :param limiter: a :class:`RateLimiter` (default: the process-wide one)
    :param clock: ``() -> epoch seconds`` for token expiry (default: the limiter's)
    :param sleep: for backoff (default: the limiter's)
    """

    def __init__(self, config, tenant_id, token_store, limiter=None, *, clock=None, sleep=None, rng=None,
                 max_wait=None):
        self.config = config
        # How long one call may wait for the organisation's budget (its window, a Retry-After)
        # before it gives up with a rate-limit error: None = the limiter's. The sync worker keeps
        # it short, so that one organisation's limit never holds the worker others need.
        self.max_wait = max_wait
        # False while a caller that spaces its own calls (the webhook reads, see
        # XeroInbound.spaced_by_caller) reads: the limiter's pacing would split them.
        self.paced = True
        self.tenant_id = tenant_id or ""
        self.token_store = token_store
        self.limiter = limiter or RateLimiter.shared()
        self._clock = clock or self.limiter.clock
        self._sleep = sleep or self.limiter.sleep
        self._rng = rng or random.Random()
        self._tokens = None
        self._tokens_lock = threading.Lock()
        self._timeout = (float(config.connect_timeout), float(config.read_timeout))

        configuration = Configuration()
        # Configuration() hands out copies of a process-wide default: set
        # everything this client relies on explicitly.
        self._auth = _ThreadAuth()
        configuration.oauth2_token = self._auth
        configuration.connection_pool_maxsize = config.pool_maxsize
        configuration.proxy = None
        configuration.verify_ssl = True
        self._api_client = ApiClient(configuration, pool_threads=1)
        rest = self._api_client.rest_client
        old = rest.pool_manager
        rest.pool_manager = _BoundedPoolManager(
            urllib3.Timeout(connect=self._timeout[0], read=self._timeout[1]),
            num_pools=4,
            maxsize=config.pool_maxsize,
            **{k: v for k, v in old.connection_pool_kw.items() if k in ("cert_reqs", "ca_certs", "cert_file", "key_file", "assert_hostname")},
        )
        old.clear()
        self.accounting = AccountingApi(self._api_client, base_url=config.accounting_url)
        self.identity = IdentityApi(self._api_client, base_url=config.connections_base_url)
        self._token_api = TokenApi(self._api_client, config.client_id, config.client_secret)
        self._token_api.refresh_token_url = config.token_url
        self._token_api.revoke_token_url = config.revoke_url

    def close(self):
        self._api_client.rest_client.pool_manager.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ================================================================ tokens

    def _current_tokens(self):
        # The store is not loaded under the lock: from a thread, loading is handed to the thread
        # owning the database (services/send_thread.py), which may itself be in a request here.
        with self._tokens_lock:
            tokens = self._tokens
        if tokens is None:
            loaded = self.token_store.load()
            with self._tokens_lock:
                if self._tokens is None:
                    self._tokens = loaded
                tokens = self._tokens
        return tokens

    def _valid_tokens(self):
        tokens = self._current_tokens()
        if tokens.expires_within(self.config.refresh_margin, self._clock()):
            tokens = self._refresh(stale=tokens)
        return tokens

    def refresh_tokens(self, force=False):
        """Refresh now (``force``) or only if stale; returns the stored tokens."""
        tokens = self._current_tokens()
        return self._refresh(stale=tokens, force=force)

    def _refresh(self, stale, force=False):
        """Single-flight refresh: lock, re-load, refresh only if still needed, save, use."""
        with self.token_store.refresh_lock():
            current = self.token_store.load()
            now = self._clock()
            rotated_elsewhere = stale is not None and current.access_token != stale.access_token
            fresh = not current.expires_within(self.config.refresh_margin, now)
            if fresh and (rotated_elsewhere or not force):
                with self._tokens_lock:
                    self._tokens = current
                return current
            new = self._call_token_endpoint(current)
            self.token_store.save(new)
            with self._tokens_lock:
                self._tokens = new
            _logger.info("Xero tokens refreshed for tenant %s", self.tenant_id or "-")
            return new

    def _call_token_endpoint(self, current):
        if not current.refresh_token:
            raise XeroError(REAUTH, "Not connected to Xero: no refresh token; reconnect to Xero.")
        scope = current.scope.split() if current.scope else list(const.SCOPES)
        attempt = 0
        while True:
            attempt += 1
            try:
                data = self._token_api.refresh_token(current.refresh_token, scope)
                return TokenSet.from_response(data, now=self._clock(), previous=current)
            except XeroError:
                raise
            except ApiException as exc:
                if not exc.status:
                    err = XeroError(RETRYABLE, "Could not reach Xero's token endpoint.")
                else:
                    err = classify(exc.status, exc.headers, exc.body, what="Xero's token endpoint")
            except urllib3.exceptions.TimeoutError:
                err = XeroError(RETRYABLE, "Xero's token endpoint did not answer in time.")
            except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
                err = XeroError(RETRYABLE, "Could not reach Xero's token endpoint (%s)." % type(exc).__name__)
            except ValueError:
                err = XeroError(RETRYABLE, "Xero's token endpoint answered with something that is not JSON.")
            _logger.warning("Xero token refresh attempt %d failed: %s", attempt, err.kind)
            # Without an answer the old refresh token stays valid for a grace period.
            if not err.retryable or attempt >= self.config.max_attempts:
                raise err
            self._sleep(self._backoff(attempt))

    def revoke(self):
        """Revoke the refresh token (and with it every connection of this authorisation).

        The caller forgets the stored tokens afterwards."""
        tokens = self._current_tokens()
        if not tokens.refresh_token:
            return
        try:
            self._token_api.revoke_token(tokens.refresh_token)
        except ApiException as exc:
            if not exc.status:
                raise XeroError(RETRYABLE, "Could not reach Xero's revocation endpoint.") from None
            raise classify(exc.status, exc.headers, exc.body, what="Xero's revocation endpoint") from None
        except urllib3.exceptions.TimeoutError:
            raise XeroError(RETRYABLE, "Xero's revocation endpoint did not answer in time.") from None
        except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
            raise XeroError(RETRYABLE, "Could not reach Xero's revocation endpoint (%s)." % type(exc).__name__) from None
        _logger.info("Xero tokens revoked")

    # ============================================================= transport

    def _backoff(self, attempt):
        cap = min(self.config.backoff_cap, self.config.backoff_base * (2 ** (attempt - 1)))
        return self._rng.uniform(0, cap)  # full jitter

    def _send(self, fn):
        """One HTTP exchange through the SDK -> (status, headers, body bytes)."""
        try:
            response, status, headers = fn(
                _return_http_data_only=False, _preload_content=False, _request_timeout=self._timeout
            )
            try:
                body = response.data
            finally:
                response.release_conn()
            return status, headers, body
        except XeroError:
            raise
        except ApiException as exc:
            if not exc.status:
                raise _NetworkError("connection", type(exc).__name__) from None
            return exc.status, exc.headers, exc.body
        except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass in urllib3 1.x
            raise _NetworkError("connection", type(exc).__name__) from None
        except (urllib3.exceptions.TimeoutError, socket.timeout) as exc:
            raise _NetworkError("timeout", type(exc).__name__) from None
        except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
            raise _NetworkError("connection", type(exc).__name__) from None
        except (ValueError, TypeError) as exc:
            # the SDK refused to build the request
            raise XeroError(VALIDATION, "The request to Xero could not be built: %s" % redact(str(exc))) from None

    def _request(self, op, fn, *, tenant=True, kind=None, sent=None, what="The document"):
        """Run ``fn`` with tokens, limits and retries; returns (headers, parsed JSON body)."""
        tenant_id = self.tenant_id if tenant else None
        if tenant and not tenant_id:
            raise XeroError(REAUTH, "No Xero organisation selected for this connection.")
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            tokens = self._valid_tokens()
            started = time.monotonic()
            try:
                with self.limiter.slot(tenant_id, max_wait=self.max_wait, paced=self.paced) as slot:
                    self._auth.set(tokens.access_token)
                    try:
                        status, headers, body = self._send(fn)
                    finally:
                        self._auth.set(None)
                    slot.observe(headers)
            except _NetworkError as exc:
                err = XeroError(
                    RETRYABLE,
                    "Xero did not answer in time." if exc.what == "timeout"
                    else "Could not reach Xero (%s)." % exc.exc_name,
                    details={"network": exc.what},
                    code=http_code(None, network=exc.what),
                )
                status, headers = None, None
                _logger.warning("Xero %s: %s (attempt %d/%d)", op, exc.what, attempt, self.config.max_attempts)
            else:
                elapsed = time.monotonic() - started
                _logger.debug("Xero %s -> %s in %.3fs (attempt %d)", op, status, elapsed, attempt)
                if 200 <= status < 300:
                    return headers, parse_body(body)
                if status == 401 and not refreshed and is_token_expired(status, body):
                    refreshed = True
                    attempt -= 1  # not the request's fault
                    self._refresh(stale=tokens, force=True)
                    continue
                err = classify(status, headers, body, kind=kind, sent=sent, what=what)
                correlation = header(headers, const.HEADER_CORRELATION_ID)
                _logger.warning(
                    "Xero %s -> HTTP %s (%s, attempt %d/%d%s)", op, status, err.kind, attempt,
                    self.config.max_attempts, ", correlation %s" % correlation if correlation else "",
                )
                if status == 429:
                    problem = err.details.get("rate_limit_problem", "minute")
                    if err.retry_after is not None:
                        wait = err.retry_after * self.limiter.retry_after_scale
                    else:
                        wait = const.MINUTE
                    self.limiter.block(tenant_id, wait, problem)
                    patience = self.limiter.max_wait if self.max_wait is None else self.max_wait
                    if problem == "day" or wait > patience or attempt >= self.config.max_attempts:
                        raise err
                    continue  # the limiter makes the next attempt wait
            if not err.retryable or attempt >= self.config.max_attempts:
                raise err
            self._sleep(self._backoff(attempt))

    # ---------------------------------------------------------------- helpers

    def _get(self, op, method, *args, what="The document", **params):
        """GET through the SDK method ``method`` of AccountingApi."""
        call = getattr(self.accounting, method)

        def fn(**kw):
            return call(self.tenant_id, *args, **params, **kw)

        _headers, data = self._request(op, fn, what=what)
        return data if data is not None else {}

    def _batch_write(self, kind, method, elements, idempotency_key, refs=None, extra_args=(), **params):
        """Send ``elements`` (wire dicts) in chunks of 50 -> one Result each, in order."""
        _check_key(idempotency_key)
        wrapper, model_name, *_ = _KINDS[kind]
        elements = list(elements)
        refs = list(refs) if refs is not None else [""] * len(elements)
        if len(refs) != len(elements):
            raise XeroError(VALIDATION, "refs must have one entry per element.")
        results = [None] * len(elements)
        to_send = []  # (index, model, dict)
        for i, element in enumerate(elements):
            try:
                model = to_model(model_name, element)
            except ValueError as exc:
                results[i] = Result(
                    ref=refs[i], ok=False, error_kind=VALIDATION,
                    message=sentence(element_label(kind, None, element, i), [str(exc)]),
                )
                continue
            to_send.append((i, model, element))
        chunks = _chunks(to_send)
        done = False
        for n, chunk in enumerate(chunks):
            key = _chunk_key(idempotency_key, n, len(chunks))
            sent = [item[2] for item in chunk]
            body_model = getattr(_ACCOUNTING_MODELS.models, wrapper)(**{_snake(wrapper): [item[1] for item in chunk]})
            call = getattr(self.accounting, method)

            def fn(_body=body_model, _key=key, **kw):
                return call(self.tenant_id, *extra_args, _body, idempotency_key=_key, **params, **kw)

            try:
                _headers, data = self._request("%s x%d" % (method, len(chunk)), fn, kind=kind, sent=sent)
                returned = (data or {}).get(wrapper) or []
            except XeroError as err:
                if err.kind == VALIDATION and len(err.details.get("elements") or []) == len(chunk):
                    # summarizeErrors=true style answer: map the elements anyway
                    returned = err.details["elements"]
                elif not done:
                    raise
                else:
                    # earlier chunks went through: report them, fail the rest
                    # (a retry with the same key replays the chunks already sent)
                    for i, _model, _element in chunk:
                        results[i] = Result(ref=refs[i], ok=False, error_kind=err.kind, message=err.message,
                                            details={"status": err.status, "retry_after": err.retry_after,
                                                     "error_code": err.code})
                    continue
            done = True
            for pos, (i, _model, element) in enumerate(chunk):
                got = returned[pos] if pos < len(returned) else None
                results[i] = element_result(kind, element, got, refs[i], index=i)
        return results

    def _single_write(self, kind, method, path_id, element, idempotency_key, ref="", **params):
        """POST one element to /{Collection}/{id} -> one Result (validation errors included)."""
        _check_key(idempotency_key)
        wrapper, model_name, *_ = _KINDS[kind]
        try:
            model = to_model(wrapper, {wrapper: [element]})
        except ValueError as exc:
            return Result(ref=ref, ok=False, error_kind=VALIDATION,
                          message=sentence(element_label(kind, None, element), [str(exc)]))
        call = getattr(self.accounting, method)

        def fn(**kw):
            return call(self.tenant_id, path_id, model, idempotency_key=idempotency_key, **params, **kw)

        try:
            _headers, data = self._request(method, fn, kind=kind, sent=[element])
        except XeroError as err:
            if err.kind == VALIDATION:
                elements = err.details.get("elements") or []
                return Result(ref=ref, ok=False, error_kind=VALIDATION, message=err.message,
                              details={"element": elements[0] if elements else {}, "status": err.status,
                                       "error_code": err.code})
            raise
        returned = (data or {}).get(wrapper) or []
        return element_result(kind, element, returned[0] if returned else None, ref)

    # ============================================================ contacts

    def find_contacts_by_email(self, email, include_archived=True):
        """Contacts whose EmailAddress equals ``email`` ignoring case (archived ones too)."""
        email = (email or "").strip()
        if not email:
            return []
        found = []
        page = 1
        while True:
            data = self._get("find_contacts_by_email", "get_contacts", search_term=email,
                             include_archived=_query_bool(include_archived), page=page, what="Contact")
            contacts = data.get("Contacts") or []
            found.extend(c for c in contacts if str(c.get("EmailAddress") or "").strip().lower() == email.lower())
            if len(contacts) < 100 or page >= 10:
                break
            page += 1
        return found

    def find_contacts(self, where=None, search_term=None, include_archived=True, page=None):
        params = {"include_archived": _query_bool(include_archived)}
        if where:
            params["where"] = where
        if search_term:
            params["search_term"] = search_term
        if page:
            params["page"] = page
        return self._get("find_contacts", "get_contacts", what="Contact", **params).get("Contacts") or []

    def lookup_contacts(self, term_groups, max_query=WHERE_MAX_QUERY):
        """Contacts matching any of the ``where`` conditions of ``term_groups`` (one list of
        conditions per customer), archived ones included: the conditions are OR-ed into as few
        requests as fit Xero's query-string length (``max_query`` characters once URL-encoded;
        Xero answers longer ones with a 404), each read to its last page of 100."""
        clauses, current = [], []
        for terms in term_groups:
            for term in terms:
                candidate = current + [term]
                if current and len(quote(" OR ".join(candidate))) > max_query:
                    clauses.append(" OR ".join(current))
                    candidate = [term]
                current = candidate
        if current:
            clauses.append(" OR ".join(current))
        found = {}
        for clause in clauses:
            page = 1
            while True:
                batch = self.find_contacts(where=clause, include_archived=True, page=page)
                for contact in batch:
                    found.setdefault(str(contact.get("ContactID") or "").lower(), contact)
                if len(batch) < 100:
                    break
                page += 1
        return list(found.values())

    def get_contacts(self, ids):
        """Contacts by ContactID (chunks of 50), archived and merged ones included."""
        out = []
        for chunk in _chunks(i for i in ids if i):
            data = self._get("get_contacts", "get_contacts", i_ds=chunk, include_archived=_TRUE, what="Contact")
            out.extend(data.get("Contacts") or [])
        return out

    def get_contact(self, contact_id):
        data = self._get("get_contact", "get_contact", contact_id, what="Contact %s" % contact_id)
        contacts = data.get("Contacts") or []
        return contacts[0] if contacts else None

    def save_contacts(self, contacts, idempotency_key, refs=None):
        """Create or update contacts (POST /Contacts, summarizeErrors=false)."""
        return self._batch_write("contact", "update_or_create_contacts", contacts, idempotency_key, refs,
                                 summarize_errors=_FALSE)

    # ============================================================ invoices

    def create_invoices(self, invoices, idempotency_key, refs=None):
        """Create ACCREC invoices (PUT /Invoices, summarizeErrors=false, unitdp=4)."""
        return self._batch_write("invoice", "create_invoices", invoices, idempotency_key, refs,
                                 summarize_errors=_FALSE, unitdp=4)

    def save_invoices(self, invoices, idempotency_key, refs=None):
        """Create or update invoices (POST /Invoices, summarizeErrors=false, unitdp=4)."""
        return self._batch_write("invoice", "update_or_create_invoices", invoices, idempotency_key, refs,
                                 summarize_errors=_FALSE, unitdp=4)

    def update_invoice(self, invoice_id, invoice, idempotency_key, ref=""):
        """POST /Invoices/{id} with one invoice dict -> Result."""
        element = dict(invoice)
        element.setdefault("InvoiceID", invoice_id)
        return self._single_write("invoice", "update_invoice", invoice_id, element, idempotency_key, ref, unitdp=4)

    def void_invoice(self, invoice_id, idempotency_key, ref=""):
        return self.update_invoice(invoice_id, {"Status": "VOIDED"}, idempotency_key, ref)

    def delete_invoice(self, invoice_id, idempotency_key, ref=""):
        """Delete a DRAFT/SUBMITTED invoice (Status DELETED)."""
        return self.update_invoice(invoice_id, {"Status": "DELETED"}, idempotency_key, ref)

    def get_invoices(self, ids=(), numbers=()):
        """Invoices by InvoiceID and/or InvoiceNumber (chunks of 50), with lines, unitdp=4."""
        out = []
        for chunk in _chunks(i for i in ids if i):
            data = self._get("get_invoices", "get_invoices", i_ds=chunk, unitdp=4, page=1, what="Invoice")
            out.extend(data.get("Invoices") or [])
        for chunk in _chunks(n for n in numbers if n):
            data = self._get("get_invoices", "get_invoices", invoice_numbers=chunk, unitdp=4, page=1, what="Invoice")
            out.extend(data.get("Invoices") or [])
        return out

    def get_invoice(self, invoice_id):
        data = self._get("get_invoice", "get_invoice", invoice_id, unitdp=4, what="Invoice %s" % invoice_id)
        found = data.get("Invoices") or []
        return found[0] if found else None

    # ============================================================ payments

    def create_payments(self, payments, idempotency_key, refs=None):
        """Create payments on invoices, or cash refunds on credit notes (PUT /Payments)."""
        return self._batch_write("payment", "create_payments", payments, idempotency_key, refs,
                                 summarize_errors=_FALSE)

    def delete_payment(self, payment_id, idempotency_key, ref=""):
        """Reverse a payment: POST /Payments/{id} with Status DELETED -> Result."""
        _check_key(idempotency_key)
        body = to_model("PaymentDelete", {"Status": "DELETED"})

        def fn(**kw):
            return self.accounting.delete_payment(self.tenant_id, payment_id, body,
                                                  idempotency_key=idempotency_key, **kw)

        sent = {"PaymentID": payment_id}
        try:
            _headers, data = self._request("delete_payment", fn, kind="payment", sent=[sent],
                                           what="Payment %s" % payment_id)
        except XeroError as err:
            if err.kind == VALIDATION:
                elements = err.details.get("elements") or []
                return Result(ref=ref, ok=False, error_kind=VALIDATION, message=err.message,
                              details={"element": elements[0] if elements else {}, "error_code": err.code})
            raise
        returned = (data or {}).get("Payments") or []
        return element_result("payment", sent, returned[0] if returned else None, ref)

    def get_payment(self, payment_id):
        data = self._get("get_payment", "get_payment", payment_id, what="Payment %s" % payment_id)
        found = data.get("Payments") or []
        return found[0] if found else None

    def get_payments(self, where=None, page=None):
        params = {}
        if where:
            params["where"] = where
        if page:
            params["page"] = page
        return self._get("get_payments", "get_payments", what="Payment", **params).get("Payments") or []

    # ========================================================= credit notes

    def create_credit_notes(self, credit_notes, idempotency_key, refs=None):
        """Create ACCRECCREDIT credit notes (PUT /CreditNotes, summarizeErrors=false, unitdp=4)."""
        return self._batch_write("credit_note", "create_credit_notes", credit_notes, idempotency_key, refs,
                                 summarize_errors=_FALSE, unitdp=4)

    def save_credit_notes(self, credit_notes, idempotency_key, refs=None):
        """Create or update credit notes (POST /CreditNotes, summarizeErrors=false, unitdp=4)."""
        return self._batch_write("credit_note", "update_or_create_credit_notes", credit_notes, idempotency_key,
                                 refs, summarize_errors=_FALSE, unitdp=4)

    def update_credit_note(self, credit_note_id, credit_note, idempotency_key, ref=""):
        element = dict(credit_note)
        element.setdefault("CreditNoteID", credit_note_id)
        return self._single_write("credit_note", "update_credit_note", credit_note_id, element, idempotency_key,
                                  ref, unitdp=4)

    def void_credit_note(self, credit_note_id, idempotency_key, ref=""):
        return self.update_credit_note(credit_note_id, {"Status": "VOIDED"}, idempotency_key, ref)

    def delete_credit_note(self, credit_note_id, idempotency_key, ref=""):
        return self.update_credit_note(credit_note_id, {"Status": "DELETED"}, idempotency_key, ref)

    def allocate_credit_note(self, credit_note_id, allocations, idempotency_key, refs=None):
        """PUT /CreditNotes/{id}/Allocations: apply a credit note to invoices."""
        return self._batch_write("allocation", "create_credit_note_allocation", allocations, idempotency_key, refs,
                                 extra_args=(credit_note_id,), summarize_errors=_FALSE)

    def delete_credit_note_allocation(self, credit_note_id, allocation_id, ref=""):
        """DELETE /CreditNotes/{id}/Allocations/{AllocationID} -> Result."""
        return self._delete_allocation("delete_credit_note_allocation", "delete_credit_note_allocations",
                                       credit_note_id, allocation_id, ref)

    def _delete_allocation(self, op, method, parent_id, allocation_id, ref):
        """Remove one allocation of a credit (credit note, overpayment) -> Result."""
        call = getattr(self.accounting, method)

        def fn(**kw):
            return call(self.tenant_id, parent_id, allocation_id, **kw)

        _headers, data = self._request(op, fn, kind="allocation", what="Allocation %s" % allocation_id)
        element = data if isinstance(data, dict) else {}
        element = (element.get("Allocations") or [element])[0] if "Allocations" in element else element
        ok = bool(element.get("IsDeleted", True)) and not element_has_errors_soft(element)
        return Result(ref=ref, ok=ok, remote_id=allocation_id, remote_status="DELETED" if ok else "",
                      error_kind="" if ok else VALIDATION,
                      message="" if ok else sentence("Allocation %s" % allocation_id, element_messages(element)),
                      details={"element": element} if ok else {
                          "element": element, "error_code": element_code("allocation", element,
                                                                         element_messages(element))})

    # ========================================================= attachments

    _ATTACHMENT_CALLS = {
        # kind: (list, upload by file name, what)
        "invoice": ("get_invoice_attachments", "create_invoice_attachment_by_file_name", "Invoice"),
        "credit_note": ("get_credit_note_attachments", "create_credit_note_attachment_by_file_name", "Credit note"),
    }

    def get_attachments(self, kind, document_id):
        """GET /Invoices|CreditNotes/{id}/Attachments -> the document's attachments (dicts:
        AttachmentID, FileName, MimeType, ContentLength, IncludeOnline, Url)."""
        list_method, _upload, what = self._ATTACHMENT_CALLS[kind]
        data = self._get("get_attachments", list_method, document_id, what="%s %s" % (what, document_id))
        return data.get("Attachments") or []

    def upload_attachment(self, kind, document_id, file_name, content, idempotency_key, include_online=True,
                          ref="", label=""):
        """PUT /Invoices|CreditNotes/{id}/Attachments/{FileName} with the file's raw bytes
        (application/octet-stream, as the spec declares), ``IncludeOnline`` so the customer sees it
        on the online invoice -> Result (remote_id = AttachmentID). Xero's refusal of the file (too
        large, too many) is a failed Result; anything else raises XeroError."""
        _check_key(idempotency_key)
        _list, upload_method, what = self._ATTACHMENT_CALLS[kind]
        call = getattr(self.accounting, upload_method)
        sent = {"FileName": file_name, "Document": label or "%s %s" % (what.lower(), document_id),
                "ContentLength": len(content or b"")}

        def fn(**kw):
            return call(self.tenant_id, document_id, file_name, bytes(content or b""),
                        include_online=_query_bool(include_online), idempotency_key=idempotency_key, **kw)

        try:
            _headers, data = self._request("upload_attachment", fn, kind="attachment", sent=sent,
                                           what="%s %s" % (what, document_id))
        except XeroError as err:
            if err.kind == VALIDATION:
                return Result(ref=ref, ok=False, error_kind=VALIDATION, message=err.message,
                              details={"status": err.status, "error_code": err.code,
                                       "element": (err.details.get("elements") or [{}])[0]})
            raise
        returned = (data or {}).get("Attachments") or []
        got = returned[0] if returned else {}
        if not got.get("AttachmentID"):
            return Result(ref=ref, ok=False, error_kind=RETRYABLE,
                          message="Xero accepted the attachment without returning its ID.",
                          details={"error_code": NO_ID_RETURNED, "element": got})
        return Result(ref=ref, ok=True, remote_id=str(got["AttachmentID"]), remote_number=got.get("FileName") or "",
                      details={"element": got})

    def get_credit_notes(self, ids=(), numbers=()):
        """Credit notes by CreditNoteID and/or CreditNoteNumber (where filter, chunks of 50)."""
        out = []
        for chunk in _chunks(i for i in ids if i):
            where = " OR ".join('CreditNoteID==Guid("%s")' % _where_quote(i) for i in chunk)
            data = self._get("get_credit_notes", "get_credit_notes", where=where, unitdp=4, page=1,
                             what="Credit note")
            out.extend(data.get("CreditNotes") or [])
        for chunk in _chunks(n for n in numbers if n):
            where = " OR ".join('CreditNoteNumber=="%s"' % _where_quote(n) for n in chunk)
            data = self._get("get_credit_notes", "get_credit_notes", where=where, unitdp=4, page=1,
                             what="Credit note")
            out.extend(data.get("CreditNotes") or [])
        return out

    def get_credit_note(self, credit_note_id):
        data = self._get("get_credit_note", "get_credit_note", credit_note_id, unitdp=4,
                         what="Credit note %s" % credit_note_id)
        found = data.get("CreditNotes") or []
        return found[0] if found else None

    # ============================================ overpayments (customer credit)

    def create_bank_transactions(self, transactions, idempotency_key, refs=None):
        """PUT /BankTransactions (summarizeErrors=false): e.g. RECEIVE-OVERPAYMENT, which creates an
        Overpayment (the answer's ``OverpaymentID``)."""
        return self._batch_write("bank_transaction", "create_bank_transactions", transactions, idempotency_key,
                                 refs, summarize_errors=_FALSE)

    def delete_bank_transaction(self, bank_transaction_id, transaction, idempotency_key, ref=""):
        """POST /BankTransactions/{id} with Status DELETED (Xero voids an overpayment it created).
        ``transaction``: the transaction as sent (the spec requires Type, LineItems, BankAccount)."""
        element = dict(transaction, BankTransactionID=bank_transaction_id, Status="DELETED")
        return self._single_write("bank_transaction", "update_bank_transaction", bank_transaction_id, element,
                                  idempotency_key, ref)

    def get_bank_transactions(self, where=None, page=1):
        params = {"where": where} if where else {}
        return self._get("get_bank_transactions", "get_bank_transactions", page=page, what="Bank transaction",
                         **params).get("BankTransactions") or []

    def get_overpayments(self, ids=(), references=()):
        """Overpayments by OverpaymentID (where filter) and/or Reference (chunks of 50), with
        their allocations."""
        out = []
        for chunk in _chunks(i for i in ids if i):
            where = " OR ".join('OverpaymentID==Guid("%s")' % _where_quote(i) for i in chunk)
            data = self._get("get_overpayments", "get_overpayments", where=where, page=1, what="Overpayment")
            out.extend(data.get("Overpayments") or [])
        for chunk in _chunks(r for r in references if r):
            where = " OR ".join('Reference=="%s"' % _where_quote(r) for r in chunk)
            data = self._get("get_overpayments", "get_overpayments", where=where, page=1, what="Overpayment")
            out.extend(data.get("Overpayments") or [])
        return out

    def get_prepayments(self, ids=()):
        """Prepayments by PrepaymentID (where filter, chunks of 50), with their allocations."""
        out = []
        for chunk in _chunks(i for i in ids if i):
            where = " OR ".join('PrepaymentID==Guid("%s")' % _where_quote(i) for i in chunk)
            data = self._get("get_prepayments", "get_prepayments", where=where, page=1, what="Prepayment")
            out.extend(data.get("Prepayments") or [])
        return out

    def allocate_overpayment(self, overpayment_id, allocations, idempotency_key, refs=None):
        """PUT /Overpayments/{id}/Allocations: apply a customer's credit to invoices."""
        return self._batch_write("allocation", "create_overpayment_allocations", allocations, idempotency_key, refs,
                                 extra_args=(overpayment_id,), summarize_errors=_FALSE)

    def delete_overpayment_allocation(self, overpayment_id, allocation_id, ref=""):
        """DELETE /Overpayments/{id}/Allocations/{AllocationID} -> Result."""
        return self._delete_allocation("delete_overpayment_allocation", "delete_overpayment_allocations",
                                       overpayment_id, allocation_id, ref)

    # ======================================================= reference data

    def get_accounts(self, where=None):
        params = {"where": where} if where else {}
        return self._get("get_accounts", "get_accounts", what="Accounts", **params).get("Accounts") or []

    def get_items(self, where=None):
        params = {"where": where} if where else {}
        return self._get("get_items", "get_items", unitdp=4, what="Items", **params).get("Items") or []

    def get_tax_rates(self):
        return self._get("get_tax_rates", "get_tax_rates", what="Tax rates").get("TaxRates") or []

    def get_tracking_categories(self, include_archived=False):
        """Tracking categories, each with its ``Options``."""
        return self._get("get_tracking_categories", "get_tracking_categories", include_archived=_query_bool(include_archived),
                         what="Tracking categories").get("TrackingCategories") or []

    def get_organisation(self):
        found = self._get("get_organisation", "get_organisations", what="Organisation").get("Organisations") or []
        return found[0] if found else {}

    def get_currencies(self):
        return self._get("get_currencies", "get_currencies", what="Currencies").get("Currencies") or []

    # ========================================================== connections

    def list_connections(self):
        """GET /Connections: the organisations this authorisation reaches."""

        def fn(**kw):
            return self.identity.get_connections(**kw)

        _headers, data = self._request("list_connections", fn, tenant=False, what="Connections")
        return data if isinstance(data, list) else []

    def delete_connection(self, connection_id):
        """DELETE /Connections/{id} (the connection ``id``, not the tenantId)."""

        def fn(**kw):
            return self.identity.delete_connection(connection_id, **kw)

        self._request("delete_connection", fn, tenant=False, what="Connection %s" % connection_id)


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def element_has_errors_soft(element):
    return bool(element_messages(element)) or str(element.get("StatusAttributeString") or "").upper() == "ERROR"


def element_result(kind, sent, element, ref="", index=None):
    """One batch element's outcome as a Result; ok only with a real GUID."""
    _wrapper, _model, id_key, number_key, status_key = _KINDS[kind]
    if not isinstance(element, dict):
        return Result(
            ref=ref, ok=False, error_kind=RETRYABLE,
            message=sentence(element_label(kind, None, sent, index),
                             ["Xero's answer had no result for it; look it up before sending it again"]),
        )
    remote_id = element.get(id_key) or ""
    remote_number = str(element.get(number_key) or "") if number_key else ""
    remote_status = str(element.get(status_key) or "") if status_key else ""
    details = {"element": element}
    if element.get("Warnings"):
        details["warnings"] = [w.get("Message") for w in element["Warnings"] if isinstance(w, dict)]
    if kind == "contact" and element.get("MergedToContactID"):
        details["merged_to_contact_id"] = element["MergedToContactID"]
    if element_has_errors(element) and (element_messages(element) or not is_real_guid(remote_id)
                                        or str(element.get("StatusAttributeString") or "").upper() == "ERROR"):
        code = element_code(kind, element, element_messages(element))
        details["error_code"] = code
        return Result(
            ref=ref, ok=False, remote_id=remote_id if is_real_guid(remote_id) else "",
            remote_number=remote_number, remote_status=remote_status, error_kind=VALIDATION,
            message=with_advice(sentence(element_label(kind, element, sent, index), element_messages(element)), code),
            details=details,
        )
    if not is_real_guid(remote_id):
        details["error_code"] = NO_ID_RETURNED
        return Result(
            ref=ref, ok=False, remote_number=remote_number, remote_status=remote_status, error_kind=CONFLICT,
            message=sentence(element_label(kind, element, sent, index),
                             ["Xero's answer carried no %s; look it up before sending it again" % id_key]),
            details=details,
        )
    return Result(ref=ref, ok=True, remote_id=remote_id, remote_number=remote_number, remote_status=remote_status,
                  details=details)
