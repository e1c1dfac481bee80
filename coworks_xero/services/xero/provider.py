"""XeroProvider: carries out the engine's work items against one Xero organisation.

It turns ``documents`` objects into payloads (payloads.py), checks them against the cached
reference data (preflight.py), decides what Xero allows (states.py) and sends them in batches
through the client. Every item gets exactly one ``documents.Result``; only connection-wide
failures are raised (as ``provider.ProviderError``).

Exactly once: creates are PUT (create-only, so a second create of the same number is refused by
Xero instead of duplicated), every call carries an Idempotency-Key derived from the jobs, their
recorded answers and the payload (so an unanswered request is repeated with the same key), and an
item whose earlier send may have reached Xero (``WorkItem.may_exist``, committed by the engine
before every send) is looked up (contact by ContactNumber, document by number, payment by
reference and amount) before anything is created again.
"""
from __future__ import annotations

import hashlib
import json
import logging
from decimal import Decimal

from .. import documents as docs
from .. import provider as prov
from . import errors, payloads, preflight, rules, states
from .errors import XeroError

_logger = logging.getLogger(__name__)


def _key(*parts) -> str:
    """A stable Idempotency-Key (≤128 chars) for one call."""
    raw = json.dumps(parts, sort_keys=True, default=str)
    return "cx-" + hashlib.sha256(raw.encode()).hexdigest()


def _result_for(item, result, **details):
    """Re-key a client result to the item and add details."""
    out = docs.Result(ref=item.key, ok=result.ok, remote_id=result.remote_id,
                      remote_number=result.remote_number, remote_status=result.remote_status,
                      error_kind=result.error_kind, message=result.message,
                      details=dict(result.details or {}))
    out.details.update({k: v for k, v in details.items() if v is not None})
    return out


def _fail(item, kind, message, code=None, **details):
    details["error_code"] = code or errors.DEFAULT_CODE_BY_KIND.get(kind, kind)
    return docs.Result(ref=item.key, ok=False, error_kind=kind, message=message, details=details)


def _code(result):
    """The stable code of a result (errors.py decided it); a failed result that came without one
    (built by hand) is coded from its message there, in the same one place."""
    code = (result.details or {}).get("error_code") or ""
    if not code and not result.ok and result.message:
        code = errors.message_code([result.message])
    return code


