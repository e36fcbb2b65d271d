-- Assignment: the head of sales' inbox and its deadlines, what every lead is about, outcomes,
-- the negotiators' records and the API tokens.
--
-- One lead per call (leads.call_id stays UNIQUE): the first stage that makes a lead of a
-- call creates it; a later stage of the same call only fills in what the lead lacks.
-- Columns are added IF NOT EXISTS: other migrations may add to `leads` as well.

ALTER TABLE leads
    ADD COLUMN IF NOT EXISTS destination    text,   -- owner / client_department / commercial_department
    ADD COLUMN IF NOT EXISTS stage          text,   -- ring / qualified: the stage that made the lead
    ADD COLUMN IF NOT EXISTS segment        text,   -- the client's segment, when known
    ADD COLUMN IF NOT EXISTS size_class     text,   -- small / medium / large, when known
    ADD COLUMN IF NOT EXISTS caller         text,   -- E.164, for the inbox of an unknown caller
    ADD COLUMN IF NOT EXISTS client_name    text,
    ADD COLUMN IF NOT EXISTS expected_value double precision, -- value x the head's chance, at arrival
    ADD COLUMN IF NOT EXISTS due_at         timestamptz,      -- in the head's inbox until then
    ADD COLUMN IF NOT EXISTS attempts       integer NOT NULL DEFAULT 0, -- deadline passes nobody could take
    ADD COLUMN IF NOT EXISTS decided_at     timestamptz,      -- when the lead got its assignee
    ADD COLUMN IF NOT EXISTS score          double precision, -- the assignee's expected value
    ADD COLUMN IF NOT EXISTS runners_up     jsonb NOT NULL DEFAULT '[]';

-- The head's inbox: open leads without an assignee, by due time (what the deadline task polls).
CREATE INDEX IF NOT EXISTS leads_inbox_due ON leads (due_at)
    WHERE employee_id IS NULL AND status = 'open';
-- The commercial inflow of the last hour, and the recent expected values (top share).
CREATE INDEX IF NOT EXISTS leads_commercial_created ON leads (created_at)
    WHERE destination = 'commercial_department';
-- leads.assigned not yet acknowledged by Kafka (the relay after a crash).
CREATE INDEX IF NOT EXISTS leads_unpublished ON leads (decided_at)
    WHERE published_at IS NULL AND employee_id IS NOT NULL;

-- A lead's outcome from the CRM, once per lead whatever the redeliveries.
CREATE TABLE IF NOT EXISTS lead_outcomes (
    lead_id     uuid PRIMARY KEY REFERENCES leads,
    event_id    uuid NOT NULL,
    employee_id uuid NOT NULL REFERENCES employees,
    segment     text NOT NULL,
    size_class  text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('won', 'lost')),
    final_value numeric,
    currency    text,
    closed_at   timestamptz NOT NULL
);

-- Won and lost leads per employee and kind of lead (segment and size class; 'unknown' when
-- the lead did not say): what the strength estimate reads. Kept in step with lead_outcomes.
CREATE TABLE IF NOT EXISTS negotiator_records (
    employee_id uuid NOT NULL REFERENCES employees,
    segment     text NOT NULL,
    size_class  text NOT NULL,
    won         integer NOT NULL DEFAULT 0 CHECK (won >= 0),
    lost        integer NOT NULL DEFAULT 0 CHECK (lost >= 0),
    PRIMARY KEY (employee_id, segment, size_class)
);
CREATE INDEX IF NOT EXISTS negotiator_records_kind ON negotiator_records (segment, size_class);

-- Bearer tokens of the HTTP API: only a SHA-256 of each token is stored.
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash  text PRIMARY KEY,
    employee_id uuid NOT NULL REFERENCES employees,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS api_tokens_employee ON api_tokens (employee_id);
