"""Xero IDs move from columns of account.move and res.partner into coworks.sync.link rows, tied
to the company's connection (the organisation they belong to). The old columns are left in
place, unused, as Odoo does for removed fields (the partner's ones under the names
pre-migrate.py gave them)."""


def _columns(cr, table):
    cr.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table])
    return {r[0] for r in cr.fetchall()}


def migrate(cr, version):
    if not version:
        return
    # Each company's connection at the time: the active one, else its latest.
    cr.execute("""
        CREATE TEMP TABLE _cx_conn ON COMMIT DROP AS
        SELECT DISTINCT ON (company_id) company_id, id FROM coworks_sync_connection
         ORDER BY company_id, active DESC, id DESC
    """)
    move_cols = _columns(cr, "account_move")
    if "xero_id" in move_cols:
        status = "m.xero_status" if "xero_status" in move_cols else "NULL"
        number = "m.xero_number" if "xero_number" in move_cols else "NULL"
        synced = "m.xero_last_sync" if "xero_last_sync" in move_cols else "NULL"
        due = "m.xero_amount_due" if "xero_amount_due" in move_cols else "0"
        status_at = "m.xero_status_at" if "xero_status_at" in move_cols else "NULL"
        cr.execute(f"""
            INSERT INTO coworks_sync_link (connection_id, company_id, res_model, res_id, remote_id, remote_number,
                                           remote_status, synced_at, remote_amount_due, remote_status_at,
                                           create_date, write_date)
            SELECT c.id, m.company_id, 'account.move', m.id, m.xero_id, {number}, {status}, {synced},
                   COALESCE({due}, 0), {status_at}, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
              FROM account_move m JOIN _cx_conn c ON c.company_id = m.company_id
             WHERE m.xero_id IS NOT NULL OR {status} IS NOT NULL
            ON CONFLICT (connection_id, res_model, res_id) DO NOTHING
        """)
    partner_cols = _columns(cr, "res_partner")
    if "coworks_xero_contact_id_v1" in partner_cols:  # renamed by pre-migrate.py
        # company_dependent columns hold {"<company id>": value}.
        name_join = ("LEFT JOIN LATERAL jsonb_each_text(p.coworks_xero_contact_name_v1) n(company, name) "
                     "ON n.company = i.company" if "coworks_xero_contact_name_v1" in partner_cols
                     else "LEFT JOIN LATERAL (SELECT NULL AS name) n ON TRUE")
        cr.execute(f"""
            INSERT INTO coworks_sync_link (connection_id, company_id, res_model, res_id, remote_id, remote_name,
                                           create_date, write_date)
            SELECT c.id, c.company_id, 'res.partner', p.id, i.remote_id, n.name,
                   now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
              FROM res_partner p
              CROSS JOIN LATERAL jsonb_each_text(p.coworks_xero_contact_id_v1) i(company, remote_id)
              {name_join}
              JOIN _cx_conn c ON c.company_id = i.company::int
             WHERE p.coworks_xero_contact_id_v1 IS NOT NULL AND i.remote_id IS NOT NULL AND i.remote_id != ''
            ON CONFLICT (connection_id, res_model, res_id) DO NOTHING
        """)
