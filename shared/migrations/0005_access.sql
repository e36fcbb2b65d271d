-- Who may see and change what: people's passwords and sessions, integrations and their
-- tokens, sign-in attempts (for the rate limit), invitations, and the audit log.

ALTER TABLE employees ADD COLUMN IF NOT EXISTS password_hash text;   -- argon2id
ALTER TABLE employees ADD COLUMN IF NOT EXISTS admin boolean NOT NULL DEFAULT false;
ALTER TABLE employees ADD COLUMN IF NOT EXISTS locale text NOT NULL DEFAULT 'ru'
    CHECK (locale IN ('ru', 'en'));

-- A CRM, a reporting tool: not a person, with the scopes its tokens were issued with.
CREATE TABLE IF NOT EXISTS integrations (
    integration_id uuid PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

-- A token belongs to a person (employee_id) or an integration (with its scopes); it may expire.
ALTER TABLE api_tokens ALTER COLUMN employee_id DROP NOT NULL;
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS integration_id uuid REFERENCES integrations;
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS scopes text[];
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_one_holder;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_one_holder
    CHECK ((employee_id IS NULL) <> (integration_id IS NULL));
CREATE INDEX IF NOT EXISTS api_tokens_integration ON api_tokens (integration_id);

-- Server-side sessions of people signed in with a password: revocable, expiring.
CREATE TABLE IF NOT EXISTS sessions (
    session_hash text PRIMARY KEY,              -- SHA-256 of the cookie's value
    employee_id  uuid NOT NULL REFERENCES employees,
    csrf_token   text NOT NULL,                 -- sent with every change (form field or header)
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,          -- absolute
    revoked_at   timestamptz,
    address      text
);
CREATE INDEX IF NOT EXISTS sessions_employee ON sessions (employee_id);

-- Failed sign-ins, per account and per address, for the rate limit.
CREATE TABLE IF NOT EXISTS sign_in_failures (
    key text NOT NULL,                          -- 'account:<email>' or 'address:<ip>'
    at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sign_in_failures_key ON sign_in_failures (key, at);

-- One-time links to set a password.
CREATE TABLE IF NOT EXISTS invitations (
    token_hash  text PRIMARY KEY,
    employee_id uuid NOT NULL REFERENCES employees,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- Who looked up which caller, and who changed what.
CREATE TABLE IF NOT EXISTS audit_log (
    audit_id       bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    principal_kind text NOT NULL CHECK (principal_kind IN ('person', 'integration', 'system')),
    principal      text NOT NULL,               -- a person's e-mail, an integration's name
    action         text NOT NULL,               -- e.g. caller.look_up, lead.keep, client.upsert
    subject        text,                        -- what it was about: a number, a lead id...
    detail         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_principal ON audit_log (principal, at);
