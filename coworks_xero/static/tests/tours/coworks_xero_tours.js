/* The admin's first hour, in the browser (run by coworks_xero/tests/test_tour.py, which runs the
 * sync cron between the tours, as Odoo's cron runner would after each commit). */
import { registry } from "@web/core/registry";

const tours = registry.category("web_tour.tours");

// Settings -> Connect to Xero -> (Xero's consent, pre-answered) -> choose the organisation.
tours.add("coworks_xero_connect", {
    steps: () => [
        {
            content: "The Xero block shows the redirect URL to register",
            trigger: "#coworks_xero .o_field_widget[name=coworks_xero_redirect_uri]:contains(/coworks_xero/oauth/callback)",
        },
        {
            content: "Connect to Xero",
            trigger: "#coworks_xero button[name=action_coworks_xero_connect]:contains(Connect to Xero)",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Choose the organisation this company syncs with",
            trigger: ".o_coworks_xero_oauth_choose label:contains(Coworks Demo AU)",
            run: "click",
        },
        {
            content: "Connect it",
            trigger: ".o_coworks_xero_oauth_choose button[type=submit]",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Back on the settings page, told which organisation is connected",
            trigger: ".o_notification:contains(Coworks Demo AU)",
        },
        {
            content: "The Xero block says so too",
            trigger: ".o_setting_container #coworks_xero:contains(Coworks Demo AU) button[name=action_coworks_xero_disconnect]",
        },
        {
            content: "The whole redirect URI, with a copy button",
            trigger: "#coworks_xero .o_coworks_xero_redirect_uri:contains(/coworks_xero/oauth/callback) button",
        },
        {
            content: "What is not mapped yet: the cash journal",
            trigger: "#coworks_xero .o_coworks_xero_unmapped li[name=unmapped_journals]:contains(Cash)",
        },
        {
            content: "One alert at most",
            trigger: "#coworks_xero:not(:has(.o_coworks_xero_alert:visible + .o_coworks_xero_alert:visible))",
        },
    ],
});

// Item mappings: send day passes with the "Online" channel as a second tracking category.
tours.add("coworks_xero_edit_mapping", {
    steps: () => [
        {
            content: "Open the day pass mapping",
            trigger: ".o_list_view .o_data_row td[name=item_kind]:contains(Day pass)",
            run: "click",
        },
        {
            content: "Pick a tracking option loaded from Xero",
            trigger: ".o_data_row.o_selected_row div[name=tracking_option_id] input",
            run: "edit Online",
        },
        {
            trigger: ".o-autocomplete--dropdown-menu .dropdown-item:contains(Online)",
            run: "click",
        },
        {
            content: "Save",
            trigger: ".o_list_button_save",
            run: "click",
        },
        {
            trigger: ".o_list_view .o_data_row:contains(Day pass):contains(Online):not(.o_selected_row)",
        },
    ],
});

// An invoice: confirm it.
tours.add("coworks_xero_post_invoice", {
    steps: () => [
        {
            content: "Confirm the invoice",
            trigger: ".o_form_view button[name=action_post]:visible",
            run: "click",
        },
        {
            trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains(Posted)",
        },
    ],
});

// The sync log shows the invoice synced.
tours.add("coworks_xero_log_synced", {
    steps: () => [
        {
            content: "Nothing needs attention, so the log opens on everything",
            trigger: ".o_control_panel:not(:has(.o_searchview_facet:contains(Needs attention)))",
        },
        {
            content: "The invoice reached Xero",
            trigger: ".o_list_view .o_data_row:contains(Invoice):contains(Synced)",
        },
    ],
});

// Tax mappings: remove the mapping of the invoice's tax (what a hurried manager might do).
tours.add("coworks_xero_break_mapping", {
    steps: () => [
        {
            content: "Select the tax mapping",
            trigger: ".o_list_view .o_data_row:first .o_list_record_selector input",
            run: "click",
        },
        {
            trigger: ".o_control_panel .o_cp_action_menus button",
            run: "click",
        },
        {
            trigger: ".o-dropdown--menu .dropdown-item:contains(Delete)",
            run: "click",
        },
        {
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            trigger: ".o_view_nocontent, .o_list_view:not(:has(.o_data_row))",
        },
    ],
});

// The failed invoice: the banner says what to fix.
tours.add("coworks_xero_see_failure", {
    steps: () => [
        {
            content: "The invoice says its sync needs attention, and why",
            trigger: ".o_form_view .alert-danger:contains(Tax mappings)",
        },
        {
            content: "...with a Retry and a way to its sync log entries",
            trigger: ".o_form_view .alert-danger button[name=action_xero_retry]",
        },
        {
            trigger: ".o_form_view .alert-danger button[name=action_open_xero_jobs]",
        },
    ],
});

// Map the tax again.
tours.add("coworks_xero_fix_mapping", {
    steps: () => [
        {
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            trigger: ".o_data_row.o_selected_row div[name=tax_id] input",
            run: "edit Coworking GST",
        },
        {
            trigger: ".o-autocomplete--dropdown-menu .dropdown-item:contains(Coworking GST)",
            run: "click",
        },
        {
            trigger: ".o_data_row.o_selected_row div[name=tax_rate_id] input",
            run: "edit GST on Income",
        },
        {
            trigger: ".o-autocomplete--dropdown-menu .dropdown-item:contains(GST on Income)",
            run: "click",
        },
        {
            trigger: ".o_list_button_save",
            run: "click",
        },
        {
            trigger: ".o_list_view .o_data_row:contains(GST on Income):not(.o_selected_row)",
        },
    ],
});

// The sync log: select what needs attention, Retry.
tours.add("coworks_xero_retry", {
    steps: () => [
        {
            content: "Select the failed entry",
            trigger: ".o_list_view .o_data_row:contains(Needs attention) .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Retry it",
            trigger: ".o_control_panel button[name=action_retry]",
            run: "click",
        },
        {
            content: "Nothing needs attention any more",
            trigger: ".o_view_nocontent, .o_list_view:not(:has(.o_data_row:contains(Needs attention)))",
        },
    ],
});

// The invoice is synced now.
tours.add("coworks_xero_invoice_synced", {
    steps: () => [
        {
            trigger: "button[name=action_open_xero_jobs]:contains(Synced)",
        },
    ],
});
