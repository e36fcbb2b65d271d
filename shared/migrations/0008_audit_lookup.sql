-- The lookup finds an outcome a CRM already posted by its audit line (action, subject).
CREATE INDEX IF NOT EXISTS audit_log_action_subject ON audit_log (action, subject, at);
