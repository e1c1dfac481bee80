"""The Emulator: routing, auth, rate limits, idempotency, faults, request log, control endpoints.

Transport-independent: ``Emulator.handle(Request) -> Response``; server.py adapts it to HTTP.
"""
from __future__ import annotations

import collections
import copy
import hashlib
import json
import math
import random
import threading
import time
import urllib.parse
import uuid

from . import oauth as oauth_mod
from . import seed
from .org import ElementError, Org, Txn, _MISSING
from .spec import get_spec, is_uuid
from .webhooks import WebhookSender, is_loopback_url
from .where import WhereError, compile_where
from .wire import ROUNDING, UTC, dumps, ms_date, parse_date, parse_datetime, problem, validation_exception

API_PREFIX = "/api.xro/2.0"
DATE_KEYS = {"Date", "DueDate", "ExpectedPaymentDate", "PlannedPaymentDate", "FullyPaidOnDate", "UpdatedDateUTC"}
DEFAULT_LIMITS = {"minute": 60, "day": 5000, "app_minute": 10000, "concurrent": 5}
FAULT_KINDS = ("status", "latency", "drop_after_write", "expire_tokens", "refresh_token_dead")
WRITE_METHODS = ("PUT", "POST", "DELETE")
_ATTACHMENTS_NO_NAME = __import__("re").compile(r"^/(Invoices|CreditNotes)/[^/]+/Attachments/?$", __import__("re").I)


class Request:
    __slots__ = ("method", "path", "query", "headers", "body", "raw_query")

    def __init__(self, method, path, raw_query, headers, body):
        self.method = method.upper()
        self.path = path
        self.raw_query = raw_query or ""
        self.query = {}
        for k, v in urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True):
            self.query[k] = v
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body or b""


class Response:
    __slots__ = ("status", "headers", "body", "drop")

    def __init__(self, status=200, body=b"", headers=None, content_type="application/json; charset=utf-8"):
        self.status = status
        if not isinstance(body, (bytes, bytearray)):
            body = dumps(body)
        self.body = bytes(body)
        self.headers = dict(headers or {})
        if content_type and "Content-Type" not in self.headers:
            self.headers["Content-Type"] = content_type
        self.drop = False


class Clock:
    """Emulator time: real time, optionally sped up (scale) and advanced."""

    def __init__(self, scale=1.0):
        self._lock = threading.Lock()
        self.reset(scale)

    def reset(self, scale=1.0):
        with self._lock:
            self._real0 = time.time()
            self._emu0 = self._real0
            self.scale = float(scale)

    def now(self):
        return self._emu0 + (time.time() - self._real0) * self.scale

    def set_scale(self, scale):
        if scale <= 0:
            raise ValueError("scale must be > 0")
        with self._lock:
            now = self.now()
            self._real0 = time.time()
            self._emu0 = now
            self.scale = float(scale)

    def advance(self, seconds):
        with self._lock:
            self._emu0 += float(seconds)

    def to_real(self, emu_seconds):
        return emu_seconds / self.scale


class RateLimiter:
    def __init__(self, clock):
        self.clock = clock
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.generation = getattr(self, "generation", 0) + 1
            self.limits = dict(DEFAULT_LIMITS)
            self.minute = collections.defaultdict(collections.deque)
            self.day = collections.defaultdict(collections.deque)
            self.app = collections.defaultdict(collections.deque)
            self.inflight = collections.defaultdict(int)

    @staticmethod
    def _trim(dq, now, window):
        while dq and dq[0] <= now - window:
            dq.popleft()

    def remaining(self, client_id, tenant):
        now = self.clock.now()
        with self.lock:
            key = (client_id, tenant)
            m, d, a = self.minute[key], self.day[key], self.app[client_id]
            self._trim(m, now, 60); self._trim(d, now, 86400); self._trim(a, now, 60)
            return self._headers(key, client_id, tenant)

    def _headers(self, key, client_id, tenant):
        h = {"X-AppMinLimit-Remaining": str(max(0, self.limits["app_minute"] - len(self.app[client_id])))}
        if tenant:
            h["X-DayLimit-Remaining"] = str(max(0, self.limits["day"] - len(self.day[key])))
            h["X-MinLimit-Remaining"] = str(max(0, self.limits["minute"] - len(self.minute[key])))
        return h

    def admit(self, client_id, tenant):
        """Returns (problem or None, retry_after_emu_seconds, headers)."""
        now = self.clock.now()
        with self.lock:
            key = (client_id, tenant)
            m, d, a = self.minute[key], self.day[key], self.app[client_id]
            self._trim(m, now, 60); self._trim(d, now, 86400); self._trim(a, now, 60)
            L = self.limits
            if tenant and self.inflight[key] >= L["concurrent"]:
                return "concurrent", 1.0, self._headers(key, client_id, tenant)
            if tenant and len(d) >= L["day"]:
                return "day", d[0] + 86400 - now, self._headers(key, client_id, tenant)
            if tenant and len(m) >= L["minute"]:
                return "minute", m[0] + 60 - now, self._headers(key, client_id, tenant)
            if len(a) >= L["app_minute"]:
                return "appminute", a[0] + 60 - now, self._headers(key, client_id, tenant)
            a.append(now)
            if tenant:
                m.append(now); d.append(now)
                self.inflight[key] += 1
            return None, 0, self._headers(key, client_id, tenant)

    def release(self, client_id, tenant, generation=None):
        if tenant:
            with self.lock:
                if generation is not None and generation != self.generation:
                    return  # admitted before a reset: its slot is already gone
                self.inflight[(client_id, tenant)] = max(0, self.inflight[(client_id, tenant)] - 1)


