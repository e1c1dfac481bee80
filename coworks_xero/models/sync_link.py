"""Which remote record an Odoo record is, per connection.

A remote ID (a Xero InvoiceID, a ContactID) means something in one organisation only: the link
row ties it to the connection, and a connection is bound to one organisation for life (the
OAuth callback refuses another tenant; a company starts over with a new connection). So
connecting a company to another organisation never sends the old one's IDs, and reconnecting
to the same one finds them again (``_adopt_links_of_tenant``). Provider-neutral on purpose: a
second provider's connection keeps its IDs here the same way.

Host models read their links through ``coworks.sync.linked.mixin`` (the ``xero_*`` fields
shown on documents are computed from it) and write them through ``_coworks_link_write``, one
SQL upsert per record, from the worker's write-back.
"""
from odoo import api, fields, models
from odoo.tools import SQL

# Columns a write-back may set; anything else is refused (the SQL below is built from these names).
LINK_VALUE_FIELDS = ("remote_id", "remote_number", "remote_status", "remote_name",
                     "remote_amount_due", "remote_status_at", "synced_at")


class CoworksSyncLink(models.Model):
    _name = "coworks.sync.link"
    _description = "Link to a remote record"
    _order = "id"

    connection_id = fields.Many2one("coworks.sync.connection", required=True, index=True,
                                    ondelete="cascade", readonly=True)
    company_id = fields.Many2one(related="connection_id.company_id", store=True, index=True)
    provider = fields.Selection(related="connection_id.provider")
    res_model = fields.Char("Model", required=True, readonly=True)
    res_id = fields.Many2oneReference("Record ID", model_field="res_model", required=True, readonly=True)
    remote_id = fields.Char("Remote ID", index="btree_not_null", readonly=True)
    remote_number = fields.Char("Remote number", readonly=True)
    remote_status = fields.Char("Remote status", readonly=True)
    remote_name = fields.Char("Remote name", readonly=True)
    remote_amount_due = fields.Float("Remote amount due", readonly=True)
    remote_status_at = fields.Datetime("Remote status as of", readonly=True)
    synced_at = fields.Datetime("Last synced", readonly=True)

    _record_unique = models.Constraint(
        "UNIQUE(connection_id, res_model, res_id)",
        "A record has one link per connection.")
    _remote_lookup = models.Index("(connection_id, res_model, lower(remote_id)) WHERE remote_id IS NOT NULL")

    @api.model
    def _upsert(self, conn, res_model, values_by_res_id):
        """Set link values of records of ``res_model`` for ``conn``: ``{res_id: {field: value}}``.

        One statement per distinct set of fields; the ORM cache of links and of the host fields
        computed from them is invalidated."""
        groups = {}
        for res_id, vals in values_by_res_id.items():
            unknown = set(vals) - set(LINK_VALUE_FIELDS)
            if unknown:
                raise ValueError(f"not link fields: {sorted(unknown)}")
            groups.setdefault(tuple(sorted(vals)), []).append((res_id, vals))
        now = fields.Datetime.now()
        uid = self.env.uid
        for names, rows in groups.items():
            columns = SQL(", ").join(SQL.identifier(n) for n in names)
            updates = SQL(", ").join(SQL("%s = EXCLUDED.%s", SQL.identifier(n), SQL.identifier(n)) for n in names)
            values = SQL(", ").join(
                SQL("(%s, %s, %s, %s, %s, %s, %s, %s, " + ", ".join(["%s"] * len(names)) + ")",
                    conn.id, conn.company_id.id, res_model, res_id, uid, now, uid, now,
                    *[vals[n] if vals[n] is not None else None for n in names])
                for res_id, vals in rows)
            self.env.cr.execute(SQL("""
                INSERT INTO coworks_sync_link
                    (connection_id, company_id, res_model, res_id, create_uid, create_date, write_uid, write_date, %s)
                VALUES %s
                ON CONFLICT (connection_id, res_model, res_id)
                DO UPDATE SET %s, write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date
                RETURNING id
            """, columns, values, updates))
            # Only what read these rows is stale: the links themselves, and the host fields
            # computed from them (invalidating whole models costs more than the write).
            self.browse([r[0] for r in self.env.cr.fetchall()]).invalidate_recordset()
        if values_by_res_id:
            Host = self.env[res_model]
            linked = [name for name, field in Host._fields.items() if field.compute == "_compute_xero_link"]
            Host.browse(list(values_by_res_id)).invalidate_recordset(linked)

    @api.model
    def _find(self, conn, res_model, remote_ids):
        """``{lower-case remote id: record}`` of ``res_model`` linked under ``conn``."""
        ids = [r for r in remote_ids if r]
        if not ids:
            return {}
        self.flush_model()
        self.env.cr.execute("""
            SELECT lower(remote_id), res_id FROM coworks_sync_link
             WHERE connection_id = %s AND res_model = %s AND lower(remote_id) = ANY(%s)
        """, [conn.id, res_model, [r.lower() for r in ids]])
        Model = self.env[res_model].sudo()
        return {rid: Model.browse(res_id) for rid, res_id in self.env.cr.fetchall()}

    @api.model
    def _adopt_links_of_tenant(self, conn):
        """``conn`` was just bound to its organisation: links (and payment links) that an
        archived connection of the same company kept for that very organisation are moved to
        it, so a company reconnecting to the organisation it left finds its documents there."""
        self.flush_model()
        self.env.cr.execute("""
            SELECT id FROM coworks_sync_connection
             WHERE company_id = %s AND provider = %s AND id != %s AND NOT active
               AND lower(tenant_id) = lower(%s)
        """, [conn.company_id.id, conn.provider, conn.id, conn.tenant_id or ""])
        old_ids = [r[0] for r in self.env.cr.fetchall()]
        if not old_ids:
            return 0
        # A link the new connection already has wins over the archived one's.
        self.env.cr.execute("""
            UPDATE coworks_sync_link old SET connection_id = %s
             WHERE old.connection_id = ANY(%s)
               AND NOT EXISTS (SELECT 1 FROM coworks_sync_link new
                                WHERE new.connection_id = %s AND new.res_model = old.res_model
                                  AND new.res_id = old.res_id)
        """, [conn.id, old_ids, conn.id])
        moved = self.env.cr.rowcount
        self.env.cr.execute("UPDATE coworks_xero_payment_link SET connection_id = %s WHERE connection_id = ANY(%s)",
                            [conn.id, old_ids])
        moved += self.env.cr.rowcount
        self.invalidate_model()
        self.env["coworks.xero.payment.link"].invalidate_model()
        return moved


