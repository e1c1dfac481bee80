"""The QuickBooks Online emulator: routing, OAuth, per-realm limits, requestid idempotency, batch, CDC,
webhooks, faults, request log and the control API (``/__emulator__/``).

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
import traceback
import urllib.parse
import uuid

from . import oauth as oauth_mod
from . import seed
from .company import DELETABLE, NAME_LISTS, QUERYABLE, TXNS, VOIDABLE, Company
from .webhooks import WebhookSender, is_loopback_url
from .wire import Clock, QBOError, Request, Response, fault_body, iso, loads

V3 = "/v3/company/"
# Intuit's published limits (README): per realm and app, 500 requests a minute, 10 at once, 40 batch
# requests a minute; 30 payloads per batch request.
DEFAULT_LIMITS = {"minute": 500, "concurrent": 10, "batch_minute": 40}
BATCH_MAX_ITEMS = 30
FAULT_KINDS = ("status", "latency", "drop_after_write", "expire_tokens", "refresh_token_dead")
ENTITY_PATHS = {e.lower(): e for e in NAME_LISTS + TXNS + ("CompanyInfo", "Preferences")}


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
            self.batch = collections.defaultdict(collections.deque)
            self.inflight = collections.defaultdict(int)

    def admit(self, key, is_batch):
        """-> (problem or None, seconds until a call fits)."""
        now = self.clock.now()
        with self.lock:
            m, b = self.minute[key], self.batch[key]
            for dq in (m, b):
                while dq and dq[0] <= now - 60:
                    dq.popleft()
            if self.inflight[key] >= self.limits["concurrent"]:
                return "concurrent", 1.0
            if len(m) >= self.limits["minute"]:
                return "minute", m[0] + 60 - now
            if is_batch and len(b) >= self.limits["batch_minute"]:
                return "batch_minute", b[0] + 60 - now
            m.append(now)
            if is_batch:
                b.append(now)
            self.inflight[key] += 1
            return None, 0.0

    def release(self, key, generation):
        with self.lock:
            if generation == self.generation:
                self.inflight[key] = max(0, self.inflight[key] - 1)

    def used(self, key):
        now = self.clock.now()
        with self.lock:
            return {"minute": sum(1 for t in self.minute[key] if t > now - 60),
                    "batch_minute": sum(1 for t in self.batch[key] if t > now - 60),
                    "in_flight": self.inflight[key]}


class Emulator:
    def __init__(self, time_scale=1.0, webhook_url=None, verifier_token=None):
        self.clock = Clock(time_scale)
        self._initial_scale = time_scale
        self.limiter = RateLimiter(self.clock)
        self.webhooks = WebhookSender()
        self._initial_webhook = (webhook_url, verifier_token)
        self.base_url = ""
        self.lock = threading.RLock()
        self.identity = oauth_mod.Identity(self.clock, {})
        self.reset()

    # ------------------------------------------------------------------------------ state
    def reset(self):
        with self.lock:
            self.clock.reset(self._initial_scale)
            self.limiter.reset()
            self.companies = {r: Company(r, self.clock) for r in seed.SEEDED_REALMS}
            self.company_locks = {r: threading.RLock() for r in self.companies}
            self.identity.reset()
            self.identity.realm_names = {r: c.name for r, c in self.companies.items()}
            self.idempotency = {}
            self.faults = []
            self._fault_rngs = {}
            self._fault_seq = 0
            self.auto_consent = None
            self.log_generation = getattr(self, "log_generation", 0) + 1
            self.log = collections.deque(maxlen=100000)
            self.counts = collections.Counter()
            self.webhooks.reset()
            url, verifier = self._initial_webhook
            if url:
                self.webhooks.configure(url, verifier or seed.DEMO_VERIFIER_TOKEN)

    def _log(self, req, route, status, realm, generation, arrived):
        if route is None:
            return
        with self.lock:
            if generation != self.log_generation:
                return
            self.log.append({"method": req.method, "path": req.path, "query": req.raw_query, "route": route,
                             "status": status, "realm": realm, "arrived": arrived, "ts": time.time()})
            self.counts[route] += 1

    # ------------------------------------------------------------------------------ entry
    def handle(self, req: Request) -> Response:
        arrived = time.time()
        generation = self.log_generation
        route = realm = None
        path = req.path
        try:
            if path.startswith("/__emulator__/"):
                return self._control(req)
            if path.startswith(V3):
                route, realm, resp = self._accounting(req)
            elif path.rstrip("/") in ("/.well-known/openid_configuration", "/.well-known/openid_sandbox_configuration"):
                route = "GET /.well-known/openid_configuration"
                resp = Response(200, self.identity.discovery(self.base_url))
            elif path == "/connect/oauth2":
                route = f"{req.method} /connect/oauth2"
                resp = self._identity_call(req, route, self._authorize)
            elif path == "/oauth2/v1/tokens/bearer":
                route = "POST /oauth2/v1/tokens/bearer"
                resp = self._identity_call(req, route, self._token)
            elif path == "/oauth2/v1/tokens/revoke":
                route = "POST /oauth2/v1/tokens/revoke"
                resp = self._identity_call(req, route, self._revoke)
            else:
                resp = Response(404, {"error": "not found"})
        except Exception as exc:  # noqa: BLE001 - an emulator bug must be visible, never a hang
            traceback.print_exc()
            resp = Response(500, fault_body([("10000", "An application error has occurred while processing your "
                                              "request", f"emulator error: {type(exc).__name__}: {exc}", "")],
                                            "SystemFault", self.clock))
        self._log(req, route, resp.status, realm, generation, arrived)
        resp.headers.setdefault("intuit_tid", uuid.uuid4().hex[:20])
        return resp

    # ------------------------------------------------------------------------------ faults
    def _take_fault(self, route, kinds, realm=None):
        with self.lock:
            for f in self.faults:
                if f["kind"] in kinds and f["route"] in (route, "*") and f["remaining"] != 0 \
                        and f.get("realm") in (None, realm):
                    p = f.get("probability")
                    if p is not None and p < 1 and self._fault_rngs.get(f["id"], random).random() >= p:
                        f["misses"] += 1
                        continue
                    if f["remaining"] > 0:
                        f["remaining"] -= 1
                    f["hits"] += 1
                    return dict(f)
        return None

    def _pre_faults(self, route, realm=None, identity=False):
        if self._take_fault(route, ("expire_tokens",), realm):
            self.identity.expire_all_access_tokens()
        if self._take_fault(route, ("refresh_token_dead",), realm):
            self.identity.kill_refresh_tokens()
        fault = self._take_fault(route, ("latency",), realm)
        if fault:
            lo, hi = fault.get("seconds_min"), fault.get("seconds_max")
            if lo is not None or hi is not None:
                with self.lock:
                    seconds = self._fault_rngs.get(fault["id"], random).uniform(float(lo or 0), float(hi or lo or 0))
            else:
                seconds = float(fault.get("seconds") or 0)
            time.sleep(seconds)
        fault = self._take_fault(route, ("status",), realm)
        if fault:
            status = int(fault.get("status") or 500)
            headers = {"Retry-After": str(int(fault["retry_after"]))} if fault.get("retry_after") else {}
            if identity:
                return Response(status, {"error": "server_error", "error_description": "injected fault"}, headers)
            if status == 429:
                return Response(429, self._throttle_body(), headers)
            if status == 503:
                return Response(503, b"<html><body>Service Unavailable</body></html>", headers,
                                content_type="text/html")
            return Response(status, fault_body([("10000", "An application error has occurred while processing your "
                                                 "request", "System Failure Error: injected fault", "")],
                                               "SystemFault", self.clock), headers)
        return None

    def _throttle_body(self):
        return {"fault": {"error": [{"message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                                     "detail": "The request limit was reached.", "code": "3001"}],
                          "type": "SERVICE"}, "time": iso(self.clock.now(), ms=True)}

    def _auth_fault(self, status, code, detail):
        name = "AuthenticationFailed" if status == 401 else "AuthorizationFailed"
        return Response(status, {"warnings": None, "intuitObject": None, "fault": {"error": [
            {"message": f"message={name}; errorCode=00{code}; statusCode={status}", "detail": detail,
             "code": code, "element": None}], "type": "AUTHENTICATION" if status == 401 else "AUTHORIZATION"},
            "time": iso(self.clock.now(), ms=True)}, {"WWW-Authenticate": 'Bearer realm="Intuit"'})

    def _identity_call(self, req, route, handler):
        resp = self._pre_faults(route, identity=True)
        if resp is not None:
            return resp
        resp = handler(req)
        if req.method == "POST" and self._take_fault(route, ("drop_after_write",)):
            resp.drop = True
        return resp

    # ------------------------------------------------------------------------------ accounting
    def _accounting(self, req):
        parts = [p for p in req.path[len(V3):].split("/") if p]
        realm = parts[0] if parts else ""
        rest = parts[1:]
        resource = rest[0].lower() if rest else ""
        route = f"{req.method} /{resource}"
        if realm not in self.companies:
            return route, realm, self._auth_fault(403, "3100", "The company (realm) is not known or not authorized")
        if self._take_fault(route, ("expire_tokens",), realm):
            self.identity.expire_all_access_tokens()
        grant, err = self.identity.check_bearer(req.headers.get("authorization"), realm)
        if err:
            return route, realm, self._auth_fault(*err)
        key = (grant["client_id"], realm)
        generation = self.limiter.generation
        problem, _wait = self.limiter.admit(key, resource == "batch")
        if problem:
            return route, realm, Response(429, self._throttle_body())
        try:
            resp = self._pre_faults(route, realm)
            if resp is None:
                resp = self._admitted(req, realm, resource, rest[1:], route)
        finally:
            self.limiter.release(key, generation)
        return route, realm, resp

    def _admitted(self, req, realm, resource, tail, route):
        company = self.companies[realm]
        request_id = req.query.get("requestid")
        writes = req.method == "POST" and resource not in ("query",)
        fingerprint = None
        if request_id and writes:
            if len(request_id) > 50:
                return self._fault(QBOError(2010, "Request has invalid or unsupported property",
                                            "requestid must be 50 characters or fewer", "requestid"))
            fingerprint = hashlib.sha256((req.method + " " + req.path + "?" + req.query.get("operation", "")).encode()
                                         + b"\n" + req.body).hexdigest()
        with self.company_locks[realm]:
            if fingerprint is not None:
                stored = self.idempotency.get((realm, request_id))
                if stored is not None:
                    fp, status, body = stored
                    if fp != fingerprint:
                        return self._fault(QBOError(600, "Duplicate Request ID",
                                                    "The request ID has already been used for a different request.",
                                                    "requestid"))
                    r = Response(status, body)
                    if self._take_fault(route, ("drop_after_write",), realm):
                        r.drop = True
                    return r
            resp = self._dispatch(req, company, resource, tail)
            if fingerprint is not None and resp.status < 500:
                self.idempotency[(realm, request_id)] = (fingerprint, resp.status, resp.body)
            events, company.events = company.events, []
        if events:
            self.webhooks.emit(realm, events)
        if writes and self._take_fault(route, ("drop_after_write",), realm):
            resp.drop = True
        return resp

    def _fault(self, exc):
        return Response(exc.status, exc.fault(self.clock))

    def _ok(self, data):
        data = dict(data)
        data["time"] = iso(self.clock.now(), ms=True)
        return Response(200, data)

    def _body(self, req):
        if not req.body:
            raise QBOError(2010, "Request has invalid or unsupported property", "A request body is required", "")
        try:
            return loads(req.body)
        except ValueError:
            raise QBOError(2010, "Request has invalid or unsupported property",
                           "Request body is not valid JSON", "") from None

    def _dispatch(self, req, company, resource, tail):
        try:
            if resource == "query":
                text = req.query.get("query") if req.method == "GET" else req.body.decode("utf-8", "replace")
                return self._ok({"QueryResponse": company.query(text)})
            if resource == "cdc" and req.method == "GET":
                return self._ok(company.cdc(req.query.get("entities"), req.query.get("changedSince")))
            if resource == "batch" and req.method == "POST":
                return self._batch(company, self._body(req))
            entity = ENTITY_PATHS.get(resource)
            if entity is None:
                return self._fault(QBOError(500, "Unsupported Operation",
                                            f"Operation {resource} is not supported.", ""))
            if req.method == "GET":
                if not tail:
                    return self._fault(QBOError(500, "Unsupported Operation", "A read needs an Id.", ""))
                if entity == "CompanyInfo":
                    return self._ok({"CompanyInfo": company.company_info()})
                if entity == "Preferences":
                    return self._ok({"Preferences": company.preferences()})
                return self._ok({entity: company.get(entity, urllib.parse.unquote(tail[0]))})
            if req.method != "POST":
                return self._fault(QBOError(500, "Unsupported Operation", f"{req.method} is not supported.", ""))
            body = self._body(req)
            operation = (req.query.get("operation") or "").lower()
            return self._ok({entity: self._write(company, entity, operation, body)})
        except QBOError as exc:
            return self._fault(exc)

    def _write(self, company, entity, operation, body):
        if operation == "void":
            return company.void(entity, body)
        if operation == "delete":
            return company.delete(entity, body)
        if operation in ("", "update", "create"):
            if isinstance(body, dict) and body.get("Id"):
                return company.update(entity, body)
            return company.create(entity, body)
        raise QBOError(500, "Unsupported Operation", f"Operation {operation} is not supported.", "")

    def _batch(self, company, body):
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise QBOError(400, "MalformedRequest", "Batch Request is Empty", "")
        if len(items) > BATCH_MAX_ITEMS:
            raise QBOError(1040, "Batch size exceeds allowed limit",
                           f"The batch size {len(items)} exceeds the allowed limit of {BATCH_MAX_ITEMS}.", "")
        ids = [str(i.get("bId") or "") for i in items if isinstance(i, dict)]
        if len(ids) != len(items) or any(not b for b in ids):
            raise required("bId")
        if len(set(ids)) != len(ids):
            raise QBOError(2010, "Request has invalid or unsupported property", "bId must be unique in a batch", "bId")
        out = []
        for item in items:
            bid = str(item["bId"])
            try:
                if "Query" in item:
                    out.append({"bId": bid, "QueryResponse": company.query(item["Query"])})
                    continue
                entities = [k for k in item if k in ENTITY_PATHS.values()]
                if len(entities) != 1:
                    raise QBOError(2010, "Request has invalid or unsupported property",
                                   "A batch item carries exactly one entity or one Query", "")
                entity = entities[0]
                operation = (item.get("operation") or "").lower()
                if operation not in ("create", "update", "delete"):
                    raise QBOError(2010, "Request has invalid or unsupported property",
                                   f"Property Name:operation specified value is invalid : {operation}", "operation")
                if str(item.get("optionsData") or "").lower() == "void":
                    operation = "void"
                elif operation == "update":
                    if not item[entity].get("Id"):
                        raise required("Id")
                elif operation == "create" and item[entity].get("Id"):
                    raise QBOError(2010, "Request has invalid or unsupported property",
                                   "Id is not allowed on create", "Id")
                out.append({"bId": bid, entity: self._write(company, entity, operation, item[entity])})
            except QBOError as exc:
                out.append({"bId": bid, "Fault": {"Error": [{"Message": m, "Detail": d, "code": c, "element": e}
                                                             for c, m, d, e in exc.errors],
                                                  "type": exc.fault_type}})
        return self._ok({"BatchItemResponse": out})

    # ------------------------------------------------------------------------------ identity
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
            return Response(400, f"<html><body><h1>Error</h1><p>{exc.error}: {exc.description or ''}</p></body></html>"
                            .encode(), content_type="text/html; charset=utf-8")
        redirect = params["redirect_uri"]
        state = params.get("state")

        def go(query):
            if state is not None:
                query["state"] = state
            sep = "&" if "?" in redirect else "?"
            return Response(302, b"", {"Location": redirect + sep + urllib.parse.urlencode(query)}, content_type=None)

        if err:
            return go({"error": err})
        realms = {r: c.name for r, c in self.companies.items()}
        if req.method == "GET":
            with self.lock:
                consent = self.auto_consent
                if consent and consent["remaining"] > 0:
                    consent["remaining"] -= 1
                else:
                    consent = None
            if consent:
                if consent.get("deny"):
                    return go({"error": "access_denied"})
                code = self.identity.issue_code(app, params, consent["realm_id"])
                return go({"code": code, "realmId": consent["realm_id"]})
            return Response(200, self.identity.authorize_page(params, realms).encode(),
                            content_type="text/html; charset=utf-8")
        if params.get("action") != "allow":
            return go({"error": "access_denied"})
        realm = params.get("realm")
        if realm not in self.companies:
            return Response(200, self.identity.authorize_page(params, realms, "Choose a company.").encode(),
                            content_type="text/html; charset=utf-8")
        code = self.identity.issue_code(app, params, realm)
        return go({"code": code, "realmId": realm})

    def _token(self, req):
        if req.method != "POST":
            return Response(405, {"error": "invalid_request"})
        form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            out = self.identity.token(form, req.headers.get("authorization"))
        except oauth_mod.OAuthError as exc:
            body = {"error": exc.error}
            if exc.description:
                body["error_description"] = exc.description
            return Response(exc.status, body, {"Cache-Control": "no-store"})
        return Response(200, out, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _revoke(self, req):
        if req.method != "POST":
            return Response(405, {"error": "invalid_request"})
        token = None
        try:
            data = json.loads(req.body or b"{}")
            token = data.get("token") if isinstance(data, dict) else None
        except ValueError:
            token = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"))).get("token")
        try:
            self.identity.revoke(token, req.headers.get("authorization"))
        except oauth_mod.OAuthError as exc:
            return Response(exc.status, {"error": exc.error})
        return Response(200, b"", content_type=None)

    # ------------------------------------------------------------------------------ control
    def _control(self, req):
        name = req.path[len("/__emulator__/"):].strip("/").replace("-", "_")
        try:
            data = json.loads(req.body) if req.body else {}
        except ValueError:
            return Response(400, {"error": "body must be JSON"})
        fn = getattr(self, f"ctl_{req.method.lower()}_{name}", None)
        if fn is None:
            return Response(404, {"error": f"unknown control endpoint {req.method} {req.path}"})
        try:
            result = fn(data, req)
        except (ValueError, KeyError, TypeError) as exc:
            return Response(400, {"error": f"{type(exc).__name__}: {exc}"})
        return result if isinstance(result, Response) else Response(200, result if result is not None else {"ok": True})

    def ctl_post_reset(self, data, req):
        self.reset()
        return {"ok": True, "realms": list(self.companies)}

    def ctl_get_requests(self, data, req):
        """?tail=N: only the last N requests (a poller asking "is Odoo calling right now?")."""
        tail = int(req.query.get("tail") or 0)
        with self.lock:
            log = list(self.log)[-tail:] if tail > 0 else list(self.log)
            return {"requests": log, "counts": dict(self.counts)}

    def ctl_delete_requests(self, data, req):
        with self.lock:
            self.log_generation += 1
            self.log.clear()
            self.counts.clear()
        return {"ok": True}

    def ctl_get_state(self, data, req):
        realm = req.query.get("realm") or ""
        if realm not in self.companies:
            return Response(404, {"error": "unknown realm", "realms": list(self.companies)})
        with self.company_locks[realm]:
            return self.companies[realm].dump()

    def ctl_get_realms(self, data, req):
        return {"realms": [{"realmId": r, "name": c.name, "country": c.country, "currency": c.currency}
                           for r, c in self.companies.items()]}

    def ctl_post_realms(self, data, req):
        count = int(data.get("count") or 0)
        like = data.get("like") or seed.REALM_US
        if like not in seed.SEEDED_REALMS or not 0 < count <= 100:
            raise ValueError("count must be 1..100 and like a seeded realm")
        added = []
        with self.lock:
            for n in range(1, count + 1):
                realm = seed.extra_realm(n)
                if realm not in self.companies:
                    self.companies[realm] = Company(realm, self.clock, like=like, name=f"Coworks Extra {n}")
                    self.company_locks[realm] = threading.RLock()
                    self.identity.realm_names[realm] = self.companies[realm].name
                added.append({"realmId": realm, "name": self.companies[realm].name})
        return {"realms": added}

    def ctl_post_multicurrency(self, data, req):
        """Turn multicurrency on for a realm: {realm, enabled: true}. QuickBooks cannot turn it off once on,
        so ``enabled: false`` on a company that has it is refused (400)."""
        realm = data.get("realm") or seed.REALM_US
        if realm not in self.companies:
            raise ValueError(f"unknown realm {realm}")
        with self.company_locks[realm]:
            company = self.companies[realm]
            if data.get("enabled", True) is False:
                if company.multicurrency:
                    raise ValueError("multicurrency cannot be turned off once on (as in QuickBooks)")
            else:
                company.enable_multicurrency()
            return {"realmId": realm, "MultiCurrencyEnabled": company.multicurrency}

    def ctl_post_apps(self, data, req):
        app = self.identity.register_app(data["client_id"], data["client_secret"], data.get("redirect_uris") or [])
        return {"client_id": app["client_id"], "redirect_uris": app["redirect_uris"]}

    def ctl_post_grant(self, data, req):
        """Tokens for one realm without the browser: {client_id?, realm_id?, scopes?}."""
        client_id = data.get("client_id") or seed.DEMO_CLIENT_ID
        if client_id not in self.identity.apps:
            raise ValueError(f"unknown client_id {client_id}")
        realm = data.get("realm_id") or seed.REALM_US
        if realm not in self.companies:
            raise ValueError(f"unknown realm {realm}")
        scopes = (data.get("scopes") or oauth_mod.SCOPE_ACCOUNTING).split()
        return self.identity.create_grant(client_id, realm, scopes)

    def ctl_post_consent(self, data, req):
        """Pre-answer the next ``count`` authorize pages: connect ``realm_id`` (or deny)."""
        realm = data.get("realm_id") or seed.REALM_US
        if realm not in self.companies:
            raise ValueError(f"unknown realm {realm}")
        with self.lock:
            self.auto_consent = {"realm_id": realm, "remaining": int(data.get("count", 1)),
                                 "deny": bool(data.get("deny"))}
        return {"ok": True, "consent": dict(self.auto_consent)}

    def ctl_post_faults(self, data, req):
        kind = data["kind"]
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind}")
        count = int(data.get("count", 1))
        probability = data.get("probability")
        if probability is not None and not 0 <= float(probability) <= 1:
            raise ValueError("probability must be between 0 and 1")
        if kind == "status" and data.get("status") is not None and not 400 <= int(data["status"]) <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        with self.lock:
            self._fault_seq += 1
            fault = {"id": self._fault_seq, "route": data.get("route") or "*", "kind": kind,
                     "status": data.get("status"), "seconds": data.get("seconds"),
                     "seconds_min": data.get("seconds_min"), "seconds_max": data.get("seconds_max"),
                     "probability": None if probability is None else float(probability),
                     "retry_after": data.get("retry_after"), "remaining": count if count > 0 else -1,
                     "hits": 0, "misses": 0, "realm": data.get("realm") or None}
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
                if data.get(k) is not None:
                    self.limiter.limits[k] = int(data[k])
            return dict(self.limiter.limits)

    def ctl_get_limits(self, data, req):
        return dict(self.limiter.limits)

    def ctl_post_webhook(self, data, req):
        unknown = set(data) - {"url", "verifier_token", "drop", "timeout", "retry_delays"}
        if unknown:
            raise ValueError(f"unknown webhook settings {sorted(unknown)}")
        url = data.get("url")
        if url and not is_loopback_url(url):
            raise ValueError("webhook url must be a loopback URL")
        verifier = data.get("verifier_token") or (seed.DEMO_VERIFIER_TOKEN if url else None)
        self.webhooks.configure(url if "url" in data else None, verifier if "url" in data else None,
                                drop=data.get("drop"), timeout=data.get("timeout"),
                                retry_delays=data.get("retry_delays"))
        return {"ok": True, **self.webhooks.status()}

    def ctl_get_webhook(self, data, req):
        return self.webhooks.status()


def required(element):
    from .wire import required as _required
    return _required(element)