class Emulator:
    def __init__(self, time_scale=1.0, tax_rounding="half_up", spec_dir=None, webhook_url=None, webhook_key=None):
        self.spec = get_spec(spec_dir)
        self.clock = Clock(time_scale)
        self._initial_scale = time_scale
        self.limiter = RateLimiter(self.clock)
        self.webhooks = WebhookSender()
        self._initial_webhook = (webhook_url, webhook_key)
        self.tax_rounding = self._initial_rounding = tax_rounding
        self.base_url = ""
        self.lock = threading.RLock()
        self.identity = oauth_mod.Identity(self.clock, {})
        self.reset()

    # ------------------------------------------------------------------------------ state
    def reset(self):
        with self.lock:
            self.clock.reset(self._initial_scale)
            self.tax_rounding = self._initial_rounding
            self.limiter.reset()
            self.orgs = {t: Org(t, self.clock, rounding=lambda: ROUNDING[self.tax_rounding]) for t in seed.SEEDED_TENANTS}
            self.org_locks = {t: threading.RLock() for t in self.orgs}
            self.identity.org_names.clear()
            self.identity.org_names.update({t: o.name for t, o in self.orgs.items()})
            self.identity.reset()
            self.faults = []
            self._fault_rngs = {}
            self._fault_seq = 0
            self.auto_consent = None  # test-only: answer the next authorize pages without a person
            self.log_generation = getattr(self, "log_generation", 0) + 1
            self.log = collections.deque(maxlen=100000)
            self.counts = collections.Counter()
            self.webhooks.reset()
            if self._initial_webhook[0]:
                self.webhooks.configure(*self._initial_webhook)

    def _log(self, req, route, status, tenant, generation, arrived):
        if route is None:
            return
        with self.lock:
            if generation != self.log_generation:
                return  # started before a reset / log clear: keep the new log clean
            self.log.append({"method": req.method, "path": req.path, "route": route, "status": status,
                             "tenant": tenant, "ts": time.time(), "arrived": arrived})
            self.counts[route] += 1

    # ------------------------------------------------------------------------------ entry
    def handle(self, req: Request) -> Response:
        # "arrived" is when the request reached the emulator (when its rate limit counts it);
        # "ts" is when the answer was ready (when the change became visible)
        arrived = time.time()
        path = req.path
        generation = self.log_generation
        route = None
        tenant = None
        resp = None
        try:
            if path.startswith("/__emulator__/"):
                return self._control(req)
            if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
                route, tenant, resp = self._accounting(req)
            elif path.rstrip("/").lower() == "/connections" or path.lower().startswith("/connections/"):
                parts = [p for p in path.split("/") if p]
                route = f"{req.method} /Connections" if len(parts) == 1 else f"{req.method} /Connections/{{id}}"
                resp = self._identity_call(req, route, self._connections)
            elif path == "/identity/connect/authorize":
                route = f"{req.method} /identity/connect/authorize"
                resp = self._identity_call(req, route, self._authorize)
            elif path == "/connect/token":
                route = "POST /connect/token"
                resp = self._identity_call(req, route, self._token)
            elif path == "/connect/revocation":
                route = "POST /connect/revocation"
                resp = self._identity_call(req, route, self._revocation)
            else:
                resp = Response(404, problem(404, "Not Found", "The resource you're looking for cannot be found"))
        except Exception as exc:  # noqa: BLE001 - an emulator bug must be visible, never a hang
            import traceback
            traceback.print_exc()
            resp = Response(500, {"Type": None, "Title": "An error occurred", "Status": 500,
                                  "Detail": f"emulator error: {type(exc).__name__}: {exc}"})
        self._log(req, route, resp.status, tenant, generation, arrived)
        resp.headers.setdefault("Xero-Correlation-Id", str(uuid.uuid4()))
        return resp

    # ------------------------------------------------------------------------------ faults
    def _take_fault(self, route, kinds, tenant=None):
        """The first armed fault of one of ``kinds`` matching ``route`` (and the organisation,
        for a fault armed for one ``tenant``) that fires on this call.

        A fault with a ``probability`` fires on that fraction of the calls it matches (its own RNG
        when it was given a ``seed``); ``count`` only goes down when it fires."""
        with self.lock:
            for f in self.faults:
                if f["kind"] in kinds and f["route"] in (route, "*") and f["remaining"] != 0 \
                        and f.get("tenant") in (None, tenant):
                    p = f.get("probability")
                    if p is not None and p < 1:
                        if self._fault_rngs.get(f["id"], random).random() >= p:
                            f["misses"] += 1
                            continue
                    if f["remaining"] > 0:
                        f["remaining"] -= 1
                    f["hits"] += 1
                    return dict(f)
        return None

    def _fault_seconds(self, fault):
        lo, hi = fault.get("seconds_min"), fault.get("seconds_max")
        if lo is not None or hi is not None:
            lo = float(lo if lo is not None else 0)
            hi = float(hi if hi is not None else lo)
            with self.lock:
                return self._fault_rngs.get(fault["id"], random).uniform(lo, hi)
        return float(fault.get("seconds") or 0)

    def _pre_faults(self, route, identity=False):
        """Faults that act before a call is served: token expiry, dead refresh tokens, latency,
        an injected status. Returns the injected Response, or None."""
        if self._take_fault(route, ("expire_tokens",)):
            self.identity.expire_all_access_tokens()
        if self._take_fault(route, ("refresh_token_dead",)):
            self.identity.kill_refresh_tokens()
        fault = self._take_fault(route, ("latency",))
        if fault:
            time.sleep(self._fault_seconds(fault))
        fault = self._take_fault(route, ("status",))
        if fault:
            return self._fault_response(fault, identity)
        return None

    @staticmethod
    def _fault_response(fault, identity):
        status = int(fault.get("status") or 500)
        if status == 429:
            # as Xero's rate limiter answers: Retry-After in seconds, which limit was hit
            return Response(429, problem(429, "Too Many Requests", "Rate limit exceeded: minute"),
                            {"Retry-After": str(int(fault.get("retry_after") or 1)),
                             "X-Rate-Limit-Problem": "minute"})
        if status == 503:
            return Response(503, b"The Xero API is currently offline for maintenance", content_type="text/plain")
        if identity:  # the identity server answers errors the OAuth way
            return Response(status, {"error": "server_error", "error_description": "injected fault"},
                            {"Cache-Control": "no-store"})
        return Response(status, {"Type": None, "Title": "An error occurred", "Status": status,
                                 "Detail": "An error occurred in Xero. (injected fault)"})

    def _identity_call(self, req, route, handler):
        """The identity routes (/connect/token, /connect/revocation, /Connections, the authorize
        page) under the same faults as the accounting API."""
        resp = self._pre_faults(route, identity=True)
        if resp is not None:
            return resp
        resp = handler(req)
        if isinstance(resp, tuple):  # _connections answers (route, response)
            resp = resp[1]
        if req.method in WRITE_METHODS and self._take_fault(route, ("drop_after_write",)):
            resp.drop = True
        return resp

    # ------------------------------------------------------------------------------ accounting
    def _accounting(self, req):
        sub = req.path[len(API_PREFIX):] or "/"
        op, groups = self.spec.find_operation(req.method, sub)
        if op is None and req.method in ("PUT", "POST") and _ATTACHMENTS_NO_NAME.match(sub):
            # Xero's rule, said before anything else: an attachment is uploaded by file name
            return None, None, Response(400, validation_exception([{"ValidationErrors": [{
                "Message": "A file name is required: upload to .../Attachments/{FileName}."}]}]))
        if op is None:
            status = 405 if groups else 404
            return None, None, Response(status, problem(status, "Not Found" if status == 404 else "Method Not Allowed",
                                                         "The resource you're looking for cannot be found"))
        if op.operation_id == "getContactByContactNumber" and is_uuid(groups[0]):
            op2, groups2 = self.spec.find_operation("GET", "/Contacts/{ContactID}".replace("{ContactID}", groups[0]))
            for o in self.spec.operations:
                if o.operation_id == "getContact":
                    op = o
                    break
        if op.operation_id in ("getInvoiceAttachmentById", "getCreditNoteAttachmentById") \
                and not is_uuid(urllib.parse.unquote(groups[1])):
            # /Attachments/{AttachmentID} and /Attachments/{FileName} are the same template: a
            # segment that is no GUID is a file name
            by_name = op.operation_id.replace("ById", "ByFileName")
            op = next(o for o in self.spec.operations if o.operation_id == by_name)
        route = f"{op.method} {op.template}"
        tenant = (req.headers.get("xero-tenant-id") or "").strip().lower() or None
        if self._take_fault(route, ("expire_tokens",)):
            self.identity.expire_all_access_tokens()
        if self._take_fault(route, ("refresh_token_dead",)):
            self.identity.kill_refresh_tokens()
        grant, err = self.identity.check_bearer(req.headers.get("authorization"))
        if err:
            status, detail = err
            return route, tenant, Response(status, problem(status, "Unauthorized", detail))
        if not tenant or tenant not in self.orgs or not self.identity.tenant_allowed(grant, tenant):
            return route, tenant, Response(403, problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        scopes = set(grant["scopes"])
        if not oauth_mod.scope_allows(scopes, op.scopes, sub, req.method):
            return route, tenant, Response(403, problem(403, "Forbidden", "AuthorizationUnsuccessful"))
        client_id = grant["client_id"]
        generation = self.limiter.generation
        problem_kind, retry_emu, rl_headers = self.limiter.admit(client_id, tenant)
        if problem_kind:
            retry_real = max(1, math.ceil(self.clock.to_real(max(retry_emu, 0))))
            h = dict(rl_headers)
            h["Retry-After"] = str(retry_real)
            h["X-Rate-Limit-Problem"] = problem_kind
            return route, tenant, Response(429, problem(429, "Too Many Requests", f"Rate limit exceeded: {problem_kind}"), h)
        try:
            resp = self._accounting_admitted(req, op, groups, route, tenant, grant)
        finally:
            self.limiter.release(client_id, tenant, generation)
        resp.headers.update(self.limiter.remaining(client_id, tenant))
        return route, tenant, resp

    def _accounting_admitted(self, req, op, groups, route, tenant, grant):
        fault = self._take_fault(route, ("latency",), tenant)
        if fault:
            time.sleep(self._fault_seconds(fault))
        fault = self._take_fault(route, ("status",), tenant)
        if fault:
            return self._fault_response(fault, identity=False)
        # ---- parameters
        errors = []
        params = {}
        path_values = list(groups)
        path_names = [p["name"] for p in op.params if p.get("in") == "path"]
        import re as _re
        names_in_template = _re.findall(r"\{([^}]+)\}", op.template)
        for name, raw in zip(names_in_template, path_values):
            raw = urllib.parse.unquote(raw)
            pdef = next((p for p in op.params if p.get("in") == "path" and p["name"] == name), {"name": name, "schema": {}})
            value, e = self.spec.check_param(pdef, raw)
            if e:
                errors.append(e)
            params[name] = value
        for p in op.params:
            where = p.get("in")
            if where == "query" and p["name"] in req.query:
                value, e = self.spec.check_param(p, req.query[p["name"]])
                if e:
                    errors.append(e)
                params[p["name"]] = value
            elif where == "header" and p["name"].lower() in req.headers and p["name"].lower() != "xero-tenant-id":
                value, e = self.spec.check_param(p, req.headers[p["name"].lower()])
                if e:
                    errors.append(e)
                params[p["name"]] = value
        del path_names
        idem = req.headers.get("idempotency-key")
        if idem is not None and len(idem) > 128:
            errors.append("Idempotency-Key: must be 128 characters or fewer")
        body = None
        if op.body_schema is not None:
            if not req.body:
                errors.append("A request body is required")
            else:
                try:
                    body = json.loads(req.body)
                except ValueError:
                    return Response(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                          "Message": "JSON for post data was invalid, could not deserialize."})
                errors.extend(self._validate_body(op, body))
        elif op.body_binary:
            # application/octet-stream (attachments): the raw bytes are the body; an empty one is
            # judged by the operation (Xero's message says what is missing)
            body = req.body
        if errors:
            return Response(400, validation_exception([{"ValidationErrors": [{"Message": m} for m in errors]}]))
        org = self.orgs[tenant]
        with self.org_locks[tenant]:
            fingerprint = None
            if idem is not None and req.method in ("PUT", "POST"):
                fingerprint = hashlib.sha256(
                    (req.method + " " + req.path + "?" + req.raw_query).encode() + b"\n"
                    + (hashlib.sha256(body).digest() if isinstance(body, bytes)
                       else dumps(body) if body is not None else b"")).hexdigest()
                stored = org.idempotency.get(idem)
                if stored is not None:
                    fp, status, rbody, ctype = stored
                    if fp != fingerprint:
                        return Response(400, validation_exception([{"ValidationErrors": [{
                            "Message": "Idempotency-Key has already been used for a different request"}]}]))
                    r = Response(status, rbody, {"Content-Type": ctype})
                    r.headers["Idempotency-Replayed"] = "true"
                    # a replayed answer can be lost on its way too
                    if self._take_fault(route, ("drop_after_write",)):
                        r.drop = True
                    return r
            txn = Txn()
            handler = getattr(self, "op_" + op.operation_id, None)
            if handler is None:
                return Response(501, problem(501, "Not Implemented",
                                             f"{op.operation_id} is not implemented by the emulator"))
            resp = handler(org, params, body, txn, req, grant)
            if fingerprint is not None:
                org.idempotency[idem] = (fingerprint, resp.status, resp.body, resp.headers.get("Content-Type"))
        if txn.events:
            docs = {rid: {"Type": org.credit_notes[rid]["Type"], "Status": org.credit_notes[rid]["Status"]}
                    for cat, rid, _ in txn.events if cat == "CREDITNOTE" and rid in org.credit_notes}
            self.webhooks.emit(tenant, txn.events, docs)
        if req.method in WRITE_METHODS and self._take_fault(route, ("drop_after_write",)):
            resp.drop = True
        return resp

    def _validate_body(self, op, body):
        oid = op.operation_id
        if oid == "deletePayment" and isinstance(body, dict) and "Payments" in body:
            v = self.spec.validator_for({"type": "object", "properties": {"Payments": {
                "type": "array", "items": {"$ref": "#/components/schemas/PaymentDelete"}}}})
            return v(body)
        if oid == "createPayment" and isinstance(body, dict) and "Payments" in body:
            return self.spec.validator_for("Payments")(body)
        ref = op.body_schema.get("$ref")
        v = self._validators.get(ref) if hasattr(self, "_validators") else None
        if v is None:
            self._validators = getattr(self, "_validators", {})
            v = self._validators[ref] = self.spec.validator_for(op.body_schema)
        return v(body)

    # ------------------------------------------------------------------------------ helpers
    def _envelope(self, grant, key, items, extra=None):
        out = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": grant["client_id"],
               "DateTimeUTC": ms_date(self._now_dt())}
        if extra:
            out.update(extra)
        out[key] = items
        return out

    def _now_dt(self):
        import datetime as dt
        return dt.datetime.fromtimestamp(self.clock.now(), tz=UTC)

    @staticmethod
    def _echo(element, messages, flag):
        out = copy.deepcopy(element) if isinstance(element, dict) else {}
        _normalise_dates(out)
        out[flag] = True
        out["StatusAttributeString"] = "ERROR"
        out["ValidationErrors"] = [{"Message": m} for m in messages]
        return out

    def _batch(self, org, txn, grant, key, elements, fn, render, summarize, flag):
        results = []
        failed = False
        for el in elements:
            mark = txn.mark()
            try:
                obj = fn(el)
                results.append((True, obj))
            except ElementError as exc:
                txn.rollback_to(mark)
                results.append((False, self._echo(el, exc.messages, flag)))
                failed = True
        if failed and summarize:
            txn.rollback()
            return Response(400, validation_exception([r for ok, r in results if not ok]))
        items = []
        for ok, r in results:
            if ok:
                rendered = render(r)
                rendered["StatusAttributeString"] = "OK"
                items.append(rendered)
            else:
                items.append(r)
        return Response(200, self._envelope(grant, key, items))

    @staticmethod
    def _summarize(params):
        # Xero's behaviour when the parameter is absent is "summarise" (400 for the whole batch)
        return params.get("summarizeErrors", True) is not False

    def _list(self, items, params, req, render, default_order=None, paged=True):
        """items: raw objects with _updated. Applies If-Modified-Since, render, where, order, page."""
        since = parse_datetime(req.headers.get("if-modified-since", "")) if req.headers.get("if-modified-since") else None
        if since is not None:
            items = [i for i in items if i.get("_updated") is None or i["_updated"] > since]
        rendered = [render(i) for i in items]
        where = params.get("where")
        if where:
            try:
                pred = compile_where(where)
            except WhereError as exc:
                raise _QueryError(str(exc))
            rendered = [r for r in rendered if pred(r)]
        order = params.get("order") or default_order
        if order:
            for part in reversed([p.strip() for p in order.split(",") if p.strip()]):
                bits = part.split()
                field = bits[0]
                desc = len(bits) > 1 and bits[1].upper() == "DESC"
                rendered.sort(key=lambda r: _sort_key(r, field), reverse=desc)
        pagination = None
        if paged and params.get("page") is not None:
            page = max(1, int(params["page"]))
            size = int(params.get("pageSize") or 100)
            size = max(1, min(size, 1000))
            count = len(rendered)
            pagination = {"page": page, "pageSize": size, "pageCount": max(1, math.ceil(count / size)), "itemCount": count}
            rendered = rendered[(page - 1) * size: page * size]
        return rendered, pagination

    # ============================================================================ contacts
    def op_getContacts(self, org, params, body, txn, req, grant):
        items = list(org.contacts.values())
        if params.get("IDs"):
            ids = {i.strip().lower() for i in params["IDs"]}
            items = [c for c in items if c["ContactID"] in ids]
        if not params.get("includeArchived"):
            items = [c for c in items if c.get("ContactStatus", "ACTIVE") != "ARCHIVED"]
        term = params.get("searchTerm")
        if term:
            t = term.casefold()
            items = [c for c in items if any(t in (c.get(k) or "").casefold()
                                             for k in ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress"))]
        summary = bool(params.get("summaryOnly"))
        try:
            rendered, pagination = self._list(items, params, req, lambda c: org.render_contact(c, summary=summary),
                                              default_order="Name ASC")
        except _QueryError as exc:
            return _query_error(exc)
        extra = {"pagination": pagination} if pagination else None
        return Response(200, self._envelope(grant, "Contacts", rendered, extra))

    def op_getContact(self, org, params, body, txn, req, grant):
        c = org.contacts.get(params["ContactID"].lower())
        if c is None:
            return _not_found()
        return Response(200, self._envelope(grant, "Contacts", [org.render_contact(c)]))

    def op_getContactByContactNumber(self, org, params, body, txn, req, grant):
        num = params["ContactNumber"]
        c = next((x for x in org.contacts.values() if x.get("ContactNumber") == num), None)
        if c is None:
            return _not_found()
        return Response(200, self._envelope(grant, "Contacts", [org.render_contact(c)]))

    def op_createContacts(self, org, params, body, txn, req, grant):
        return self._batch(org, txn, grant, "Contacts", body.get("Contacts") or [],
                           lambda el: org.save_contact(el, txn, create_only=True), org.render_contact,
                           self._summarize(params), "HasValidationErrors")

    def op_updateOrCreateContacts(self, org, params, body, txn, req, grant):
        return self._batch(org, txn, grant, "Contacts", body.get("Contacts") or [],
                           lambda el: org.save_contact(el, txn, existing=org.find_contact_for_upsert(el)),
                           org.render_contact, self._summarize(params), "HasValidationErrors")

    def op_updateContact(self, org, params, body, txn, req, grant):
        cid = params["ContactID"].lower()
        elements = body.get("Contacts") or []
        if len(elements) != 1:
            return _single_element_error("Contacts")

        def fn(el):
            if el.get("ContactID") and el["ContactID"].lower() != cid:
                raise ElementError(["The ContactID in the body does not match the URL."])
            return org.save_contact(el, txn, existing=org.contacts.get(cid, _MISSING))
        return self._batch(org, txn, grant, "Contacts", elements, fn, org.render_contact, True, "HasValidationErrors")

    # ============================================================================ documents
    def _get_docs(self, org, kind, params, req, grant):
        store = org.invoices if kind == "INV" else org.credit_notes
        idk, numk, key = ("InvoiceID", "InvoiceNumber", "Invoices") if kind == "INV" else \
            ("CreditNoteID", "CreditNoteNumber", "CreditNotes")
        items = list(store.values())
        if params.get("IDs"):
            ids = {i.strip().lower() for i in params["IDs"]}
            items = [d for d in items if d[idk] in ids]
        if params.get("InvoiceNumbers"):
            nums = {n.strip().casefold() for n in params["InvoiceNumbers"]}
            items = [d for d in items if d[numk].casefold() in nums]
        if params.get("ContactIDs"):
            cids = {i.strip().lower() for i in params["ContactIDs"]}
            items = [d for d in items if d["ContactID"] in cids]
        if params.get("Statuses"):
            sts = {s.strip().upper() for s in params["Statuses"]}
            items = [d for d in items if d["Status"] in sts]
        term = params.get("searchTerm")
        if term:
            t = term.casefold()
            items = [d for d in items if t in d[numk].casefold() or t in (d.get("Reference") or "").casefold()]
        with_lines = params.get("page") is not None
        unitdp = params.get("unitdp")
        try:
            rendered, pagination = self._list(items, params, req,
                                              lambda d: org.render_document(kind, d, lines=with_lines, unitdp=unitdp),
                                              default_order="UpdatedDateUTC ASC")
        except _QueryError as exc:
            return _query_error(exc)
        extra = {"pagination": pagination} if pagination else None
        return Response(200, self._envelope(grant, key, rendered, extra))

    def op_getInvoices(self, org, params, body, txn, req, grant):
        return self._get_docs(org, "INV", params, req, grant)

    def op_getCreditNotes(self, org, params, body, txn, req, grant):
        return self._get_docs(org, "CN", params, req, grant)

    def op_getInvoice(self, org, params, body, txn, req, grant):
        d = org.invoices.get(params["InvoiceID"].lower())
        if d is None:
            return _not_found()
        return Response(200, self._envelope(grant, "Invoices", [org.render_document("INV", d, unitdp=params.get("unitdp"))]))

    def op_getCreditNote(self, org, params, body, txn, req, grant):
        d = org.credit_notes.get(params["CreditNoteID"].lower())
        if d is None:
            return _not_found()
        return Response(200, self._envelope(grant, "CreditNotes", [org.render_document("CN", d, unitdp=params.get("unitdp"))]))

    def _save_docs(self, org, kind, params, body, txn, grant, mode, path_id=None):
        key = "Invoices" if kind == "INV" else "CreditNotes"
        idk = "InvoiceID" if kind == "INV" else "CreditNoteID"
        unitdp = params.get("unitdp")
        elements = body.get(key) or []
        if mode == "one" and len(elements) != 1:
            return _single_element_error(key)

        def fn(el):
            if mode == "create":
                return org.save_document(kind, el, txn, create_only=True, unitdp=unitdp)
            if mode == "one":
                if el.get(idk) and el[idk].lower() != path_id:
                    raise ElementError([f"The {idk} in the body does not match the URL."])
                store = org.invoices if kind == "INV" else org.credit_notes
                return org.save_document(kind, el, txn, existing=store.get(path_id, _MISSING), unitdp=unitdp)
            return org.save_document(kind, el, txn, existing=org.find_document(kind, el), unitdp=unitdp)

        summarize = True if mode == "one" else self._summarize(params)
        return self._batch(org, txn, grant, key, elements, fn,
                           lambda d: org.render_document(kind, d, unitdp=unitdp), summarize, "HasErrors")

    def op_createInvoices(self, org, params, body, txn, req, grant):
        return self._save_docs(org, "INV", params, body, txn, grant, "create")

    def op_updateOrCreateInvoices(self, org, params, body, txn, req, grant):
        return self._save_docs(org, "INV", params, body, txn, grant, "upsert")

    def op_updateInvoice(self, org, params, body, txn, req, grant):
        return self._save_docs(org, "INV", params, body, txn, grant, "one", params["InvoiceID"].lower())

    def op_createCreditNotes(self, org, params, body, txn, req, grant):
        return self._save_docs(org, "CN", params, body, txn, grant, "create")

    def op_updateOrCreateCreditNotes(self, org, params, body, txn, req, grant):
        return self._save_docs(org, "CN", params, body, txn, grant, "upsert")

    def op_updateCreditNote(self, org, params, body, txn, req, grant):
        return self._save_docs(org, "CN", params, body, txn, grant, "one", params["CreditNoteID"].lower())

    def op_createCreditNoteAllocation(self, org, params, body, txn, req, grant):
        cnid = params["CreditNoteID"].lower()
        if cnid not in org.credit_notes:
            return _not_found()
        return self._batch(org, txn, grant, "Allocations", body.get("Allocations") or [],
                           lambda el: org.create_allocation(cnid, el, txn), org.render_allocation,
                           self._summarize(params), "HasValidationErrors")

    def op_deleteCreditNoteAllocations(self, org, params, body, txn, req, grant):
        try:
            a = org.delete_allocation(params["CreditNoteID"], params["AllocationID"], txn)
        except ElementError as exc:
            txn.rollback()
            if "could not be found" in exc.messages[0]:
                return _not_found()
            return Response(400, validation_exception([{"ValidationErrors": [{"Message": m} for m in exc.messages]}]))
        return Response(200, org.render_allocation(a))

    # ============================================================================ payments
    # -- attachments (invoices and credit notes) ------------------------------------------------
    def _attachment_doc(self, org, kind, params):
        return org.document(kind, params["InvoiceID" if kind == "INV" else "CreditNoteID"])

    def _base_url(self, req):
        host = req.headers.get("host")
        return f"http://{host}" if host else ""

    def _put_attachment(self, org, kind, params, body, txn, req, grant, replace):
        doc = self._attachment_doc(org, kind, params)
        if doc is None:
            return _not_found()
        import mimetypes
        name = params.get("FileName") or ""
        mime = mimetypes.guess_type(name.strip())[0] or (req.headers.get("content-type") or "").split(";")[0].strip()
        include_online = params.get("IncludeOnline") is True
        try:
            att = org.save_attachment(kind, doc[("InvoiceID" if kind == "INV" else "CreditNoteID")], name,
                                      body if isinstance(body, bytes) else b"", mime, include_online, txn,
                                      replace=replace)
        except ElementError as exc:
            return Response(400, validation_exception([{"ValidationErrors": [{"Message": m} for m in exc.messages]}]))
        doc_id = doc["InvoiceID" if kind == "INV" else "CreditNoteID"]
        return Response(200, self._envelope(grant, "Attachments", [
            org.render_attachment(kind, doc_id, att, self._base_url(req))]))

    def _list_attachments(self, org, kind, params, req, grant):
        doc = self._attachment_doc(org, kind, params)
        if doc is None:
            return _not_found()
        doc_id = doc["InvoiceID" if kind == "INV" else "CreditNoteID"]
        return Response(200, self._envelope(grant, "Attachments", [
            org.render_attachment(kind, doc_id, a, self._base_url(req)) for a in org.attachments_of(doc_id)]))

    def _attachment_content(self, org, kind, params, key):
        doc = self._attachment_doc(org, kind, params)
        if doc is None:
            return _not_found()
        wanted = params.get(key) or ""
        found = [a for a in org.attachments_of(doc["InvoiceID" if kind == "INV" else "CreditNoteID"])
                 if (a["AttachmentID"] == wanted.lower() if key == "AttachmentID" else a["FileName"] == wanted)]
        if not found:
            return _not_found()
        att = found[-1]
        return Response(200, att["_content"], content_type=att["MimeType"])

    def op_createInvoiceAttachmentByFileName(self, org, params, body, txn, req, grant):
        return self._put_attachment(org, "INV", params, body, txn, req, grant, replace=False)

    def op_updateInvoiceAttachmentByFileName(self, org, params, body, txn, req, grant):
        return self._put_attachment(org, "INV", params, body, txn, req, grant, replace=True)

    def op_getInvoiceAttachments(self, org, params, body, txn, req, grant):
        return self._list_attachments(org, "INV", params, req, grant)

    def op_getInvoiceAttachmentByFileName(self, org, params, body, txn, req, grant):
        return self._attachment_content(org, "INV", params, "FileName")

    def op_getInvoiceAttachmentById(self, org, params, body, txn, req, grant):
        return self._attachment_content(org, "INV", params, "AttachmentID")

    def op_createCreditNoteAttachmentByFileName(self, org, params, body, txn, req, grant):
        return self._put_attachment(org, "CN", params, body, txn, req, grant, replace=False)

    def op_updateCreditNoteAttachmentByFileName(self, org, params, body, txn, req, grant):
        return self._put_attachment(org, "CN", params, body, txn, req, grant, replace=True)

    def op_getCreditNoteAttachments(self, org, params, body, txn, req, grant):
        return self._list_attachments(org, "CN", params, req, grant)

    def op_getCreditNoteAttachmentByFileName(self, org, params, body, txn, req, grant):
        return self._attachment_content(org, "CN", params, "FileName")

    def op_getCreditNoteAttachmentById(self, org, params, body, txn, req, grant):
        return self._attachment_content(org, "CN", params, "AttachmentID")

    def op_getPayments(self, org, params, body, txn, req, grant):
        try:
            rendered, pagination = self._list(list(org.payments.values()), params, req, org.render_payment,
                                              default_order="UpdatedDateUTC ASC")
        except _QueryError as exc:
            return _query_error(exc)
        extra = {"pagination": pagination} if pagination else None
        return Response(200, self._envelope(grant, "Payments", rendered, extra))

    def op_getPayment(self, org, params, body, txn, req, grant):
        p = org.payments.get(params["PaymentID"].lower())
        if p is None:
            return _not_found()
        return Response(200, self._envelope(grant, "Payments", [org.render_payment(p)]))

    def op_createPayments(self, org, params, body, txn, req, grant):
        return self._batch(org, txn, grant, "Payments", body.get("Payments") or [],
                           lambda el: org.create_payment(el, txn), org.render_payment,
                           self._summarize(params), "HasValidationErrors")

    def op_createPayment(self, org, params, body, txn, req, grant):
        elements = body["Payments"] if "Payments" in body else [body]
        if len(elements) != 1:
            return _single_element_error("Payments")
        return self._batch(org, txn, grant, "Payments", elements, lambda el: org.create_payment(el, txn),
                           org.render_payment, True, "HasValidationErrors")

    def op_deletePayment(self, org, params, body, txn, req, grant):
        elements = body["Payments"] if "Payments" in body else [body]
        if len(elements) != 1:
            return _single_element_error("Payments")
        if elements[0].get("Status") != "DELETED":
            return Response(400, validation_exception([{"ValidationErrors": [
                {"Message": "Payments can only be deleted (Status DELETED); they cannot be edited."}]}]))
        pid = params["PaymentID"].lower()
        if pid not in org.payments:
            return _not_found()
        return self._batch(org, txn, grant, "Payments", elements, lambda el: org.delete_payment(pid, txn),
                           org.render_payment, True, "HasValidationErrors")

    # ============================================================ bank transactions (credit)
    def op_getBankTransactions(self, org, params, body, txn, req, grant):
        unitdp = params.get("unitdp")
        try:
            rendered, pagination = self._list(list(org.bank_transactions.values()), params, req,
                                              lambda b: org.render_bank_transaction(b, unitdp),
                                              default_order="UpdatedDateUTC ASC")
        except _QueryError as exc:
            return _query_error(exc)
        extra = {"pagination": pagination} if pagination else None
        return Response(200, self._envelope(grant, "BankTransactions", rendered, extra))

    def op_getBankTransaction(self, org, params, body, txn, req, grant):
        bt = org.find_bank_transaction(params["BankTransactionID"])
        if bt is None:
            return _not_found()
        return Response(200, self._envelope(grant, "BankTransactions",
                                            [org.render_bank_transaction(bt, params.get("unitdp"))]))

    def op_createBankTransactions(self, org, params, body, txn, req, grant):
        return self._batch(org, txn, grant, "BankTransactions", body.get("BankTransactions") or [],
                           lambda el: org.save_bank_transaction(el, txn, create_only=True),
                           org.render_bank_transaction, self._summarize(params), "HasErrors")

    def op_updateOrCreateBankTransactions(self, org, params, body, txn, req, grant):
        return self._batch(org, txn, grant, "BankTransactions", body.get("BankTransactions") or [],
                           lambda el: org.save_bank_transaction(el, txn),
                           org.render_bank_transaction, self._summarize(params), "HasErrors")

    def op_updateBankTransaction(self, org, params, body, txn, req, grant):
        elements = body.get("BankTransactions") or []
        if len(elements) != 1:
            return _single_element_error("BankTransactions")
        bt = org.find_bank_transaction(params["BankTransactionID"])
        if bt is None:
            return _not_found()
        return self._batch(org, txn, grant, "BankTransactions", elements,
                           lambda el: org.save_bank_transaction(el, txn, existing=bt),
                           org.render_bank_transaction, True, "HasErrors")

    # ============================================================ overpayments / prepayments
    def _get_credits(self, org, kind, params, req, grant, key):
        store = org.overpayments if kind == "OVP" else org.prepayments
        items = list(store.values())
        if kind == "OVP" and params.get("References"):
            refs = set(params["References"])
            items = [c for c in items if c.get("Reference") in refs]
        unitdp = params.get("unitdp")
        try:
            rendered, pagination = self._list(items, params, req, lambda c: org.render_credit(kind, c, unitdp),
                                              default_order="UpdatedDateUTC ASC")
        except _QueryError as exc:
            return _query_error(exc)
        extra = {"pagination": pagination} if pagination else None
        return Response(200, self._envelope(grant, key, rendered, extra))

    def op_getOverpayments(self, org, params, body, txn, req, grant):
        return self._get_credits(org, "OVP", params, req, grant, "Overpayments")

    def op_getPrepayments(self, org, params, body, txn, req, grant):
        return self._get_credits(org, "PRE", params, req, grant, "Prepayments")

    def op_getOverpayment(self, org, params, body, txn, req, grant):
        c = org.overpayments.get(params["OverpaymentID"].lower())
        if c is None:
            return _not_found()
        return Response(200, self._envelope(grant, "Overpayments", [org.render_credit("OVP", c)]))

    def op_getPrepayment(self, org, params, body, txn, req, grant):
        c = org.prepayments.get(params["PrepaymentID"].lower())
        if c is None:
            return _not_found()
        return Response(200, self._envelope(grant, "Prepayments", [org.render_credit("PRE", c)]))

    def _allocate_credit(self, org, kind, cid, params, body, txn, grant):
        store = org.overpayments if kind == "OVP" else org.prepayments
        if cid.lower() not in store:
            return _not_found()
        return self._batch(org, txn, grant, "Allocations", body.get("Allocations") or [],
                           lambda el: org.create_credit_allocation(kind, cid, el, txn), org.render_allocation,
                           self._summarize(params), "HasValidationErrors")

    def op_createOverpaymentAllocations(self, org, params, body, txn, req, grant):
        return self._allocate_credit(org, "OVP", params["OverpaymentID"], params, body, txn, grant)

    def op_createPrepaymentAllocations(self, org, params, body, txn, req, grant):
        return self._allocate_credit(org, "PRE", params["PrepaymentID"], params, body, txn, grant)

    def _delete_credit_allocation(self, org, kind, cid, aid, txn):
        try:
            a = org.delete_credit_allocation(kind, cid, aid, txn)
        except ElementError as exc:
            txn.rollback()
            if "could not be found" in exc.messages[0]:
                return _not_found()
            return Response(400, validation_exception([{"ValidationErrors": [{"Message": m} for m in exc.messages]}]))
        return Response(200, org.render_allocation(a))

    def op_deleteOverpaymentAllocations(self, org, params, body, txn, req, grant):
        return self._delete_credit_allocation(org, "OVP", params["OverpaymentID"], params["AllocationID"], txn)

    def op_deletePrepaymentAllocations(self, org, params, body, txn, req, grant):
        return self._delete_credit_allocation(org, "PRE", params["PrepaymentID"], params["AllocationID"], txn)

    # ============================================================================ reference
    def op_getAccounts(self, org, params, body, txn, req, grant):
        try:
            rendered, _ = self._list(list(org.accounts.values()), params, req, org.render_account,
                                     default_order="Code ASC", paged=False)
        except _QueryError as exc:
            return _query_error(exc)
        return Response(200, self._envelope(grant, "Accounts", rendered))

    def op_getAccount(self, org, params, body, txn, req, grant):
        a = org.accounts.get(params["AccountID"].lower())
        if a is None:
            return _not_found()
        return Response(200, self._envelope(grant, "Accounts", [org.render_account(a)]))

    def op_getTaxRates(self, org, params, body, txn, req, grant):
        items = list(org.tax_rates.values())
        if params.get("TaxType"):
            items = [t for t in items if t["TaxType"] == params["TaxType"]]
        try:
            rendered, _ = self._list(items, params, req, dict, paged=False)
        except _QueryError as exc:
            return _query_error(exc)
        return Response(200, self._envelope(grant, "TaxRates", rendered))

    def op_getTaxRateByTaxType(self, org, params, body, txn, req, grant):
        t = org.tax_rates.get(params["TaxType"])
        if t is None:
            return _not_found()
        return Response(200, self._envelope(grant, "TaxRates", [dict(t)]))

    def op_getTrackingCategories(self, org, params, body, txn, req, grant):
        inc = bool(params.get("includeArchived"))
        items = [t for t in org.tracking.values() if inc or t["Status"] == "ACTIVE"]
        try:
            rendered, _ = self._list(items, params, req, lambda t: org.render_tracking(t, inc), paged=False)
        except _QueryError as exc:
            return _query_error(exc)
        return Response(200, self._envelope(grant, "TrackingCategories", rendered))

    def op_getTrackingCategory(self, org, params, body, txn, req, grant):
        t = org.tracking.get(params["TrackingCategoryID"].lower())
        if t is None:
            return _not_found()
        return Response(200, self._envelope(grant, "TrackingCategories", [org.render_tracking(t, True)]))

    def op_getItems(self, org, params, body, txn, req, grant):
        unitdp = params.get("unitdp")
        try:
            rendered, _ = self._list(list(org.items.values()), params, req, org.render_item,
                                     default_order="Code ASC", paged=False)
        except _QueryError as exc:
            return _query_error(exc)
        del unitdp
        return Response(200, self._envelope(grant, "Items", rendered))

    def op_getItem(self, org, params, body, txn, req, grant):
        i = org.items.get(params["ItemID"].lower())
        if i is None:
            return _not_found()
        return Response(200, self._envelope(grant, "Items", [org.render_item(i)]))

    def op_createItems(self, org, params, body, txn, req, grant):
        return self._batch(org, txn, grant, "Items", body.get("Items") or [],
                           lambda el: org.save_item(el, txn, create_only=True), org.render_item,
                           self._summarize(params), "HasValidationErrors")

    def op_updateOrCreateItems(self, org, params, body, txn, req, grant):
        def fn(el):
            existing = org.items.get((el.get("ItemID") or "").lower())
            if el.get("ItemID") and existing is None:
                raise ElementError(["Item could not be found."])
            return org.save_item(el, txn, existing=existing)
        return self._batch(org, txn, grant, "Items", body.get("Items") or [], fn, org.render_item,
                           self._summarize(params), "HasValidationErrors")

    def op_updateItem(self, org, params, body, txn, req, grant):
        iid = params["ItemID"].lower()
        if iid not in org.items:
            return _not_found()
        elements = body.get("Items") or []
        if len(elements) != 1:
            return _single_element_error("Items")
        return self._batch(org, txn, grant, "Items", elements,
                           lambda el: org.save_item(el, txn, existing=org.items[iid]), org.render_item, True,
                           "HasValidationErrors")

    def op_getOrganisations(self, org, params, body, txn, req, grant):
        o = {k: v for k, v in org.organisation.items() if v is not None}
        for k in ("PeriodLockDate", "EndOfYearLockDate"):
            if o.get(k):
                d = parse_date(o[k]) if isinstance(o[k], str) else o[k]
                o[k] = ms_date(d)
        o["CreatedDateUTC"] = ms_date(org.seeded_at)
        return Response(200, self._envelope(grant, "Organisations", [o]))

    def op_getCurrencies(self, org, params, body, txn, req, grant):
        try:
            rendered, _ = self._list(list(org.currencies.values()), params, req, dict, paged=False)
        except _QueryError as exc:
            return _query_error(exc)
        return Response(200, self._envelope(grant, "Currencies", rendered))

    def op_createCurrency(self, org, params, body, txn, req, grant):
        code = body.get("Code")
        if not code or len(code) != 3:
            return Response(400, validation_exception([{"ValidationErrors": [{"Message": "A valid currency Code is required."}]}]))
        if code not in org.currencies:
            txn.set(org.currencies, code, {"Code": code, "Description": body.get("Description") or code})
        return Response(200, self._envelope(grant, "Currencies", [dict(org.currencies[code])]))

    # ============================================================================ identity
    def _connections(self, req):
        parts = [p for p in req.path.split("/") if p]
        if len(parts) == 1:
            route = f"{req.method} /Connections"
        else:
            route = f"{req.method} /Connections/{{id}}"
        grant, err = self.identity.check_bearer(req.headers.get("authorization"))
        if err:
            status, detail = err
            return route, Response(status, problem(status, "Unauthorized", detail))
        problem_kind, retry_emu, rl = self.limiter.admit(grant["client_id"], None)
        if problem_kind:
            h = dict(rl, **{"Retry-After": str(max(1, math.ceil(self.clock.to_real(retry_emu)))),
                            "X-Rate-Limit-Problem": problem_kind})
            return route, Response(429, problem(429, "Too Many Requests", "Rate limit exceeded"), h)
        if len(parts) == 1 and req.method == "GET":
            conns = self.identity.connections_for(grant)
            aid = req.query.get("authEventId")
            if aid:
                conns = [c for c in conns if c["authEventId"] == aid]
            resp = Response(200, [self.identity.public_connection(c) for c in conns])
        elif len(parts) == 2 and req.method == "DELETE":
            if self.identity.delete_connection(grant, parts[1]):
                resp = Response(204, b"", content_type=None)
            else:
                resp = Response(404, problem(404, "Not Found", "The resource you're looking for cannot be found"))
        else:
            resp = Response(405, problem(405, "Method Not Allowed", "Method not allowed"))
        resp.headers.update({"X-AppMinLimit-Remaining": self.limiter.remaining(grant["client_id"], None)["X-AppMinLimit-Remaining"]})
        return route, resp

    def _authorize(self, req):
        if req.method == "GET":
            params = dict(req.query)
        elif req.method == "POST":
            params = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            return Response(405, b"method not allowed", content_type="text/plain")
        try:
            app, err = self.identity.check_authorize(params)
        except oauth_mod.OAuthError as exc:
            return Response(400, f"<html><body><h1>Error</h1><p>{exc.error}: {exc.description or ''}</p></body></html>".encode(),
                            content_type="text/html; charset=utf-8")
        redirect = params["redirect_uri"]
        state = params.get("state")

        def go(query):
            if state is not None:
                query["state"] = state
            sep = "&" if "?" in redirect else "?"
            return Response(302, b"", {"Location": redirect + sep + urllib.parse.urlencode(query)}, content_type=None)

        if err:
            return go({"error": err})
        if req.method == "GET":
            with self.lock:
                consent = self.auto_consent
                if consent and consent["remaining"] > 0:
                    consent["remaining"] -= 1
                else:
                    consent = None
            if consent:  # a browser test that cannot drive a page outside Odoo: pre-answered consent
                code = self.identity.issue_code(app, params, consent["tenant_ids"])
                return go({"code": code, "scope": params.get("scope", ""), "session_state": uuid.uuid4().hex})
            return Response(200, self.identity.authorize_page(params).encode("utf-8"),
                            content_type="text/html; charset=utf-8")
        if params.get("action") != "allow":
            return go({"error": "access_denied"})
        tenants = [v for k, v in urllib.parse.parse_qsl(req.body.decode("utf-8", "replace")) if k == "tenant"]
        tenants = [t for t in tenants if t in self.orgs]
        if not tenants:
            return Response(200, self.identity.authorize_page(params, "Pick at least one organisation.").encode("utf-8"),
                            content_type="text/html; charset=utf-8")
        code = self.identity.issue_code(app, params, tenants)
        return go({"code": code, "scope": params.get("scope", ""), "session_state": uuid.uuid4().hex})

    def _form(self, req):
        return dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))

    def _token(self, req):
        if req.method != "POST":
            return Response(405, {"error": "invalid_request"})
        try:
            out = self.identity.token(self._form(req), req.headers.get("authorization"))
        except oauth_mod.OAuthError as exc:
            body = {"error": exc.error}
            if exc.description:
                body["error_description"] = exc.description
            return Response(exc.status, body, {"Cache-Control": "no-store"})
        return Response(200, out, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _revocation(self, req):
        if req.method != "POST":
            return Response(405, {"error": "invalid_request"})
        try:
            self.identity.revoke(self._form(req), req.headers.get("authorization"))
        except oauth_mod.OAuthError as exc:
            return Response(exc.status, {"error": exc.error})
        return Response(200, b"", content_type=None)

    # ============================================================================ control
    def _control(self, req):
        name = req.path[len("/__emulator__/"):].strip("/")
        try:
            data = json.loads(req.body) if req.body else {}
        except ValueError:
            return Response(400, {"error": "body must be JSON"})
        try:
            fn = getattr(self, f"ctl_{req.method.lower()}_{name}", None)
            if fn is None:
                return Response(404, {"error": f"unknown control endpoint {req.method} {req.path}"})
            result = fn(data, req)
        except (ValueError, KeyError, TypeError) as exc:
            return Response(400, {"error": f"{type(exc).__name__}: {exc}"})
        if isinstance(result, Response):
            return result
        return Response(200, result if result is not None else {"ok": True})

    def ctl_post_reset(self, data, req):
        self.reset()
        return {"ok": True, "tenants": list(self.orgs)}

    def ctl_get_requests(self, data, req):
        with self.lock:
            return {"requests": list(self.log), "counts": dict(self.counts)}

    def ctl_delete_requests(self, data, req):
        with self.lock:
            self.log_generation += 1
            self.log.clear()
            self.counts.clear()
        return {"ok": True}

    def ctl_get_state(self, data, req):
        tenant = (req.query.get("tenant") or "").lower()
        if tenant not in self.orgs:
            return Response(404, {"error": "unknown tenant", "tenants": list(self.orgs)})
        with self.org_locks[tenant]:
            return self.orgs[tenant].dump()

    def ctl_get_tenants(self, data, req):
        return {"tenants": [{"tenantId": t, "tenantName": o.name, "baseCurrency": o.base} for t, o in self.orgs.items()]}

    def ctl_post_apps(self, data, req):
        app = self.identity.register_app(data["client_id"], data["client_secret"], data.get("redirect_uris") or [])
        return {"client_id": app["client_id"], "redirect_uris": app["redirect_uris"]}

    def ctl_post_grant(self, data, req):
        client_id = data.get("client_id") or seed.DEMO_CLIENT_ID
        if client_id not in self.identity.apps:
            raise ValueError(f"unknown client_id {client_id}")
        tenants = [t.lower() for t in (data.get("tenant_ids") or list(self.orgs))]
        scopes = (data.get("scopes") or "openid profile email offline_access accounting.transactions "
                  "accounting.contacts accounting.settings").split()
        bad = [s for s in scopes if s not in oauth_mod.KNOWN_SCOPES]
        if bad:
            raise ValueError(f"unknown scopes {bad}")
        out = self.identity.create_grant(client_id, tenants, scopes)
        grant = self.identity.grants[self.identity.access[out["access_token"]]["grant_id"]]
        out["connections"] = [self.identity.public_connection(c) for c in self.identity.connections_for(grant)]
        return out

    def ctl_post_consent(self, data, req):
        """Pre-answer the next ``count`` authorize pages: "Allow access" to ``tenant_ids``."""
        tenants = [t.lower() for t in (data.get("tenant_ids") or list(self.orgs))]
        unknown = [t for t in tenants if t not in self.orgs]
        if unknown:
            raise ValueError(f"unknown tenants {unknown}")
        with self.lock:
            self.auto_consent = {"tenant_ids": tenants, "remaining": int(data.get("count", 1))}
        return {"ok": True, "consent": dict(self.auto_consent)}

    def ctl_post_faults(self, data, req):
        kind = data["kind"]
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind}")
        route = data.get("route") or "*"
        count = int(data.get("count", 1))
        probability = data.get("probability")
        if probability is not None:
            probability = float(probability)
            if not 0 <= probability <= 1:
                raise ValueError("probability must be between 0 and 1")
        lo, hi = data.get("seconds_min"), data.get("seconds_max")
        if lo is not None and hi is not None and float(hi) < float(lo):
            raise ValueError("seconds_max must be >= seconds_min")
        if kind == "status" and data.get("status") is not None and not 400 <= int(data["status"]) <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        with self.lock:
            self._fault_seq += 1
            fault = {"id": self._fault_seq, "route": route, "kind": kind, "status": data.get("status"),
                     "seconds": data.get("seconds"), "seconds_min": lo, "seconds_max": hi,
                     "probability": probability, "seed": data.get("seed"), "retry_after": data.get("retry_after"),
                     "remaining": count if count > 0 else -1, "hits": 0, "misses": 0,
                     # only this organisation's calls (latency and status faults), e.g. a 429 storm on one
                     "tenant": (data.get("tenant") or "").lower() or None}
            if data.get("seed") is not None:
                self._fault_rngs[fault["id"]] = random.Random(data["seed"])
            self.faults.append(fault)
        return {"ok": True, "fault": fault}

    def ctl_get_faults(self, data, req):
        with self.lock:
            return {"faults": [dict(f) for f in self.faults]}

    def ctl_delete_faults(self, data, req):
        with self.lock:
            self.faults = []
            self._fault_rngs = {}
        return {"ok": True}

    def ctl_post_clock(self, data, req):
        if "scale" in data:
            self.clock.set_scale(float(data["scale"]))
        if "advance" in data:
            self.clock.advance(float(data["advance"]))
        return {"now": self.clock.now(), "scale": self.clock.scale}

    def ctl_get_clock(self, data, req):
        return {"now": self.clock.now(), "scale": self.clock.scale}

    def ctl_post_limits(self, data, req):
        with self.limiter.lock:
            for k in DEFAULT_LIMITS:
                if k in data and data[k] is not None:
                    self.limiter.limits[k] = int(data[k])
            return dict(self.limiter.limits)

    def ctl_get_limits(self, data, req):
        return dict(self.limiter.limits)

    WEBHOOK_OPTIONS = ("drop", "timeout", "retry_base", "retry_max_delay", "max_attempts")

    def ctl_post_webhook(self, data, req):
        if data.get("intent_to_receive"):
            return self.webhooks.intent_to_receive()
        options = {k: data[k] for k in self.WEBHOOK_OPTIONS if k in data}
        unknown = set(data) - set(self.WEBHOOK_OPTIONS) - {"url", "key", "intent_to_receive"}
        if unknown:
            raise ValueError(f"unknown webhook settings {sorted(unknown)}")
        if "url" in data or "key" in data or not options:
            url = data.get("url")
            if url and not is_loopback_url(url):
                raise ValueError("webhook url must be a loopback URL")
            self.webhooks.configure(url, data.get("key"))
        if options:
            self.webhooks.set_options(**options)
        return {"ok": True, **self.webhooks.status()}

    def ctl_get_webhook(self, data, req):
        return self.webhooks.status()

    def ctl_post_config(self, data, req):
        if "tax_rounding" in data:
            if data["tax_rounding"] not in ROUNDING:
                raise ValueError(f"tax_rounding must be one of {sorted(ROUNDING)}")
            self.tax_rounding = data["tax_rounding"]
        return {"tax_rounding": self.tax_rounding}

    def ctl_post_tenants(self, data, req):
        """Test-only: add ``count`` organisations built like a seeded one (``like``, default the
        Australian), ids ``seed.extra_tenant(1..count)``, every app may be granted them."""
        count = int(data.get("count") or 0)
        like = (data.get("like") or seed.TENANT_AU).lower()
        if like not in seed.SEEDED_TENANTS or not 0 < count <= 100:
            raise ValueError("count must be 1..100 and like a seeded tenant")
        added = []
        with self.lock:
            for n in range(1, count + 1):
                tenant = seed.extra_tenant(n)
                if tenant not in self.orgs:
                    self.orgs[tenant] = Org(tenant, self.clock, rounding=lambda: ROUNDING[self.tax_rounding],
                                            like=like, name=f"Coworks Extra {n}")
                    self.org_locks[tenant] = threading.RLock()
                    self.identity.org_names[tenant] = self.orgs[tenant].name
                added.append({"tenantId": tenant, "tenantName": self.orgs[tenant].name})
        return {"tenants": added}

    def ctl_post_merge_contacts(self, data, req):
        """Test-only: merge contact ``from`` into ``into`` as Xero's screens do, with the signed
        CONTACT UPDATE webhook events Xero sends for it (the merged contact and the survivor)."""
        tenant = (data.get("tenant") or "").lower()
        if tenant not in self.orgs:
            raise ValueError("unknown tenant")
        txn = Txn()
        with self.org_locks[tenant]:
            result = self.orgs[tenant].merge_contacts(data.get("from"), data.get("into"), txn)
        self.webhooks.emit(tenant, txn.events, {})
        return result

    def ctl_post_organisation(self, data, req):
        """Test-only: set PeriodLockDate / EndOfYearLockDate (YYYY-MM-DD or null) of a tenant."""
        tenant = (data.get("tenant") or "").lower()
        if tenant not in self.orgs:
            raise ValueError("unknown tenant")
        org = self.orgs[tenant]
        with self.org_locks[tenant]:
            for k in ("PeriodLockDate", "EndOfYearLockDate"):
                if k in data:
                    v = data[k]
                    if v is not None and parse_date(v) is None:
                        raise ValueError(f"{k} must be YYYY-MM-DD")
                    org.organisation[k] = parse_date(v) if v else None
            return {k: (str(org.organisation[k]) if org.organisation[k] else None)
                    for k in ("PeriodLockDate", "EndOfYearLockDate")}


