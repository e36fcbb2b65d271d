-- The shared client base: employees, clients, their numbers, ownership, leads, contacts.

CREATE TABLE employees (
    employee_id   uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    department    text NOT NULL CHECK (department IN ('client', 'commercial')),
    role          text NOT NULL CHECK (role IN ('agent', 'head')),
    extension     text UNIQUE,
    direct_number text UNIQUE,            -- E.164
    capacity      integer NOT NULL DEFAULT 10 CHECK (capacity >= 0),
    active        boolean NOT NULL DEFAULT true,
    on_leave      boolean NOT NULL DEFAULT false
);

CREATE TABLE clients (
    client_id   uuid PRIMARY KEY,
    external_id text UNIQUE,
    name        text NOT NULL,
    segment     text NOT NULL
                CHECK (segment IN ('individual', 'small_business', 'corporate', 'large_corporate')),
    tax_id      text
);

-- Exact numbers (E.164) of a client, with the contact person behind each.
CREATE TABLE client_phones (
    phone        text PRIMARY KEY,
    client_id    uuid NOT NULL REFERENCES clients ON DELETE CASCADE,
    contact_name text
);
CREATE INDEX client_phones_client ON client_phones (client_id);

-- A prefix that covers a company's whole PBX range, e.g. '+7495100' for +7495100XXXX.
CREATE TABLE client_number_ranges (
    prefix    text PRIMARY KEY,
    client_id uuid NOT NULL REFERENCES clients ON DELETE CASCADE
);
CREATE INDEX client_number_ranges_client ON client_number_ranges (client_id);

-- One current owner per client (the primary key says so).
CREATE TABLE ownership (
    client_id        uuid PRIMARY KEY REFERENCES clients ON DELETE CASCADE,
    employee_id      uuid NOT NULL REFERENCES employees,
    since            timestamptz NOT NULL,
    last_activity_at timestamptz NOT NULL
);
CREATE INDEX ownership_employee ON ownership (employee_id);

-- The routing decision of each call, recorded once per call and stage.
CREATE TABLE call_decisions (
    call_id     text NOT NULL,
    stage       text NOT NULL,
    event_id    uuid NOT NULL,
    client_id   uuid,
    destination text NOT NULL,
    employee_id uuid,
    reasons     jsonb NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, stage)
);

CREATE TABLE leads (
    lead_id      uuid PRIMARY KEY,
    call_id      text NOT NULL UNIQUE,     -- one lead per call, whatever the redeliveries
    client_id    uuid REFERENCES clients,
    employee_id  uuid REFERENCES employees,
    department   text NOT NULL,
    strategy     text,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'won', 'lost')),
    value        numeric,
    currency     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz               -- when leads.assigned was acknowledged by Kafka
);
CREATE INDEX leads_client_open ON leads (client_id) WHERE status = 'open';
CREATE INDEX leads_employee_open ON leads (employee_id) WHERE status = 'open';

-- Every call of a known client, once per call: what shopping detection reads.
CREATE TABLE contacts (
    call_id     text PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients ON DELETE CASCADE,
    employee_id uuid REFERENCES employees,
    caller      text,
    dialed      text,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX contacts_client_time ON contacts (client_id, occurred_at DESC);
