"""HTTP client for the QuickBooks Online Accounting API (v3), one company (realm) per client.

Plain ``requests`` with JSON dicts: python-quickbooks' ``QuickBooks`` client builds its URLs from a
fixed sandbox/production host (``api_url``) and refreshes tokens through its own AuthClient without
our TokenStore's lock, so it cannot be pointed at the emulator nor keep rotating refresh tokens safe.
The payload shapes follow its object models (services/qbo/payloads.py).

Every write carries ``?requestid=`` derived from the job's idempotency key and attempt: a retry after
a lost answer is the same request, and Intuit answers it again instead of applying it twice.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from decimal import Decimal
from urllib.parse import urlencode

import requests

from ..provider import (CONFLICT, INTERNAL, NOT_FOUND, REAUTH, RETRYABLE, VALIDATION, ProviderError)
from ..xero.errors import XeroError
from ..xero.ratelimit import RateLimiter
from . import oauth

_logger = logging.getLogger(__name__)

MINOR_VERSION = "75"
BATCH_MAX = 30
# Intuit documents "wait 60 seconds" after a 429 and sends no Retry-After
THROTTLE_WAIT = 60.0

# Fault codes → error kinds (Intuit, "Handling common errors")
FAULT_KINDS = {
    "610": NOT_FOUND, "5010": CONFLICT, "6140": CONFLICT, "6240": CONFLICT,
    "2500": VALIDATION, "2020": VALIDATION, "2010": VALIDATION, "6000": VALIDATION, "6070": VALIDATION,
    "6210": VALIDATION, "500": VALIDATION, "600": CONFLICT, "1040": INTERNAL,
}


def qbo_limiter(name=None, **kw) -> RateLimiter:
    """The shared call-budget limiter (services/xero/ratelimit.py) with Intuit's numbers per realm and
    app: 500 requests a minute, 10 in flight; no daily cap. Its "tenant" is the realm id. With
    ``name`` (say the API base URL), the process-wide limiter of that name, created on first use, so
    every client of one Odoo process spends one budget per QuickBooks API."""
    kw = dict(dict(minute_limit=500, concurrent_limit=10, day_limit=10 ** 9, app_minute_limit=10 ** 9), **kw)
    if name is not None:
        return RateLimiter.shared(name="qbo:" + name, **kw)
    return RateLimiter(**kw)


def qbo_batch_limiter(name=None, **kw) -> RateLimiter:
    """Intuit's own budget for batch requests: 40 a minute per realm and app, besides the realm's
    500 (a batch request spends one of those too). Shared like ``qbo_limiter``. Not paced: the
    batches of a backlog come a few seconds apart, and a spent minute only ends the run early."""
    kw = dict(dict(minute_limit=40, concurrent_limit=10, day_limit=10 ** 9, app_minute_limit=10 ** 9,
                   pace_from=None), **kw)
    if name is not None:
        return RateLimiter.shared(name="qbo-batch:" + name, **kw)
    return RateLimiter(**kw)


@dataclasses.dataclass
class QboConfig:
    client_id: str
    client_secret: str
    api_base: str = "https://quickbooks.api.intuit.com"
    discovery_url: str = "https://developer.api.intuit.com/.well-known/openid_configuration"
    timeout: float = 30.0
    retries: int = 2  # in-call retries of a 5xx / network failure
    backoff: float = 0.5
    minor_version: str = MINOR_VERSION
    refresh_margin: float = 60.0  # seconds before expiry an access token is refreshed

    @classmethod
    def for_emulator(cls, base_url, client_id, client_secret, **kw):
        base = base_url.rstrip("/")
        return cls(client_id, client_secret, api_base=base,
                   discovery_url=base + "/.well-known/openid_configuration/", **kw)


class QboFault(Exception):
    """One refused request: QBO's Fault, typed. Per document, so the provider turns it into a Result."""

    def __init__(self, kind, code, message, detail="", element="", status=400):
        super().__init__(message)
        self.kind, self.code, self.message = kind, code, message
        self.detail, self.element, self.status = detail, element, status

    def sentence(self):
        text = self.message
        if self.detail and self.detail != self.message:
            text += f": {self.detail}"
        return text + (f" (field {self.element})" if self.element else "") + f" [QBO {self.code}]"


