from odoo import fields, models


class XeroPaymentLink(models.Model):
    """One Xero Payment (or credit-note allocation) that mirrors part of an Odoo reconciliation.

    An Odoo payment that settles several invoices is several Xero payments, and an allocation of
    a credit note to an invoice has no Odoo payment at all, so the link lives here rather than on
    ``account.payment``; it survives unreconciliation so the Xero side can be undone.
    """

    _name = "coworks.xero.payment.link"
    _description = "Xero payment link"
    _order = "id desc"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, index=True)
    connection_id = fields.Many2one("coworks.sync.connection", required=True, index=True,
                                    ondelete="cascade")
    kind = fields.Selection([("payment", "Payment"), ("refund", "Refund"),
                             ("allocation", "Credit allocation")], required=True)
    payment_id = fields.Many2one("account.payment", index=True, ondelete="set null")
    move_id = fields.Many2one("account.move", "Document", index=True, ondelete="set null",
                              help="The invoice paid, or the credit note refunded.")
    credit_note_id = fields.Many2one("account.move", "Credit note", ondelete="set null")
    partial_key = fields.Char(index=True, help="Which Odoo reconciliation this mirrors.")
    amount = fields.Monetary(currency_field="currency_id")
    currency_id = fields.Many2one("res.currency")
    date = fields.Date()
    xero_id = fields.Char("Xero PaymentID / AllocationID", index="btree_not_null", readonly=True)
    state = fields.Selection([("pending", "To send"), ("synced", "In Xero"),
                              ("to_delete", "To delete"), ("deleted", "Deleted")],
                             default="pending", required=True)