class XeroProvider(prov.SyncProvider):
    def __init__(self, client, reference=None, no_tax_type=None):
        """``client``: a XeroClient for the organisation; ``reference``: cached reference data
        (dict with Accounts, Items, TaxRates, TrackingCategories, Currencies, Organisation) used to
        check documents before sending, or None to let Xero judge. ``no_tax_type``: the TaxType of
        the rounding adjustment line (default: the organisation's, from its tax rates)."""
        self.client = client
        self.reference = reference
        tax_rates = (reference or {}).get("TaxRates") or []
        self.no_tax_type = no_tax_type or rules.no_tax_type(tax_rates)
        # TaxType -> Xero's rate, so the builder sends a line's tax only where Xero's per-line
        # rounding would differ from the host's (lines that carry their own rate use that).
        self.tax_rates = {t["TaxType"]: rules.xero_rate(t) for t in tax_rates
                          if t.get("TaxType") and rules.xero_rate(t) is not None}
        # Contacts this run saved ({lower ContactID: contact}) and which customer each went to.
        self._saved_contacts = {}
        self._saved_contacts_by_ref = {}

    send_in_thread = True  # run() reads nothing but the client's token store (see the base class)

    def before_send_thread(self):
        try:
            self.client._valid_tokens()  # loaded, and refreshed if about to expire, here
        except Exception:  # noqa: BLE001 - the send itself meets it again and reports it
            pass

    @property
    def daily_remaining(self):
        limiter = getattr(self.client, "limiter", None)
        getter = getattr(limiter, "day_remaining", None)
        try:
            return getter(self.client.tenant_id) if callable(getter) else None
        except Exception:  # noqa: BLE001 - a health figure is never worth failing a sync
            return None

    # ------------------------------------------------------------------ entry points

    def run(self, items):
        results = {}
        groups = {}
        for item in items:
            groups.setdefault((item.kind, item.operation), []).append(item)
        for (kind, operation), group in groups.items():
            handler = getattr(self, f"_{kind}_{operation}", None)
            if handler is None:
                for item in group:
                    results[item.key] = _fail(item, prov.INTERNAL, f"Xero cannot {operation} a {kind}.",
                                              code="internal_error")
                continue
            try:
                for result in handler(group):
                    results[result.ref] = result
            except XeroError as exc:
                self._raise_if_connection_wide(exc)
                for item in group:
                    results.setdefault(item.key, _fail(item, exc.kind, exc.message, code=exc.code))
        return [results.get(item.key) or _fail(item, prov.INTERNAL, "No result.", code="internal_error")
                for item in items]

    def fetch_reference_data(self):
        c = self.client
        return {
            "Organisation": c.get_organisation(),
            "Accounts": c.get_accounts(),
            "Items": c.get_items(),
            "TaxRates": c.get_tax_rates(),
            "TrackingCategories": c.get_tracking_categories(include_archived=True),
            "Currencies": c.get_currencies(),
        }

    def remote_documents(self, kind, remote_ids):
        from .inbound import remote_document
        found = (self.client.get_credit_notes(ids=remote_ids) if kind == docs.KIND_CREDIT_NOTE
                 else self.client.get_invoices(ids=remote_ids))
        out = {}
        for data in found:
            doc = remote_document(data, kind)
            if doc:
                out[doc.remote_id] = doc
        return out

    @staticmethod
    def _raise_if_connection_wide(exc):
        if exc.kind == prov.REAUTH:
            raise prov.ProviderError(prov.REAUTH, exc.message, code=exc.code) from None
        if exc.kind == prov.RETRYABLE:
            # The client already retried within its budget: pause the connection's batch.
            raise prov.ProviderError(prov.RETRYABLE, exc.message,
                                     retry_after=getattr(exc, "retry_after", None),
                                     rate_limited=getattr(exc, "status", None) == 429, code=exc.code) from None

    def _preflight(self, item, obj):
        if not self.reference:
            return None
        problems = preflight.errors(preflight.check(obj, self.reference))
        if problems:
            return _fail(item, prov.MAPPING, preflight.format_problems(problems),
                         code=errors.preflight_code(problems[0].code))
        return None

    # ------------------------------------------------------------------ attachments

    def _attachment_upsert(self, items):
        """The host's PDF onto Xero's copy of the document, one upload a document (Xero takes one
        file a call), exactly once: an item whose earlier send may have reached Xero, or whose
        document may already carry the file (``check_existing``), lists the document's
        attachments first and is done if a file of that name is there. Whatever fails here is
        this item's alone: the document itself is in Xero already."""
        out = []
        for item in items:
            a = item.obj
            size = len(a.content or b"")
            request = {"DocumentID": a.document_remote_id, "Document": a.document_label, "FileName": a.file_name,
                       "MimeType": a.mime_type, "ContentLength": size, "IncludeOnline": a.include_online}
            label = errors.element_label("attachment", None, {"FileName": a.file_name, "Document": a.document_label})
            if size > errors.ATTACHMENT_MAX_BYTES:
                code = errors.ATTACHMENT_TOO_LARGE
                out.append(_fail(item, prov.VALIDATION, errors.with_advice(
                    "%s is %s bytes: Xero accepts attachments of up to 25 MB (%s bytes)." % (
                        label, size, errors.ATTACHMENT_MAX_BYTES), code), code=code, request=request))
                continue
            kind = a.document_kind
            try:
                if a.check_existing or item.may_exist:
                    found = next((x for x in self.client.get_attachments(kind, a.document_remote_id)
                                  if (x.get("FileName") or "") == a.file_name), None)
                    if found:
                        out.append(docs.Result(
                            ref=item.key, ok=True, remote_id=str(found.get("AttachmentID") or ""),
                            remote_number=a.file_name, details={
                                "request": request, "response": found,
                                "notes": ["%s was already in Xero: not uploaded again." % label]}))
                        continue
                digest = hashlib.sha256(a.content).hexdigest()
                result = self.client.upload_attachment(
                    kind, a.document_remote_id, a.file_name, a.content,
                    idempotency_key=_key("attachment", item.key, item.attempt, a.document_remote_id, a.file_name,
                                         digest),
                    include_online=a.include_online, ref=item.key, label=a.document_label)
            except XeroError as exc:
                if exc.kind == prov.REAUTH and exc.status == 403:
                    # The grant works for documents (they went) but not for attachments: the
                    # scope is missing. Not the connection's failure: only attachments wait.
                    code = errors.ATTACHMENTS_SCOPE_MISSING
                    out.append(_fail(item, prov.MAPPING, errors.with_advice(
                        "%s: Xero refused access to attachments (403)." % label, code), code=code, request=request))
                    continue
                if exc.kind == prov.NOT_FOUND:
                    code = errors.DOCUMENT_NOT_FOUND
                    out.append(_fail(item, prov.NOT_FOUND, errors.with_advice(
                        "%s: the document %s is not in Xero." % (label, a.document_remote_id), code),
                        code=code, request=request))
                    continue
                self._raise_if_connection_wide(exc)
                out.append(_fail(item, exc.kind, exc.message, code=exc.code, request=request))
                continue
            out.append(_result_for(item, result, request=request,
                                   response=(result.details or {}).get("element")))
        return out

    # ------------------------------------------------------------------ contacts

    def _contacts_for(self, items):
        """What Xero holds for a batch of customers, read in targeted look-ups, never the whole
        directory: the linked contacts by ContactID (to follow merges and see archiving), the
        unlinked ones by name and email (a few OR-ed ``where`` requests per batch). Returns
        ``(current, found)``: {lower ContactID: contact} and the look-up's contacts, with what
        this run saved already."""
        linked = [i.obj.remote_id for i in items if i.obj.remote_id]
        current = {str(c.get("ContactID") or "").lower(): c for c in self.client.get_contacts(linked)} if linked else {}
        # A linked contact Xero no longer has (or never had in this organisation) is matched again.
        unlinked = [i.obj for i in items if not i.obj.remote_id or i.obj.remote_id.lower() not in current]
        terms = [payloads.contact_lookup_terms(c) for c in unlinked]
        found = self.client.lookup_contacts([t for t in terms if t]) if any(terms) else []
        seen = {str(c.get("ContactID") or "").lower(): c for c in found}
        for contact_id, contact in self._saved_contacts.items():
            seen.setdefault(contact_id, contact)
        return current, list(seen.values())

    def _contact_upsert(self, items):
        current, found = self._contacts_for(items)
        prepared = []  # (item, payload, notes)
        claimed = set(self._saved_contacts_by_ref.values())  # ContactIDs this run gave a customer
        batch_names = []
        for item in items:
            c = item.obj
            notes = []
            remote_id = c.remote_id
            existing = current.get((remote_id or "").lower()) if remote_id else None
            if existing and existing.get("MergedToContactID"):
                # Merged in Xero: the surviving contact is this customer's from now on.
                notes.append(f"merged in Xero into {existing['MergedToContactID']}: linked to that contact")
                remote_id = existing["MergedToContactID"]
            elif existing and (existing.get("ContactStatus") or "ACTIVE") != "ACTIVE":
                notes.append("archived in Xero: restored, since Odoo still invoices this customer")
            elif remote_id and not existing:
                notes.append(f"the linked contact {remote_id} is not in this Xero organisation: matched again")
                remote_id = ""
            taken = [x.get("Name") for x in found if (x.get("ContactStatus") or "ACTIVE") == "ACTIVE"
                     and str(x.get("ContactID") or "").lower() != (remote_id or "").lower()]
            if not remote_id:
                match = payloads.match_contact(c, found, claimed=claimed)
                if match.contact:
                    remote_id = match.contact["ContactID"]
                    notes.append(match.reason)
                taken = match.taken_names
            if remote_id:
                claimed.add(remote_id.lower())
            name = c.name
            new_name = payloads.disambiguate_name(name, c, taken + batch_names)
            if new_name != name:
                notes.append(f"Xero already has an active contact named {name!r}: sent as {new_name!r}")
            batch_names.append(new_name)
            warnings = []
            payload = payloads.contact_payload(c, name=new_name, warnings=warnings)
            if remote_id:
                payload["ContactID"] = remote_id
                payload["ContactStatus"] = "ACTIVE"  # a linked archived contact could not be invoiced
            notes.extend(warnings)
            both_sides = self._contact_edited_on_both_sides(c, existing, payload) if existing else None
            if both_sides:
                notes.insert(0, both_sides)
            prepared.append((item, payload, notes))
        key = _key("contacts", [(i.key, i.attempt) for i, _, _ in prepared], [p for _, p, _ in prepared])
        results = self.client.save_contacts([p for _, p, _ in prepared], key, refs=[i.key for i, _, _ in prepared])
        out = []
        for (item, payload, notes), result in zip(prepared, results):
            if not result.ok and _code(result) == errors.CONTACT_NAME_TAKEN and not payload.get("ContactID"):
                # Xero's names are unique ignoring case, its ``where`` look-up is not: the holder
                # may be this very customer typed otherwise ("ACME Ltd" for "Acme Ltd"). One
                # case-blind search (searchTerm) finds it; it is linked unless another customer
                # owns it.
                same = self._contact_named_otherwise(item.obj, payload["Name"], claimed)
                if same is not None:
                    payload = dict(payload, ContactID=same["ContactID"], Name=same.get("Name") or payload["Name"])
                    claimed.add(str(same["ContactID"]).lower())
                    result = self.client.save_contacts([payload], _key("contact-relink", item.key, payload),
                                                       refs=[item.key])[0]
                    notes.append(f"matched by name ignoring case: Xero's contact {same.get('Name')!r} linked")
            if not result.ok and _code(result) == errors.CONTACT_NAME_TAKEN:
                # Someone took the name since the look-up: one more deterministic try.
                retry_name = payloads.disambiguate_name(payload["Name"], item.obj, [payload["Name"]])
                payload = dict(payload, Name=retry_name)
                result = self.client.save_contacts([payload], _key("contact-rename", item.key, payload),
                                                   refs=[item.key])[0]
                notes.append(f"name already taken in Xero: sent as {retry_name!r}")
            both_sides = notes[0] if notes and " was also edited in Xero " in notes[0] else None
            out.append(_result_for(item, result, name=payload.get("Name"), notes=notes or None,
                                   edited_on_both_sides=both_sides if result.ok else None,
                                   request=payload, response=(result.details or {}).get("element")))
            if result.ok:
                self._remember_contact(item, payload, result)
        return out

    @staticmethod
    def _contact_edited_on_both_sides(customer, existing, payload):
        """The note for a contact edited in Xero after Odoo last sent it and in Odoo since: the
        customer in Odoo is the record of reference (documents.edited_on_both_sides)."""
        if existing.get("MergedToContactID") or (existing.get("ContactStatus") or "ACTIVE") != "ACTIVE":
            return None  # merges and archiving have notes of their own
        changed = payloads.contact_fields_changed(existing, payload)
        edited_at = payloads.parse_xero_datetime(existing.get("UpdatedDateUTC"))
        if not docs.edited_on_both_sides(edited_at, customer.synced_at, bool(changed)):
            return None
        return (f"{customer.name} was also edited in Xero ({edited_at:%Y-%m-%d %H:%M:%S} UTC, after Odoo last sent it "
                f"at {customer.synced_at:%H:%M:%S}): Xero's {', '.join(changed)} replaced by Odoo's, as the customer "
                f"in Odoo is the record of reference. If the change made in Xero was right, make it in Odoo.")

    def _contact_named_otherwise(self, customer, name, claimed):
        """The active Xero contact whose name equals ``name`` ignoring case and spacing, when it
        is free for ``customer`` (no other customer's contact number, not claimed in this run)."""
        wanted = payloads.normalised_name(name)
        for contact in self.client.find_contacts(search_term=name, include_archived=False):
            if (payloads.normalised_name(contact.get("Name") or "") == wanted
                    and (contact.get("ContactStatus") or "ACTIVE") == "ACTIVE"
                    and str(contact.get("ContactID") or "").lower() not in claimed
                    and not payloads.owned_by_another(contact, customer)):
                return contact
        return None

    def _remember_contact(self, item, payload, result):
        """Keep what this run saved, so that the next batches of the run (the provider lives for
        a whole cron run) match and name against it without asking Xero again."""
        if not result.remote_id:
            return
        entry = {"ContactID": result.remote_id, "Name": payload.get("Name"),
                 "ContactNumber": payload.get("ContactNumber"), "EmailAddress": payload.get("EmailAddress"),
                 "ContactStatus": payload.get("ContactStatus", "ACTIVE")}
        element = (result.details or {}).get("element") or {}
        entry.update({k: element[k] for k in entry if element.get(k) is not None})
        self._saved_contacts[result.remote_id.lower()] = entry
        self._saved_contacts_by_ref[item.key] = result.remote_id.lower()

    # ------------------------------------------------------------------ invoices & credit notes

    def _invoice_upsert(self, items):
        return self._document_upsert(items, docs.KIND_INVOICE)

    def _credit_note_upsert(self, items):
        return self._document_upsert(items, docs.KIND_CREDIT_NOTE)

    def _invoice_cancel(self, items):
        return self._document_cancel(items, docs.KIND_INVOICE)

    def _credit_note_cancel(self, items):
        return self._document_cancel(items, docs.KIND_CREDIT_NOTE)

    def _get_documents(self, kind, ids=(), numbers=()):
        if kind == docs.KIND_CREDIT_NOTE:
            found = self.client.get_credit_notes(ids=ids, numbers=numbers)
            return {d.get("CreditNoteID"): d for d in found}, {d.get("CreditNoteNumber"): d for d in found}
        found = self.client.get_invoices(ids=ids, numbers=numbers)
        return {d.get("InvoiceID"): d for d in found}, {d.get("InvoiceNumber"): d for d in found}

    def _remote_state(self, items, kind, by_number=False):
        """Xero's current element per item key: by stored ID, or by number when an earlier
        attempt may have created it without us learning the ID (``by_number``: always look, e.g.
        before cancelling a document whose create may still have reached Xero)."""
        ids = [i.obj.remote_id for i in items if i.obj.remote_id]
        numbers = [i.obj.number for i in items if not i.obj.remote_id and (by_number or i.may_exist)]
        if not ids and not numbers:
            return {}
        by_id, by_number = self._get_documents(kind, ids, numbers)
        state = {}
        for item in items:
            doc = item.obj
            element = by_id.get(doc.remote_id) if doc.remote_id else by_number.get(doc.number)
            if element and not doc.remote_id:
                contact_id = (element.get("Contact") or {}).get("ContactID")
                if not doc.customer.remote_id or (contact_id or "").lower() != doc.customer.remote_id.lower():
                    element = None  # same number, other (or unknown) customer: not ours
            if element:
                state[item.key] = element
        return state

    def _document_upsert(self, items, kind):
        out = {}
        remote = self._remote_state(items, kind)
        creates = []  # (item, payload, report)
        for item in items:
            doc = item.obj
            failure = self._preflight(item, doc)
            if failure:
                out[item.key] = failure
                continue
            try:
                payload, report = payloads.document_payload(doc, no_tax_type=self.no_tax_type,
                                                            tax_rates=self.tax_rates or None)
            except ValueError as exc:
                out[item.key] = _fail(item, prov.VALIDATION, str(exc), code=errors.message_code([str(exc)]))
                continue
            element = remote.get(item.key)
            if element is None:
                creates.append((item, payload, report))
                continue
            out[item.key] = self._update_existing(item, kind, payload, report, element)
        if creates:
            key = _key(kind, "create", [(i.key, i.attempt) for i, _, _ in creates], [p for _, p, _ in creates])
            send = self.client.create_credit_notes if kind == docs.KIND_CREDIT_NOTE else self.client.create_invoices
            results = send([p for _, p, _ in creates], key, refs=[i.key for i, _, _ in creates])
            for (item, payload, report), result in zip(creates, results):
                if not result.ok and _code(result) == errors.INVOICE_NUMBER_TAKEN and item.obj.customer.remote_id:
                    result = self._adopt_existing(item, kind, payload, report) or result
                out[item.key] = self._document_result(item, result, payload, report)
        return [out[item.key] for item in items]

    def _update_existing(self, item, kind, payload, report, element, closed_by_us=False):
        """Bring the Xero copy ``element`` in line with the host's document: nothing when equal,
        update in place when Xero allows it, else void and re-create (see states.plan)."""
        doc = item.obj
        num_key = "CreditNoteNumber" if kind == docs.KIND_CREDIT_NOTE else "InvoiceNumber"
        xero_number = element.get(num_key) or ""
        if xero_number != doc.number and xero_number.startswith(f"{doc.number}-R"):
            # Re-created earlier under a new number: the voided original keeps the host's number.
            payload = dict(payload, **{num_key: xero_number})
        xero_doc = self._xero_doc(element, kind)
        xero_doc.closed_by_us = closed_by_us
        changed = states.changed_against_xero(element, payload)
        wish = states.HostWish(action=states.POST, number=doc.number, status=doc.status,
                               changed=changed,
                               allow_recreate=doc.allow_recreate,
                               our_payment_ids=frozenset(doc.remote_payment_ids),
                               our_allocation_ids=frozenset(doc.remote_allocation_ids))
        result = self._execute(item, kind, states.plan(xero_doc, wish), payload, report, element)
        edited_at = payloads.parse_xero_datetime(element.get("UpdatedDateUTC"))
        if result.ok and docs.edited_on_both_sides(edited_at, doc.synced_at, bool(changed - {states.F_URL})):
            what = ", ".join(sorted(changed - {states.F_URL})).replace("_", " ")
            note = (f"{doc.number} was also edited in Xero ({edited_at:%Y-%m-%d %H:%M} UTC, after Odoo last sent it "
                    f"at {doc.synced_at:%H:%M}): Xero's {what} replaced by Odoo's, which is the document of "
                    f"record. If the change made in Xero was right, make it in Odoo.")
            result.details.setdefault("notes", []).insert(0, note)
            result.details["edited_on_both_sides"] = note
        return result

    def _xero_doc(self, element, kind):
        """Xero's copy as the state machine sees it. An invoice lists the credit notes applied to
        it but not their AllocationIDs (needed to remove them before a void): those credit notes
        are read too."""
        credit_notes = ()
        if kind == docs.KIND_INVOICE and element.get("CreditNotes"):
            ids = {c.get("CreditNoteID") or c.get("ID") for c in element["CreditNotes"]} - {None, ""}
            credit_notes = self.client.get_credit_notes(ids=sorted(ids)) if ids else ()
        return states.XeroDoc.from_xero(element, kind, credit_notes=credit_notes)

    def _adopt_existing(self, item, kind, payload, report):
        """The number exists in Xero: if it is this customer's document (an earlier attempt
        created it), update it instead of failing."""
        _by_id, by_number = self._get_documents(kind, numbers=[item.obj.number])
        element = by_number.get(item.obj.number)
        if not element or (element.get("Contact") or {}).get("ContactID") != item.obj.customer.remote_id:
            return None
        result = self._update_existing(item, kind, payload, report, element)
        result.details.setdefault("notes", []).insert(
            0, f"{item.obj.number} already existed in Xero for this customer: linked and updated it")
        return result

    def _document_result(self, item, result, payload, report, notes=None):
        notes = list(notes or [])
        if report is not None:
            if report.tax_spread:
                notes.append(f"moved {report.tax_spread} of tax onto {len(report.spread_lines)} line(s) so "
                             f"Xero's tax equals Odoo's (Odoo rounds tax globally)")
            if report.adjustment:
                notes.append(f"added a rounding adjustment of {report.adjustment} so Xero's total "
                             f"equals Odoo's")
            notes.extend(report.warnings)
        element = (result.details or {}).get("element") or {}
        if result.ok and element:
            diffs = payloads.reconcile_totals(item.obj, element)
            if diffs:
                notes.append("Xero's totals differ from Odoo's: " + "; ".join(str(d) for d in diffs))
        return _result_for(item, result, notes=notes or None, request=payload, response=element or None)

    def _document_cancel(self, items, kind):
        # A create that timed out and was then cancelled in the host may still be in Xero.
        remote = self._remote_state(items, kind, by_number=True)
        out = []
        for item in items:
            doc = item.obj
            element = remote.get(item.key)
            if element is None:
                out.append(docs.Result(ref=item.key, ok=True, remote_id=doc.remote_id, details={
                    "not_sent": True, "notes": [f"Not sent: {doc.number} was never in Xero, nothing to void."]}))
                continue
            xero_doc = self._xero_doc(element, kind)
            wish = states.HostWish(action=states.CANCEL, number=doc.number,
                                   our_payment_ids=frozenset(doc.remote_payment_ids),
                                   our_allocation_ids=frozenset(doc.remote_allocation_ids))
            out.append(self._execute(item, kind, states.plan(xero_doc, wish), None, None, element))
        return out

    def _execute(self, item, kind, plan, payload, report, element):
        """Carry out a state-machine plan for one document; stop at the first failure."""
        notes = [plan.reason] if plan.steps or plan.blocked or plan.needs_attention else []
        doc_id = element.get("CreditNoteID" if kind == docs.KIND_CREDIT_NOTE else "InvoiceID")
        last = docs.Result(ref=item.key, ok=True, remote_id=doc_id,
                           remote_number=element.get("CreditNoteNumber" if kind == docs.KIND_CREDIT_NOTE
                                                     else "InvoiceNumber") or "",
                           remote_status=element.get("Status") or "", details={"element": element})
        if plan.blocked:
            return _fail(item, prov.CONFLICT, plan.reason.rstrip(" .") + ".",
                         code=errors.status_code(element.get("Status")),
                         request=payload, response=element)
        is_credit = kind == docs.KIND_CREDIT_NOTE
        for index, step in enumerate(plan.steps):
            key = _key(item.key, item.attempt, index, step.action, step.target, payload)
            if step.action == states.A_DELETE_PAYMENT:
                last = self.client.delete_payment(step.target, key, ref=item.key)
            elif step.action == states.A_REMOVE_ALLOCATION:
                last = self.client.delete_credit_note_allocation(step.param("credit_note_id"), step.target,
                                                                 ref=item.key)
            elif step.action == states.A_VOID:
                last = (self.client.void_credit_note if is_credit else self.client.void_invoice)(
                    step.target, key, ref=item.key)
            elif step.action == states.A_DELETE:
                last = (self.client.delete_credit_note if is_credit else self.client.delete_invoice)(
                    step.target, key, ref=item.key)
            elif step.action == states.A_UPDATE:
                body = dict(payload or {}, Status=step.param("status") or "AUTHORISED")
                update = self.client.update_credit_note if is_credit else self.client.update_invoice
                last = update(step.target, body, key, ref=item.key)
            elif step.action == states.A_CREATE:
                body = dict(payload or {})
                body.pop("CreditNoteID" if is_credit else "InvoiceID", None)
                body["CreditNoteNumber" if is_credit else "InvoiceNumber"] = step.param("number") or item.obj.number
                body["Status"] = step.param("status") or "AUTHORISED"
                send = self.client.create_credit_notes if is_credit else self.client.create_invoices
                last = send([body], key, refs=[item.key])[0]
                payload = body
            elif step.action == states.A_REPUSH_PAYMENTS:
                notes.append("the removed payments are sent again onto the new document")
                last.details = dict(last.details or {}, repush_payments=list(step.param("payment_ids") or []),
                                    repush_allocations=list(step.param("allocation_ids") or []))
                continue
            if not last.ok:
                return _result_for(item, last, notes=notes + [f"stopped at: {step.reason}"],
                                   request=payload)
            if step.reason:
                notes.append(step.reason)
        return self._document_result(item, last, payload, report, notes)

    # ------------------------------------------------------------------ payments & refunds

    def _payment_upsert(self, items):
        return self._money_upsert(items)

    def _refund_upsert(self, items):
        return self._money_upsert(items)

    def _overpayment_refund_upsert(self, items):
        """Customer credit paid back: a Payment out of the Overpayment (AROVERPAYMENTPAYMENT)."""
        return self._money_upsert(items)

    def _money_upsert(self, items):
        out = {}
        todo = []
        existing = self._existing_payments([i for i in items if i.may_exist])
        for item in items:
            p = item.obj
            found = existing.get(item.key)
            if found:
                out[item.key] = docs.Result(ref=item.key, ok=True, remote_id=found["PaymentID"],
                                            remote_status=found.get("Status", ""),
                                            details={"notes": ["found in Xero from an earlier attempt"]})
                continue
            failure = self._preflight(item, p)
            if failure:
                out[item.key] = failure
                continue
            try:
                todo.append((item, payloads.payment_payload(p)))
            except ValueError as exc:
                out[item.key] = _fail(item, prov.VALIDATION, str(exc))
        if todo:
            key = _key("payments", [(i.key, i.attempt) for i, _ in todo], [p for _, p in todo])
            results = self.client.create_payments([p for _, p in todo], key, refs=[i.key for i, _ in todo])
            refused = [(item, result) for (item, _p), result in zip(todo, results)
                       if not result.ok and _code(result) in _MONEY_REFUSALS]
            explained = self._explain_money_refusals(refused) if refused else {}
            for (item, payload), result in zip(todo, results):
                result = explained.get(item.key, result)
                out[item.key] = _result_for(item, result, request=payload,
                                            response=(result.details or {}).get("element"))
        return [out[item.key] for item in items]

    def _explain_money_refusals(self, refused):
        """A payment Xero refused as too large or on a document it cannot pay: read the documents
        back (one call per kind) and say what Xero holds - paid already (by hand in Xero, usually),
        voided, not approved, or less due than Odoo pays - instead of Xero's generic words."""
        out = {}
        try:
            elements = {}
            for kind in (docs.KIND_INVOICE, docs.KIND_CREDIT_NOTE):
                ids = [i.obj.document_remote_id for i, _r in refused if i.obj.document_kind == kind]
                if ids:
                    elements.update(self._get_documents(kind, ids=ids)[0])
            elements.update(self._overpayments_by_id(
                [i.obj.document_remote_id for i, _r in refused if i.obj.document_kind == docs.KIND_OVERPAYMENT]))
        except XeroError as exc:
            self._raise_if_connection_wide(exc)
            return out
        for item, result in refused:
            p = item.obj
            element = elements.get(p.document_remote_id) or {}
            due = element.get("AmountDue") if p.document_kind == docs.KIND_INVOICE else element.get("RemainingCredit")
            code = errors.payment_refusal_code(element.get("Status"), due, payloads.round_half_up(p.amount, 2))
            if not code:
                continue
            number = (element.get("InvoiceNumber") or element.get("CreditNoteNumber") or element.get("Reference")
                      or p.document_remote_id)
            noun = {docs.KIND_INVOICE: "invoice", docs.KIND_OVERPAYMENT: "overpayment"}.get(p.document_kind,
                                                                                           "credit note")
            facts = {errors.ALREADY_PAID: f"{noun} {number} is already fully paid in Xero",
                     errors.DOCUMENT_VOIDED_IN_XERO: f"{noun} {number} is {str(element.get('Status')).lower()} in Xero",
                     errors.DOCUMENT_NOT_APPROVED: f"{noun} {number} is {str(element.get('Status')).lower()} in Xero, "
                                                   "not approved",
                     errors.OVERPAYMENT: (f"only {due} is left of {noun} {number} in Xero"
                                          if p.document_kind == docs.KIND_OVERPAYMENT
                                          else f"only {due} is still due on {noun} {number} in Xero")}[code]
            message = errors.with_advice(f"Payment of {payloads.round_half_up(p.amount, 2)}: {facts}.", code)
            if p.document_kind == docs.KIND_OVERPAYMENT and code in (errors.ALREADY_PAID, errors.OVERPAYMENT):
                # Customer credit paid back: what is left of it in Xero is less than Odoo refunds.
                code = errors.CREDIT_EXHAUSTED
                message = (f"Refund of {payloads.round_half_up(p.amount, 2)} out of overpayment {number}: only "
                           f"{due or 0} of that customer credit is left in Xero — part of it was applied to an "
                           "invoice or refunded in Xero by hand. Remove that allocation or refund in Xero (open the "
                           "overpayment), or un-reconcile the refund in Odoo, then Retry.")
            out[item.key] = docs.Result(ref=result.ref, ok=False, error_kind=result.error_kind, message=message,
                                        details=dict(result.details or {}, error_code=code,
                                                     xero_said=result.message))
        return out

    def _existing_payments(self, items):
        """Payments an earlier, unanswered attempt may have created: same document, amount,
        date and reference."""
        if not items:
            return {}
        found = {}
        invoices = [i for i in items if i.obj.document_kind == docs.KIND_INVOICE]
        credits = [i for i in items if i.obj.document_kind == docs.KIND_CREDIT_NOTE]
        elements = {}
        if invoices:
            by_id, _ = self._get_documents(docs.KIND_INVOICE, ids=[i.obj.document_remote_id for i in invoices])
            elements.update(by_id)
        if credits:
            by_id, _ = self._get_documents(docs.KIND_CREDIT_NOTE, ids=[i.obj.document_remote_id for i in credits])
            elements.update(by_id)
        elements.update(self._overpayments_by_id(
            [i.obj.document_remote_id for i in items if i.obj.document_kind == docs.KIND_OVERPAYMENT]))
        taken = set()  # a Xero payment is the answer to one host payment at most
        for item in items:
            p = item.obj
            for payment in (elements.get(p.document_remote_id) or {}).get("Payments") or []:
                pid = payment.get("PaymentID")
                if not pid or pid in taken or pid in p.known_remote_ids:
                    continue
                same_amount = Decimal(str(payment.get("Amount") or 0)) == payloads.round_half_up(p.amount, 2)
                paid_on = payloads.parse_xero_date(payment.get("Date"))
                same_date = paid_on is None or paid_on == p.date
                if same_amount and same_date and (payment.get("Reference") or "") == (p.reference or "") \
                        and payment.get("Status", "AUTHORISED") != "DELETED":
                    found[item.key] = payment
                    taken.add(pid)
                    break
        return found

    def _overpayments_by_id(self, ids):
        """{OverpaymentID: overpayment} as Xero holds them (with their Payments and RemainingCredit);
        keyed by the IDs as asked."""
        if not ids:
            return {}
        found = {str(o.get("OverpaymentID") or "").lower(): o for o in self.client.get_overpayments(ids=sorted(set(ids)))}
        return {i: found[i.lower()] for i in ids if i.lower() in found}

    def _payment_cancel(self, items):
        return self._money_cancel(items)

    def _refund_cancel(self, items):
        return self._money_cancel(items)

    def _overpayment_refund_cancel(self, items):
        return self._money_cancel(items)

    def _money_cancel(self, items):
        out = []
        for item in items:
            p = item.obj
            if not p.remote_id:
                out.append(docs.Result(ref=item.key, ok=True, details={
                    "not_sent": True, "notes": ["Not sent: it was never in Xero, nothing to delete."]}))
                continue
            result = self.client.delete_payment(p.remote_id, _key(item.key, item.attempt, "delete"), ref=item.key)
            if not result.ok and _already_gone(result):
                result = docs.Result(ref=item.key, ok=True, remote_id=p.remote_id,
                                     details={"notes": ["already gone from Xero"]})
            out.append(_result_for(item, result))
        return out

    # ------------------------------------------------------------------ credit allocations

    def _allocation_upsert(self, items):
        """One call per credit note (Xero takes several allocations of one credit note at once).
        An item whose earlier attempt may have reached Xero is first looked for on the credit note."""
        return self._allocate(
            items, self._existing_allocations, payloads.allocation_payload, lambda a: a.credit_note_remote_id,
            "allocations", self.client.allocate_credit_note,
            "Xero cannot apply this credit note: the invoice is already fully paid in Xero (a credit note can "
            "only be applied to an amount still due). Remove the payment that over-settles it (in Xero if it "
            "was entered there, or un-reconcile it in Odoo), then Retry; or refund the credit note instead of "
            "applying it.")

    def _allocate(self, items, find_existing, build, credit_of, key_prefix, allocate, paid_off_message):
        """Allocations of credit (credit notes, overpayments) to invoices: what an unanswered
        attempt already made is taken as it is, the rest goes in one call per credit."""
        out = {}
        existing = find_existing([i for i in items if i.may_exist])
        by_credit = {}
        for item in items:
            a = item.obj
            found = existing.get(item.key)
            if found:
                out[item.key] = docs.Result(ref=item.key, ok=True, remote_id=found.get("AllocationID") or "",
                                            details={"notes": ["found in Xero from an earlier attempt"]})
                continue
            failure = self._preflight(item, a)
            if failure:
                out[item.key] = failure
                continue
            try:
                payload = build(a)
            except ValueError as exc:
                out[item.key] = _fail(item, prov.VALIDATION, str(exc))
                continue
            by_credit.setdefault(credit_of(a), []).append((item, payload))
        for credit_id, todo in by_credit.items():
            key = _key(key_prefix, credit_id, [(i.key, i.attempt) for i, _ in todo], [p for _, p in todo])
            results = allocate(credit_id, [p for _, p in todo], key, refs=[i.key for i, _ in todo])
            for (item, payload), result in zip(todo, results):
                if not result.ok and _code(result) == errors.ALREADY_PAID:
                    result = docs.Result(ref=item.key, ok=False, error_kind=prov.CONFLICT, details=result.details,
                                         message=f"{paid_off_message} Xero said: {result.message}")
                out[item.key] = _result_for(item, result, request=payload,
                                            response=(result.details or {}).get("element"))
        return [out[item.key] for item in items]

    def _existing_allocations(self, items):
        """Allocations an earlier, unanswered attempt may have made: same credit note, invoice,
        amount and date."""
        if not items:
            return {}
        by_id, _ = self._get_documents(docs.KIND_CREDIT_NOTE, ids=[i.obj.credit_note_remote_id for i in items])
        found = {}
        taken = set()
        for item in items:
            a = item.obj
            for alloc in (by_id.get(a.credit_note_remote_id) or {}).get("Allocations") or []:
                aid = alloc.get("AllocationID")
                if not aid or aid in taken or aid in a.known_remote_ids:
                    continue
                same = ((alloc.get("Invoice") or {}).get("InvoiceID") == a.invoice_remote_id
                        and Decimal(str(alloc.get("Amount") or 0)) == payloads.round_half_up(a.amount, 2)
                        and payloads.parse_xero_date(alloc.get("Date")) == a.date)
                if same:
                    found[item.key] = alloc
                    taken.add(aid)
                    break
        return found

    def _allocation_cancel(self, items):
        out = []
        for item in items:
            a = item.obj
            if not a.remote_id:
                out.append(docs.Result(ref=item.key, ok=True, details={
                    "not_sent": True, "notes": ["Not sent: it was never in Xero, nothing to remove."]}))
                continue
            try:
                result = self.client.delete_credit_note_allocation(a.credit_note_remote_id, a.remote_id,
                                                                   ref=item.key)
            except XeroError as exc:
                self._raise_if_connection_wide(exc)
                result = docs.Result(ref=item.key, ok=False, error_kind=exc.kind, message=exc.message,
                                     details={"error_code": exc.code})
            if not result.ok and _already_gone(result):
                result = docs.Result(ref=item.key, ok=True, remote_id=a.remote_id,
                                     details={"notes": ["already gone from Xero"]})
            out.append(_result_for(item, result))
        return out

    # ------------------------------------------------------------------ overpayments (customer credit)

    def _overpayment_upsert(self, items):
        """Customer credit → PUT /BankTransactions (RECEIVE-OVERPAYMENT), one call per batch. The
        Result's remote_id is the OverpaymentID (what allocations name); the BankTransactionID that
        voids it goes in ``details['bank_transaction_id']``. An item whose earlier send may have
        reached Xero is first looked for by its reference."""
        out = {}
        todo = []
        existing = self._existing_overpayments([i for i in items if i.may_exist])
        for item in items:
            o = item.obj
            found = existing.get(item.key)
            if found:
                out[item.key] = docs.Result(ref=item.key, ok=True, remote_id=found["OverpaymentID"],
                                            remote_status=found.get("Status", ""),
                                            details={"notes": ["found in Xero from an earlier attempt"],
                                                     "bank_transaction_id": found.get("_bank_transaction_id") or ""})
                continue
            failure = self._preflight(item, o)
            if failure:
                out[item.key] = failure
                continue
            try:
                todo.append((item, payloads.overpayment_payload(o)))
            except ValueError as exc:
                out[item.key] = _fail(item, prov.VALIDATION, str(exc))
        if todo:
            key = _key("overpayments", [(i.key, i.attempt) for i, _ in todo], [p for _, p in todo])
            results = self.client.create_bank_transactions([p for _, p in todo], key, refs=[i.key for i, _ in todo])
            for (item, payload), result in zip(todo, results):
                element = (result.details or {}).get("element") or {}
                if result.ok:
                    overpayment_id = element.get("OverpaymentID") or ""
                    if not overpayment_id:
                        out[item.key] = _fail(item, prov.CONFLICT,
                                              "Xero created bank transaction %s but its answer named no overpayment; "
                                              "check it in Xero before sending again." % result.remote_id,
                                              request=payload, response=element)
                        continue
                    out[item.key] = docs.Result(
                        ref=item.key, ok=True, remote_id=overpayment_id, remote_status=element.get("Status", ""),
                        details={"bank_transaction_id": result.remote_id, "request": payload, "response": element})
                else:
                    out[item.key] = _result_for(item, result, request=payload, response=element or None)
        return [out[item.key] for item in items]


    def _existing_overpayments(self, items):
        """Overpayments an earlier, unanswered attempt may have created: same reference (or line
        description), contact, amount and date, not voided, not owned by another host credit."""
        if not items:
            return {}
        refs = sorted({i.obj.reference for i in items if i.obj.reference})
        candidates = self.client.get_overpayments(references=refs) if refs else []
        found = {}
        taken = set()
        for item in items:
            o = item.obj
            for ovp in candidates:
                oid = ovp.get("OverpaymentID")
                if not oid or oid in taken or oid in o.known_remote_ids or ovp.get("Status") == "VOIDED":
                    continue
                lines = ovp.get("LineItems") or []
                same_ref = (ovp.get("Reference") or "") == o.reference or any(
                    (ln.get("Description") or "") == (o.description or o.reference) for ln in lines)
                same = (same_ref and (ovp.get("Contact") or {}).get("ContactID") == o.contact_remote_id
                        and Decimal(str(ovp.get("Total") or 0)) == payloads.round_half_up(o.amount, 2)
                        and payloads.parse_xero_date(ovp.get("Date")) in (None, o.date))
                if same:
                    found[item.key] = dict(ovp, _bank_transaction_id=self._bank_transaction_of(oid))
                    taken.add(oid)
                    break
        return found


    def _bank_transaction_of(self, overpayment_id):
        """The BankTransactionID that created an overpayment ("" if Xero does not say)."""
        for bt in self.client.get_bank_transactions(where='OverpaymentID==Guid("%s")' % overpayment_id):
            if (bt.get("OverpaymentID") or "").lower() == overpayment_id.lower():
                return bt.get("BankTransactionID") or ""
        return ""


    def _overpayment_cancel(self, items):
        """Void: delete the bank transaction that created the overpayment (Xero voids it). Xero refuses
        while any of it is allocated: what Odoo allocated is removed first (its removals run before),
        what someone applied in Xero is named in the job so a person can remove it there."""
        out = []
        ids = [i.obj.remote_id for i in items if i.obj.remote_id]
        found = self.client.get_overpayments(ids=ids) if ids else []
        current = {str(o.get("OverpaymentID") or "").lower(): o for o in found}
        for item in items:
            o = item.obj
            if not o.remote_id:
                out.append(docs.Result(ref=item.key, ok=True, details={"notes": ["never in Xero: nothing to void"]}))
                continue
            ovp = current.get(o.remote_id.lower())
            if ovp is None or ovp.get("Status") == "VOIDED":
                note = "already voided in Xero" if ovp else "not in Xero any more"
                out.append(docs.Result(ref=item.key, ok=True, remote_id=o.remote_id, remote_status="VOIDED",
                                       details={"notes": [note]}))
                continue
            allocated = [a for a in ovp.get("Allocations") or [] if not a.get("IsDeleted")]
            if allocated:
                names = ", ".join("%s (%s)" % ((a.get("Invoice") or {}).get("InvoiceNumber") or "?", a.get("Amount"))
                                  for a in allocated)
                out.append(_fail(item, prov.CONFLICT,
                                 "Xero cannot void overpayment %s: part of it is applied to invoice(s) %s in Xero. "
                                 "Odoo no longer applies this payment to them: remove those allocations in Xero "
                                 "(open the overpayment, then remove each allocation), then Retry."
                                 % (o.reference or o.remote_id, names), response=ovp))
                continue
            refunds = [p for p in ovp.get("Payments") or [] if p.get("Status", "AUTHORISED") != "DELETED"]
            if refunds:
                names = ", ".join("%s (%s)" % (p.get("Reference") or p.get("PaymentID") or "?", p.get("Amount"))
                                  for p in refunds)
                out.append(_fail(item, prov.CONFLICT,
                                 "Xero cannot void overpayment %s: part of it was refunded in Xero (payment(s) %s). "
                                 "Odoo has no such refund of this payment: remove those refund payments in Xero "
                                 "(open the overpayment, then each payment, Options > Remove), then Retry."
                                 % (o.reference or o.remote_id, names), response=ovp))
                continue
            bt_id = o.transaction_remote_id or self._bank_transaction_of(o.remote_id)
            if not bt_id:
                out.append(_fail(item, prov.CONFLICT,
                                 "Xero did not say which bank transaction created overpayment %s: void it in Xero "
                                 "(Business > Overpayments), then Retry." % (o.reference or o.remote_id)))
                continue
            try:
                body = payloads.overpayment_payload(o)
            except ValueError as exc:
                out.append(_fail(item, prov.VALIDATION, str(exc)))
                continue
            result = self.client.delete_bank_transaction(bt_id, body, _key(item.key, item.attempt, "void"),
                                                         ref=item.key)
            if not result.ok and _code(result) == errors.ALREADY_DELETED:
                result = docs.Result(ref=item.key, ok=True, remote_id=o.remote_id,
                                     details={"notes": ["already voided in Xero"]})
            elif not result.ok and _code(result) == errors.RECONCILED_IN_XERO:
                result = docs.Result(
                    ref=item.key, ok=False, error_kind=prov.CONFLICT, details=result.details,
                    message=("Xero cannot void overpayment %s: it is reconciled with a bank statement line in Xero. "
                             "Unreconcile it in Xero (Accounting > Bank accounts), then Retry. Xero said: %s"
                             % (o.reference or o.remote_id, result.message)))
            elif result.ok:
                result = docs.Result(ref=item.key, ok=True, remote_id=o.remote_id, remote_status="VOIDED",
                                     details=dict(result.details or {}, bank_transaction_id=bt_id))
            out.append(_result_for(item, result))
        return out


    def _overpayment_allocation_upsert(self, items):
        """One call per overpayment (Xero takes several allocations of one overpayment at once)."""
        return self._allocate(
            items, self._existing_credit_allocations, payloads.credit_allocation_payload,
            lambda a: a.credit_remote_id, "overpayment-allocations", self.client.allocate_overpayment,
            "Xero cannot apply this overpayment: the invoice is already fully paid in Xero. Remove the payment "
            "or credit that over-settles it (in Xero if it was entered there, or un-reconcile it in Odoo), "
            "then Retry.")

    def _existing_credit_allocations(self, items):
        """Allocations an earlier, unanswered attempt may have made: same overpayment, invoice,
        amount and date."""
        if not items:
            return {}
        by_id = {str(o.get("OverpaymentID") or "").lower(): o
                 for o in self.client.get_overpayments(ids=sorted({i.obj.credit_remote_id for i in items}))}
        found = {}
        taken = set()
        for item in items:
            a = item.obj
            for alloc in (by_id.get(a.credit_remote_id.lower()) or {}).get("Allocations") or []:
                aid = alloc.get("AllocationID")
                if not aid or aid in taken or aid in a.known_remote_ids:
                    continue
                if ((alloc.get("Invoice") or {}).get("InvoiceID") == a.invoice_remote_id
                        and Decimal(str(alloc.get("Amount") or 0)) == payloads.round_half_up(a.amount, 2)
                        and payloads.parse_xero_date(alloc.get("Date")) == a.date):
                    found[item.key] = alloc
                    taken.add(aid)
                    break
        return found


    def _overpayment_allocation_cancel(self, items):
        out = []
        for item in items:
            a = item.obj
            if not a.remote_id:
                out.append(docs.Result(ref=item.key, ok=True))
                continue
            try:
                result = self.client.delete_overpayment_allocation(a.credit_remote_id, a.remote_id, ref=item.key)
            except XeroError as exc:
                self._raise_if_connection_wide(exc)
                result = docs.Result(ref=item.key, ok=False, error_kind=exc.kind, message=exc.message)
            if not result.ok and _already_gone(result):
                result = docs.Result(ref=item.key, ok=True, remote_id=a.remote_id,
                                     details={"notes": ["already gone from Xero"]})
            out.append(_result_for(item, result))
        return out


_MONEY_REFUSALS = (errors.OVERPAYMENT, errors.ALREADY_PAID, errors.DOCUMENT_NOT_APPROVED,
                   errors.DOCUMENT_VOIDED_IN_XERO)


def _already_gone(result):
    """Xero says the payment or allocation is not there any more (404, or its words for it)."""
    return _code(result) in (errors.DOCUMENT_NOT_FOUND, errors.ALREADY_DELETED, errors.NOT_FOUND_CODE)