def fault_of(body, status=400) -> QboFault:
    fault = (body or {}).get("Fault") or (body or {}).get("fault") or {}
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0]
    code = str(first.get("code") or status)
    return QboFault(FAULT_KINDS.get(code, VALIDATION), code, first.get("Message") or first.get("message") or "",
                    first.get("Detail") or first.get("detail") or "", first.get("element") or "", status)


def request_id(key, attempt, action="") -> str:
    """≤ 50 characters (Intuit's limit), stable for (job key, attempt, action)."""
    return hashlib.sha256(f"{key}|{attempt}|{action}".encode()).hexdigest()[:40]


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


class QboClient:
    def __init__(self, config: QboConfig, realm_id, token_store, limiter=None, session=None, batch_limiter=None):
        self.config = config
        self.realm_id = str(realm_id)
        self.token_store = token_store
        self.limiter = limiter  # optional: qbo_limiter(), shared by the clients of one process
        self.batch_limiter = batch_limiter  # optional: qbo_batch_limiter(), likewise
        # writes (any request but a GET) that left and may have been applied: a 429 was not, a
        # refusal by our limiter never left. The provider compares it before and after an item
        # to know whether that item can be in QuickBooks.
        self.writes_out = 0
        self.session = session or requests.Session()
        self.sleep = time.sleep

    # ------------------------------------------------------------------ transport
    def _url(self, path):
        return f"{self.config.api_base}/v3/company/{self.realm_id}/{path.lstrip('/')}"

    def _send(self, method, path, params=None, body=None, content_type="application/json", batch=False,
              writes=None):
        """``writes``: whether the request can change QuickBooks (default: any method but GET)."""
        writes = method != "GET" if writes is None else writes
        params = dict(params or {}, minorversion=self.config.minor_version)
        data = None
        if body is not None:
            data = body if isinstance(body, str) else json.dumps(body, default=_json_default)
        refreshed = False
        tokens = self.token_store.load()
        if tokens.expires_within(self.config.refresh_margin):
            # refreshed ahead of its expiry rather than spending a call on the 401
            tokens = oauth.refresh(self.config, self.token_store, stale=tokens)
            refreshed = True
        attempt = 0
        while True:
            headers = {"Authorization": "Bearer " + tokens.access_token, "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type
            try:
                with self._slot(batch):
                    if writes:
                        self.writes_out += 1
                    resp = self.session.request(method, self._url(path) + "?" + urlencode(params), data=data,
                                                headers=headers, timeout=self.config.timeout)
            except XeroError as exc:  # our own limiter: the budget would take longer than we may wait
                raise ProviderError(RETRYABLE, "The QuickBooks call budget of this company is spent for now.",
                                    retry_after=exc.retry_after, rate_limited=True, code="rate_limited") from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                # a write with a requestid is safe to repeat: Intuit answers the stored first answer
                if attempt < self.config.retries:
                    attempt += 1
                    self.sleep(self.config.backoff * attempt)
                    continue
                raise ProviderError(RETRYABLE, f"QuickBooks did not answer ({type(exc).__name__}).",
                                    code="network") from exc
            status = resp.status_code
            if status == 401:
                if refreshed:
                    raise ProviderError(REAUTH, "QuickBooks refused the new access token: connect again.",
                                        code="token_revoked")
                tokens = oauth.refresh(self.config, self.token_store, stale=tokens)
                refreshed = True
                continue
            if status == 403:
                raise ProviderError(REAUTH, f"This connection has no access to QuickBooks company {self.realm_id}.",
                                    code="forbidden")
            if status == 429:
                if writes:
                    self.writes_out -= 1  # Intuit throttled it: not applied
                after = resp.headers.get("Retry-After")
                if self.limiter is not None:  # nobody in this process calls the realm until then
                    self.limiter.block(self.realm_id, float(after) if after else THROTTLE_WAIT)
                raise ProviderError(RETRYABLE, "QuickBooks' call limit is spent for now (429 ThrottleExceeded).",
                                    retry_after=float(after) if after else THROTTLE_WAIT, rate_limited=True,
                                    code="rate_limited")
            if status >= 500:
                if attempt < self.config.retries:
                    attempt += 1
                    self.sleep(self.config.backoff * attempt)
                    continue
                raise ProviderError(RETRYABLE, f"QuickBooks failed (HTTP {status}).", code="server_error")
            try:
                answer = resp.json()
            except ValueError:
                answer = {}
            if status >= 400 or "Fault" in answer:
                raise fault_of(answer, status)
            return answer

    def _slot(self, batch=False):
        """The budgets one request spends: the realm's, and for a batch request the batch budget too
        (taken first, so that a batch refused for it holds none of the realm's calls)."""
        limiters = [lim for lim in ((self.batch_limiter if batch else None), self.limiter) if lim is not None]
        stack = contextlib.ExitStack()
        try:
            for limiter in limiters:
                stack.enter_context(limiter.slot(self.realm_id))
        except BaseException:
            stack.close()
            raise
        return stack

    # ------------------------------------------------------------------ calls
    def read(self, entity, remote_id):
        return self._send("GET", f"{entity.lower()}/{remote_id}")[entity]

    def create(self, entity, body, requestid=None):
        params = {"requestid": requestid} if requestid else None
        return self._send("POST", entity.lower(), params, body)[entity]

    def update(self, entity, body, requestid=None, sparse=True):
        """``body`` has ``Id`` and the current ``SyncToken``; sparse keeps what it does not send."""
        params = {"requestid": requestid} if requestid else None
        return self._send("POST", entity.lower(), params, dict(body, sparse=sparse))[entity]

    def _operation(self, entity, operation, remote_id, sync_token, requestid=None):
        params = {"operation": operation}
        if requestid:
            params["requestid"] = requestid
        answer = self._send("POST", entity.lower(), params, {"Id": remote_id, "SyncToken": sync_token})
        return answer.get(entity) or answer

    def void(self, entity, remote_id, sync_token, requestid=None):
        return self._operation(entity, "void", remote_id, sync_token, requestid)

    def delete(self, entity, remote_id, sync_token, requestid=None):
        return self._operation(entity, "delete", remote_id, sync_token, requestid)

    def query(self, text):
        """All rows of ``SELECT * FROM Entity ...`` (paged by 1000)."""
        entity = text.split(" FROM ", 1)[1].split()[0]
        rows, start = [], 1
        while True:
            answer = self._send("GET", "query", {"query": f"{text} STARTPOSITION {start} MAXRESULTS 1000"})
            page = (answer.get("QueryResponse") or {}).get(entity) or []
            rows.extend(page)
            if len(page) < 1000:
                return rows
            start += 1000

    def batch_budget_spent(self):
        """A batch request now would be refused by our batch budget: it would wait for Intuit's
        40 a minute longer than the limiter may wait (a shorter wait is slept in the limiter)."""
        limiter = self.batch_limiter
        return limiter is not None and limiter.wait_estimate(self.realm_id) > limiter.max_wait

    def batch(self, items, requestid=None):
        """``items``: [{"bId", "operation", Entity: body}] (≤ 30) → {bId: entity dict or QboFault}."""
        if len(items) > BATCH_MAX:
            raise ValueError(f"a QuickBooks batch holds at most {BATCH_MAX} items")
        params = {"requestid": requestid} if requestid else None
        answer = self._send("POST", "batch", params, {"BatchItemRequest": items}, batch=True,
                            writes=not all("Query" in item for item in items))
        out = {}
        for row in answer.get("BatchItemResponse") or []:
            if "Fault" in row:
                out[row["bId"]] = fault_of(row)
            else:
                out[row["bId"]] = next((v for k, v in row.items() if k != "bId"), None)
        return out

    def cdc(self, entities, changed_since):
        answer = self._send("GET", "cdc", {"entities": ",".join(entities), "changedSince": changed_since})
        out = {}
        for block in answer.get("CDCResponse") or []:
            for resp in block.get("QueryResponse") or []:
                for name, rows in resp.items():
                    if isinstance(rows, list):
                        out.setdefault(name, []).extend(rows)
        return out
