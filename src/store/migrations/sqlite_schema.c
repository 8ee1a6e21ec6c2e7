/*
 * sqlite_schema.c - the SQLite schema as versioned migrations. Applied in
 * order by sqlite.c, each in the transaction that records it in
 * schema_version. Never edit a published migration: add the next one.
 *
 * Times are int64 microseconds since the epoch (UTC); states are their
 * names ('pending', …) so that the file reads well in the sqlite3 shell;
 * lists and maps are JSON text.
 */
#include "store/store_int.h"

static const char v1[] =
    "CREATE TABLE meta (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE templates (\n"
    "  name            TEXT PRIMARY KEY,\n"
    "  image           TEXT,\n"
    "  command_json    TEXT NOT NULL DEFAULT '[]',\n"
    "  working_dir     TEXT,\n"
    "  env_json        TEXT NOT NULL DEFAULT '{}',\n"
    "  environment     TEXT,\n"
    "  network         TEXT,\n"
    "  memory_mb       INTEGER NOT NULL DEFAULT 0,\n"
    "  cpu_cores       REAL NOT NULL DEFAULT 0,\n"
    "  timeout_seconds INTEGER NOT NULL DEFAULT 0,\n"
    "  labels_json     TEXT NOT NULL DEFAULT '{}'\n"
    ");\n"
    "CREATE TABLE hosts (\n"
    "  name                TEXT PRIMARY KEY,\n"
    "  executor            TEXT NOT NULL,\n"
    "  url                 TEXT,\n"
    "  max_concurrent_jobs INTEGER NOT NULL DEFAULT 0,\n"
    "  memory_mb           INTEGER NOT NULL DEFAULT 0,\n"
    "  cpu_cores           REAL NOT NULL DEFAULT 0,\n"
    "  weight              INTEGER NOT NULL DEFAULT 1,\n"
    "  enabled             INTEGER NOT NULL DEFAULT 1,\n"
    "  options_json        TEXT,\n"
    "  used_jobs           INTEGER NOT NULL DEFAULT 0 CHECK (used_jobs >= 0),\n"
    "  used_memory_mb      INTEGER NOT NULL DEFAULT 0,\n"
    "  used_cpu_millicores INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE jobs (\n"
    "  id                   INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name                 TEXT,\n"
    "  template_name        TEXT,\n"
    "  image                TEXT,\n"
    "  command_json         TEXT NOT NULL DEFAULT '[]',\n"
    "  working_dir          TEXT,\n"
    "  env_json             TEXT NOT NULL DEFAULT '{}',\n"
    "  network              TEXT,\n"
    "  memory_mb            INTEGER NOT NULL DEFAULT 0,\n"
    "  cpu_cores            REAL NOT NULL DEFAULT 0,\n"
    "  timeout_seconds      INTEGER NOT NULL DEFAULT 0,\n"
    "  labels_json          TEXT NOT NULL DEFAULT '{}',\n"
    "  tmpl_image           TEXT,\n"
    "  tmpl_labels_json     TEXT NOT NULL DEFAULT '{}',\n"
    "  tmpl_memory_mb       INTEGER NOT NULL DEFAULT 0,\n"
    "  tmpl_cpu_cores       REAL NOT NULL DEFAULT 0,\n"
    "  tmpl_timeout_seconds INTEGER NOT NULL DEFAULT 0,\n"
    "  priority             INTEGER NOT NULL DEFAULT 50,\n"
    "  not_before           INTEGER NOT NULL DEFAULT 0,\n"
    "  start_deadline       INTEGER NOT NULL DEFAULT 0,\n"
    "  preferred_executor   TEXT,\n"
    "  user_name            TEXT,\n"
    "  user_groups_json     TEXT NOT NULL DEFAULT '[]',\n"
    "  max_attempts         INTEGER NOT NULL DEFAULT 3,\n"
    "  retry_strategy       TEXT NOT NULL DEFAULT 'exponential',\n"
    "  created_at           INTEGER NOT NULL,\n"
    "  status               TEXT NOT NULL DEFAULT 'pending' CHECK (status IN\n"
    "    ('pending','launching','running','completed','failed','timed_out',\n"
    "     'cancelled')),\n"
    "  attempt              INTEGER NOT NULL DEFAULT 1,\n"
    "  executor             TEXT,\n"
    "  host                 TEXT,\n"
    "  routing_reason       TEXT,\n"
    "  rule_index           INTEGER NOT NULL DEFAULT -1,\n"
    "  execution_id         TEXT,\n"
    "  exit_code            INTEGER,\n"
    "  last_error           TEXT,\n"
    "  wait_reason          TEXT,\n"
    "  started_at           INTEGER NOT NULL DEFAULT 0,\n"
    "  finished_at          INTEGER NOT NULL DEFAULT 0,\n"
    "  ready_at             INTEGER NOT NULL,\n"
    "  cancel_requested     INTEGER NOT NULL DEFAULT 0,\n"
    "  owner                TEXT,\n"
    "  lease_until          INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    /* Claim walks this in order and stops after `max` hits: its cost does
     * not grow with the number of pending jobs. */
    "CREATE INDEX jobs_claim ON jobs (priority DESC, id)\n"
    "  WHERE status = 'pending';\n"
    "CREATE INDEX jobs_status ON jobs (status, id);\n"
    "CREATE INDEX jobs_active ON jobs (lease_until)\n"
    "  WHERE status IN ('launching', 'running');\n"
    "CREATE INDEX jobs_owner ON jobs (owner) WHERE owner IS NOT NULL;\n"
    "CREATE INDEX jobs_finished ON jobs (finished_at)\n"
    "  WHERE status IN ('completed', 'failed', 'timed_out', 'cancelled');\n"
    "CREATE TABLE job_events (\n"
    "  id         INTEGER PRIMARY KEY,\n"
    "  job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
    "  at         INTEGER NOT NULL,\n"
    "  from_state TEXT NOT NULL,\n"
    "  to_state   TEXT NOT NULL,\n"
    "  attempt    INTEGER NOT NULL,\n"
    "  executor   TEXT,\n"
    "  host       TEXT,\n"
    "  reason     TEXT\n"
    ");\n"
    "CREATE INDEX job_events_job ON job_events (job_id, id);\n"
    /* berth stats: launch failures are counted from this small index. */
    "CREATE INDEX job_events_launch_failures ON job_events (job_id)\n"
    "  WHERE from_state = 'launching'\n"
    "    AND to_state IN ('pending', 'failed', 'launching');\n"
    "CREATE TABLE job_logs (\n"
    "  job_id    INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
    "  attempt   INTEGER NOT NULL,\n"
    "  stdout    BLOB NOT NULL,\n"
    "  stderr    BLOB NOT NULL,\n"
    "  truncated INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (job_id, attempt)\n"
    ");\n";