class CoworksSyncLinkedMixin(models.AbstractModel):
    """What a host model needs to read its remote links."""

    _name = "coworks.sync.linked.mixin"
    _description = "Record linked to remote records"

    def _coworks_link_connections(self):
        """{record id: connection} whose link each record shows: the connection in the context
        (``coworks_sync_connection_id``, set by the worker), else the active connection of the
        record's company (``_coworks_link_company``)."""
        Conn = self.env["coworks.sync.connection"].sudo()
        forced = self.env.context.get("coworks_sync_connection_id")
        if forced:
            conn = Conn.browse(forced)
            return {rec.id: conn for rec in self}
        companies = {rec.id: rec._coworks_link_company() for rec in self}
        by_company = Conn._active_by_company({c.id for c in companies.values() if c})
        return {rid: by_company.get(c.id) for rid, c in companies.items() if c and c.id in by_company}

    def _coworks_link_company(self):
        self.ensure_one()
        return self.company_id if "company_id" in self._fields else self.env.company

    def _coworks_links(self):
        """{record id: link} of these records under the connection each shows (sudo)."""
        conns = self._coworks_link_connections()
        if not conns:
            return {}
        Link = self.env["coworks.sync.link"].sudo()
        ids_by_conn = {}
        for rid, conn in conns.items():
            if isinstance(rid, int):
                ids_by_conn.setdefault(conn.id, []).append(rid)
        out = {}
        for conn_id, ids in ids_by_conn.items():
            for link in Link.search([("connection_id", "=", conn_id), ("res_model", "=", self._name),
                                     ("res_id", "in", ids)]):
                out[link.res_id] = link
        return out

    def _coworks_link_write(self, conn, vals):
        """Set this record's link values under ``conn`` (see ``coworks.sync.link._upsert``)."""
        self.env["coworks.sync.link"].sudo()._upsert(conn, self._name, {rec.id: dict(vals) for rec in self})

    @api.model
    def _coworks_search_linked(self, operator, value, column="remote_id"):
        """Domain on records by a link column under their company's active connection: ``=``
        / ``!=`` False (linked or not), or ``=`` / ``in`` values (case-insensitive for IDs)."""
        Link = self.env["coworks.sync.link"].sudo()
        base = [("res_model", "=", self._name), ("connection_id.active", "=", True)]
        if operator in ("=", "!=") and not value:
            linked = Link._search(base + [(column, "!=", False)])
            return [("id", "not in" if operator == "=" else "in", linked.subselect("res_id"))]
        if operator in ("=", "in"):
            values = [value] if isinstance(value, str) else list(value or [])
            if column == "remote_id":
                domain = ["|"] * (len(values) - 1) + [(column, "=ilike", v) for v in values] if values else [("id", "=", 0)]
            else:
                domain = [(column, "in", values)]
            return [("id", "in", Link._search(base + domain).subselect("res_id"))]
        raise NotImplementedError(f"searching links with {operator}")
