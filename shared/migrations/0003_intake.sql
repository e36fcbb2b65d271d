-- Calls the intake has accepted: one CallReceived per call, whatever the PBX retried.
CREATE TABLE intake_calls (
    call_id      text PRIMARY KEY,
    event_id     uuid NOT NULL,
    dialect      text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz            -- when calls.received acknowledged it
);