/*
 * v2: claimed jobs leave the claim index (claims stop wading through each
 * other's claimed-but-pending jobs; jobs_pending_owned finds the claims
 * whose lease ran out); purge walks jobs_status instead of its own index;
 * how the last run ended (BERTH_UPD_USAGE).
 */
static const char v2[] =
    "DROP INDEX jobs_claim;\n"
    "CREATE INDEX jobs_claim ON jobs (priority DESC, id)\n"
    "  WHERE status = 'pending' AND owner IS NULL;\n"
    "CREATE INDEX jobs_pending_owned ON jobs (lease_until)\n"
    "  WHERE status = 'pending' AND owner IS NOT NULL;\n"
    "DROP INDEX jobs_finished;\n"
    "ALTER TABLE jobs ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE jobs ADD COLUMN peak_memory_bytes INTEGER NOT NULL\n"
    "  DEFAULT -1;\n"
    "ALTER TABLE jobs ADD COLUMN cpu_time_us INTEGER NOT NULL DEFAULT -1;\n";

/* v3: the worker's start-deadline sweep (pending jobs that carry a
 * start_deadline) reads only those jobs, not every pending one. */
static const char v3[] = "CREATE INDEX jobs_deadline ON jobs (status, id)\n"
                         "  WHERE start_deadline > 0;\n";

/* v4: launch failures are marked on their event by the apply engine, so
 * that a field update with a reason on a launching job (launching ->
 * launching, not a move) does not count as one. */
static const char v4[] =
    "ALTER TABLE job_events ADD COLUMN launch_failure INTEGER NOT NULL\n"
    "  DEFAULT 0;\n"
    "UPDATE job_events SET launch_failure = 1\n"
    "  WHERE from_state = 'launching'\n"
    "    AND to_state IN ('pending', 'failed', 'launching');\n"
    "DROP INDEX job_events_launch_failures;\n"
    "CREATE INDEX job_events_launch_failures ON job_events (job_id)\n"
    "  WHERE launch_failure = 1;\n";

/*
 * v5: a partial index whose WHERE has an IN list makes SQLite build a
 * throw-away b-tree for the list in every statement that writes the table
 * (every job update paid for it). The same predicate written with OR costs
 * nothing; the query that uses the index repeats it verbatim so the planner
 * still picks it.
 */
static const char v5[] =
    "DROP INDEX jobs_active;\n"
    "CREATE INDEX jobs_active ON jobs (lease_until)\n"
    "  WHERE status = 'launching' OR status = 'running';\n";

const struct berth__migration berth__sqlite_migrations[] = {
    {1, "initial schema", v1},
    {2, "claim index without claimed jobs; run usage", v2},
    {3, "index of jobs with a start deadline", v3},
    {4, "launch failures marked on their events", v4},
    {5, "jobs_active without an IN list", v5},
    {0, NULL, NULL},
};
