-- The retention task deletes by age: index the times it reads, so a run touches only the
-- rows past their horizon instead of scanning the tables.
CREATE INDEX refresh_tokens_by_expire_time ON refresh_tokens (expire_time);
CREATE INDEX sessions_by_expire_time ON sessions (expire_time);
CREATE INDEX sessions_by_revoke_time ON sessions (revoke_time);
CREATE INDEX mailed_tokens_by_expire_time ON mailed_tokens (expire_time);
CREATE INDEX login_failures_by_window_start ON login_failures (window_start);
CREATE INDEX login_network_failures_by_last_failure ON login_network_failures (last_failure_time);
CREATE INDEX login_networks_by_last_success ON login_networks (last_success_time);
CREATE INDEX mail_requests_by_last_mail_time ON mail_requests (last_mail_time);
