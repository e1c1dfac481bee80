{
    "name": "Coworks Xero Sync",
    "summary": "Push customers, invoices, payments, refunds and credit notes to Xero, "
               "with item-kind, campus, tax and bank mappings and an actionable sync log",
    "description": """
Keeps a coworking operator's billing aligned with its Xero organisation: automatically, exactly
once, with mappings managers edit in ordinary forms and a sync log they can act on.
""",
    "version": "19.0.1.1.0",
    "category": "Accounting/Accounting",
    "license": "LGPL-3",
    "author": "coworks_xero developers",
    "website": "https://github.com/coworks-xero/coworks_xero",
    "depends": ["account"],
    "external_dependencies": {"python": ["xero_python"]},
    "data": [
        "security/coworks_xero_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron.xml",
        "views/coworks_campus_views.xml",
        "views/xero_reference_views.xml",
        "views/xero_mapping_views.xml",
        "views/sync_connection_views.xml",
        "views/sync_job_views.xml",
        "views/sync_drift_views.xml",
        "views/product_views.xml",
        "views/res_partner_views.xml",
        "views/account_move_views.xml",
        "views/account_payment_views.xml",
        "views/res_config_settings_views.xml",
        "views/res_config_settings_qbo_views.xml",
        "views/xero_inbound_views.xml",
        "views/menus.xml",
        "views/oauth_templates.xml",
    ],
    "demo": [
        "demo/coworks_demo.xml",
    ],
    "assets": {
        "web.assets_tests": ["coworks_xero/static/tests/tours/*.js"],
    },
    "images": ["static/description/icon.png"],
    "application": False,
    "installable": True,
}
