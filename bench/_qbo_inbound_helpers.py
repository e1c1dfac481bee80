"""bench/inbound.py's QuickBooks Online side (``--provider qbo``); imported by it, never run alone.

The emulator runs as its own process (bench/qbo_soak.py's QboEmulatorProcess), the soak company
(USD) is connected to its US company by bench/_qbo_soak_setup.py, webhooks are Intuit's signed
data-change notifications to ``/coworks_xero/qbo/webhook`` (verifier token in the system parameter
coworks_xero.qbo_webhook_verifier), and the pull is Change Data Capture. The person at the front
desk is another app registered with the emulator (its own 500-a-minute budget, as QuickBooks' UI
does not spend this integration's), entering payments with POST /payment (and, in the
bank-reconciliation session, POST /batch of 30 payments, Intuit's most)."""
import datetime
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from fault_soak import emu_ctl, shell
from qbo_emulator.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, REALM_US
from qbo_soak import SETUP, QboEmulatorProcess

V3 = "/v3/"
VERIFIER = "bench-inbound-qbo-verifier-token"
FRONT_DESK = ("bench-front-desk", "bench-front-desk-secret")
BATCH = 30


class QboFrontDesk:
    """A person entering payments in QuickBooks (through the emulator's API, as its own app)."""

    def __init__(self, base, realm=REALM_US):
        self.base, self.realm = base, realm
        emu_ctl(base, "POST", "apps", {"client_id": FRONT_DESK[0], "client_secret": FRONT_DESK[1],
                                       "redirect_uris": []})
        self._grant()
        self.paid_for = {}  # QuickBooks Payment Id -> the Invoice Id it pays
        # Each invoice's customer, read once now (before anything is measured).
        self.customer = {}
        start = 1
        while True:
            text = f"SELECT * FROM Invoice STARTPOSITION {start} MAXRESULTS 1000"
            rows = self._call("GET", "query", params={"query": text})["QueryResponse"].get("Invoice") or []
            self.customer.update({r["Id"]: r["CustomerRef"] for r in rows})
            if len(rows) < 1000:
                break
            start += 1000

    def _grant(self):
        self.token = emu_ctl(self.base, "POST", "grant", {"client_id": FRONT_DESK[0],
                                                          "realm_id": self.realm})["access_token"]

    def _call(self, method, resource, body=None, params=None):
        """-> the answer (self.answered: the time QuickBooks answered)."""
        query = urllib.parse.urlencode(dict(params or {}, minorversion=75))
        url = f"{self.base}{V3}company/{self.realm}/{resource}?{query}"
        for _try in range(20):
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(url, method=method, data=data, headers={
                "Authorization": "Bearer " + self.token, "Accept": "application/json",
                "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    answer = json.loads(resp.read())
                    self.answered = time.time()
                    return answer
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    self._grant()
                    continue
                if exc.code == 429:
                    time.sleep(float(exc.headers.get("Retry-After") or 1))
                    continue
                raise RuntimeError(f"QuickBooks answered {exc.code} to {method} {resource}: {exc.read()[:500]!r}")
        raise RuntimeError("the front desk could not enter its payments")

    def _payment(self, inv, amount, ref):
        return {"CustomerRef": self.customer[inv], "TotalAmt": f"{amount:.2f}",
                "TxnDate": datetime.date.today().isoformat(), "DepositToAccountRef": {"value": "35"},
                "PaymentRefNum": ref[:21],
                "Line": [{"Amount": f"{amount:.2f}", "LinkedTxn": [{"TxnId": inv, "TxnType": "Invoice"}]}]}

    def pay(self, payments):
        """One payment: POST /payment; more: POST /batch (30 a request). -> the time QuickBooks
        answered the last request (the change is made then)."""
        if len(payments) == 1:
            inv, amount, ref = payments[0]
            paid = self._call("POST", "payment", self._payment(inv, amount, ref))["Payment"]
            self.paid_for[paid["Id"]] = inv
            return self.answered
        for start in range(0, len(payments), BATCH):
            chunk = payments[start:start + BATCH]
            items = [{"bId": str(i), "operation": "create", "Payment": self._payment(inv, amount, ref)}
                     for i, (inv, amount, ref) in enumerate(chunk)]
            answer = self._call("POST", "batch", {"BatchItemRequest": items})["BatchItemResponse"]
            bad = [a for a in answer if "Fault" in a]
            if bad:
                raise RuntimeError(f"QuickBooks refused payments: {bad[:2]}")
            for a in answer:
                self.paid_for[a["Payment"]["Id"]] = chunk[int(a["bId"])][0]
        return self.answered


class QboSide:
    """What bench/inbound.py needs of a provider, for QuickBooks Online."""
    name, label, allows = "qbo", "QuickBooks", "(QuickBooks allows 500)"
    desk_routes = ("POST /payment", "POST /batch")  # the front desk's writes, not Odoo's calls
    next_read = "Odoo's next read of the invoices"

    def __init__(self, args, workdir):
        self.process = QboEmulatorProcess(args, workdir).start()
        self.base = self.process.base_url
        self.desk = None

    def setup(self, args, db, odoo_url, customers):
        shell(args, db, {"SOAK_STEP": "base", "SOAK_CUSTOMERS": str(customers)}, script_name=SETUP)
        return shell(args, db, {"SOAK_STEP": "connect", "SOAK_EMU": self.base, "SOAK_ODOO_URL": odoo_url,
                                "SOAK_REALM": REALM_US, "SOAK_CLIENT_ID": DEMO_CLIENT_ID,
                                "SOAK_CLIENT_SECRET": DEMO_CLIENT_SECRET, "SOAK_CUSTOMERS": "0"}, script_name=SETUP)

    def webhooks_on(self, rpc, odoo_url):
        """The verifier token pasted in Settings and in Intuit's developer portal (no Intent-to-Receive
        in QuickBooks)."""
        rpc("ir.config_parameter", "set_param", "coworks_xero.qbo_webhook_verifier", VERIFIER)
        emu_ctl(self.base, "POST", "webhook", {"url": odoo_url + "/coworks_xero/qbo/webhook",
                                               "verifier_token": VERIFIER})

    def front_desk(self):
        self.desk = QboFrontDesk(self.base)
        return self.desk

    def calls(self):
        """The accounting API's calls so far (not OAuth, not the emulator's controls)."""
        return [r for r in self.process.requests() if r["path"].startswith(V3)]

    def delivered(self, deliveries):
        """-> {Invoice Id: when Odoo answered the first delivery naming a payment on it}: Intuit's
        notification names the Payment made, not the invoice it changed (the emulator records a
        delivery's time once its answer is in)."""
        out = {}
        for d in deliveries:
            if not d["ok"]:
                continue
            for note in d["body"].get("eventNotifications") or []:
                for ent in (note.get("dataChangeEvent") or {}).get("entities") or []:
                    inv = self.desk.paid_for.get(ent["id"]) if ent.get("name") == "Payment" else None
                    if inv:
                        out.setdefault(inv, d["at"])
        return out

    @staticmethod
    def is_read(call):
        """Is this logged call Odoo reading invoices? After a notification Odoo reads the Payment it
        names, then the invoices that payment links (a query ``SELECT * FROM Invoice WHERE Id IN``)."""
        if call["route"] == "GET /invoice":
            return True
        text = urllib.parse.parse_qs(call.get("query") or "").get("query", [""])[0]
        return call["route"] == "GET /query" and "from invoice" in text.lower()

    @staticmethod
    def is_pull_read(route):
        return route.startswith("GET ")  # the Change Data Capture, then what it named

    def stop(self):
        self.process.stop()
