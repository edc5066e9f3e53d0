"""Running jobs: the runner (claims, heartbeats, hands back on shutdown) and the four kinds it runs.

The mechanism (the `jobs` table, claims, leases, fencing) is `service.jobqueue`, below the domain
packages that enqueue jobs; this package sits above them and the score pipeline, since it knows
every kind (see ARCHITECTURE.md).
"""
