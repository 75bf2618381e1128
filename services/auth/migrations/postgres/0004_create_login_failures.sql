-- Failed log-in counters, kept in the database so that every replica sees the same
-- counts. `scope` is 'account' (subject: account id, or the normalised login of an
-- unknown account) or 'address' (subject: client address).

CREATE TABLE login_failures (
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
