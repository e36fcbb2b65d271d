-- The people's screens (the desk): the calls people see, as the desk heard of them on Kafka,
-- so that a page is drawn from here on every load and nothing a browser missed is lost.

-- One row per call: what the client base said (calls.enriched), the ring-time decision
-- (calls.routed), the PBX's answered / hung up (calls.lifecycle) and the verdict
-- (calls.qualified). Each part is written once, whichever comes first; a redelivery or a
-- second replica changes nothing.
CREATE TABLE IF NOT EXISTS desk_calls (
    call_id       text PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    enriched      jsonb,                    -- CallEnriched
    routed        jsonb,                    -- CallRouted of the ring stage
    answered_at   timestamptz,
    hung_up_at    timestamptz,
    qualification jsonb,                    -- CallQualified
    comment       text,                     -- the person's comment on the verdict
    qualified_by  text,                     -- who qualified it here (e-mail / integration)
    qualified_at  timestamptz
);
-- The page's query: the calls of the last minutes that are not qualified yet.
CREATE INDEX IF NOT EXISTS desk_calls_open ON desk_calls (started_at DESC)
    WHERE qualified_at IS NULL;
