"""Memory: the cron worker's peak RSS draining 10,000 jobs against 1,000. Prints figures; NOT a test.

Two drains of bench/pipe.py's kind (a backlog made while sync was off, then real Odoo with
``--workers=2`` and one cron worker switched on against the emulator on a real clock), one of
about --small jobs and one of about --large jobs (customers, invoices and payments in the same
proportions), answers after --latency-min..--latency-max s (quick by default: this measures
memory, not the pipe). The cron worker's RSS is sampled every 0.5 s while it drains.

Prints:
  jobs_small=<...> peak_rss_small_mb=<...> jobs_large=<...> peak_rss_large_mb=<...>
  memory_ratio=<large peak / small peak>   (target <= 1.1)

    bash bench/run.sh memory [--small 1000 --large 10000]
"""
import sys

from pipe import arguments, drain


def split(jobs):
    """customers, invoices, paid for about ``jobs`` jobs: 1 customer to 10 invoices, 4 in 5 paid."""
    customers = max(10, jobs // 24)
    invoices = (jobs - customers) * 5 // 9
    return customers, invoices, jobs - customers - invoices


def main():
    ap = arguments(__doc__.split("\n")[0])
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=10000)
    ap.set_defaults(latency_min=0.02, latency_max=0.05, timeout=2400)
    args = ap.parse_args()
    figures = {}
    for label, jobs in (("small", args.small), ("large", args.large)):
        out = drain(args, *split(jobs), db=f"memory_run_{label}")
        if out["drain_s"] is None:
            print(f"jobs_{label}={out['jobs']} NOT DRAINED within {args.timeout:.0f} s (left {out['left']})")
            sys.exit(1)
        figures[label] = out
        print(f"jobs_{label}={out['jobs']} drain_{label}_s={out['drain_s']:.1f} "
              f"peak_rss_{label}_mb={out['peak_rss'] / 2**20:.1f} cron_worker_killed_{label}={out['killed']}",
              flush=True)
    small, large = figures["small"]["peak_rss"], figures["large"]["peak_rss"]
    print(f"memory_ratio={large / small:.3f} (jobs {figures['large']['jobs']} against {figures['small']['jobs']})"
          if small else "memory_ratio=? (no RSS sample for the small drain)")


if __name__ == "__main__":
    main()
