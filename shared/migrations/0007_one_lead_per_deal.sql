-- One lead per deal. A call routed to the owner is a contact; once qualified as commercial it
-- makes the owner's lead or, when the client has an open lead of that employee, joins it.
-- The calls that joined a lead (not the one that made it: that is leads.call_id), once per
-- call whatever the redeliveries, with the deal value the call was qualified with.

CREATE TABLE IF NOT EXISTS lead_calls (
    call_id   text PRIMARY KEY,
    lead_id   uuid NOT NULL REFERENCES leads ON DELETE CASCADE,
    value     numeric,
    currency  text,
    joined_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS lead_calls_lead ON lead_calls (lead_id);

-- The client's open lead of an employee: what a qualified call of an owned client joins.
CREATE INDEX IF NOT EXISTS leads_client_employee_open ON leads (client_id, employee_id)
    WHERE status = 'open';