class _QueryError(Exception):
    pass


def _query_error(exc):
    return Response(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": str(exc)})


def _not_found():
    return Response(404, problem(404, "Not Found", "The resource you're looking for cannot be found"))


def _single_element_error(key):
    return Response(400, validation_exception([{"ValidationErrors": [
        {"Message": f"Exactly one element is expected in {key} for this endpoint."}]}]))


def _normalise_dates(obj):
    if isinstance(obj, dict):
        for k in list(obj):
            v = obj[k]
            if k in DATE_KEYS and isinstance(v, str):
                d = parse_date(v)
                if d is None:
                    del obj[k]
                else:
                    obj[k] = ms_date(d)
            else:
                _normalise_dates(v)
    elif isinstance(obj, list):
        for v in obj:
            _normalise_dates(v)


def _sort_key(record, field):
    v = record
    for part in field.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if v is None:
        return (0, 0.0, "")
    if isinstance(v, bool):
        return (1, float(v), "")
    if isinstance(v, (int, float)) or hasattr(v, "quantize"):
        return (1, float(v), "")
    if isinstance(v, str):
        if v.startswith("/Date("):
            digits = v[6:].split(")")[0]
            num = digits.rstrip("0123456789").rstrip("+-") if False else digits
            try:
                return (1, float(int(num[:-5] if len(num) > 5 and num[-5] in "+-" else num)), "")
            except ValueError:
                pass
        return (2, 0.0, v.casefold())
    return (2, 0.0, str(v))
