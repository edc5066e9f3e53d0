"""One job mechanism, in PostgreSQL, for every long task a client starts and polls: rescorings
(preview and commit), item statistics, aggregate rebuilds and checks, score exports. This package
is the mechanism (the `jobs` table, `Job`); the runner and the registry of kinds are `service.jobs`,
above the domain packages whose modules enqueue and run jobs.

Each job is a `jobs` row (same id as the kind's own row, which keeps what clients read: status,
progress, result) created in the transaction that creates the kind's row, so a job exists exactly
when its request committed. Then:

- Where jobs run (JOB_MODE): in the HTTP workers (`inline`), or in job processes of their own
  (`process`, `assess serve`'s default: `service.jobs.process`), which the HTTP workers only enqueue
  for. Every enqueue NOTIFYs `queue.CHANNEL` when its transaction commits; a job process LISTENs and
  claims the job at once, its polls (below) the fallback. "Worker" below is whichever runs jobs.
- Claim with a lease. The worker that accepted the request claims it at once (after the response);
  every worker also polls (JOB_POLL_SECONDS) for queued jobs and for running jobs whose lease lapsed,
  across tenants through the `dispatcher` read policy, then claims inside the tenant's transaction
  (`FOR UPDATE SKIP LOCKED`, attempts + 1, lease JOB_LEASE_SECONDS ahead, owner = host:pid:random)
  every job of the tenant it can, up to `service.jobs.runner.CLAIMS_PER_POLL`: a dead worker's jobs
  are taken over in one pass.
- Heartbeat and fencing. A task of the worker renews the lease (JOB_HEARTBEAT_SECONDS); and every
  transaction in which a job writes its work first renews it too (`Job.fence`), holding the job's row
  lock until it commits: a takeover (which skips locked rows) cannot happen in the middle of a batch,
  and a worker that lost its lease stops at its next batch instead of writing over the new owner.
  JOB_LEASE_SECONDS must exceed the longest a renewal can wait (for a pooled connection, for a
  batch holding the row): a lease that lapses on a live worker only costs a takeover, never a
  double write, since the old claim is fenced out.
- Progress stays in the kind's row, written in the same fenced transactions as the work.
- Failure recorded: an exception marks the job and the kind's row `failed` with the error. A worker
  killed outright records nothing; its lease lapses and another worker takes the job over from the
  start (each kind is written to resume or restart: a rescoring commit skips what it already
  rescored), up to JOB_MAX_ATTEMPTS claims, after which the job reads `failed` and can be retried
  (a rescoring committed again, the others started again).
- A job may be split into jobs of its own: a rescoring's preview or commit plans batch jobs
  (`rescoring_batch`) that its own job runs one after another and other workers' polls may take
  (`service.jobs.runner.BATCHES_PER_WORKER`, JOB_PROCESS_BATCHES in a job process); each batch is one fenced transaction that does its work,
  marks itself done and completes its job, so a batch claimed twice does its work once.
- A worker shutting down gracefully hands its jobs back (queued again) for another to claim at once
  (a job process on SIGTERM; `assess serve` starts another when one exits).

ASSESS_TEST_JOB_PAUSE_SECONDS (tests only) makes every job pause after its claim and between
batches, so a test can kill a worker mid-job deterministically.
"""
