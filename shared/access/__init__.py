"""Who may see and change what, for every service with HTTP endpoints: principals (people
with a role, integrations with scopes), tokens, people's password sign-in with server-side
sessions, and the audit log. `principals` is pure; `store` is the database side; `http` is
what endpoints depend on."""
