"""Before the models load: the company-dependent (jsonb) columns of the former
``res.partner.xero_contact_id`` / ``xero_contact_name`` are renamed, so that Odoo does not patch
the new computed fields of the same names back into company-dependent ones (it does when it
finds a jsonb column under a field's name); post-migrate.py turns them into links."""

RENAMES = {"xero_contact_id": "coworks_xero_contact_id_v1", "xero_contact_name": "coworks_xero_contact_name_v1"}


def migrate(cr, version):
    if not version:
        return
    cr.execute("""SELECT column_name FROM information_schema.columns
                   WHERE table_name = 'res_partner' AND column_name = ANY(%s)""", [list(RENAMES)])
    for (column,) in cr.fetchall():
        cr.execute(f'ALTER TABLE res_partner RENAME COLUMN "{column}" TO "{RENAMES[column]}"')
