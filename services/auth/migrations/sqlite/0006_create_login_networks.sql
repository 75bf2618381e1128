-- Failed log-ins per account and client network, and the networks accounts logged in from.
--
-- `login_network_failures` counts the failures of one account (subject: its id, or the
-- normalised login of an unknown account) from one client network (an IPv4 address or an
-- IPv6 /64): after a few free ones, every further attempt from that network waits until
-- `retry_time`, and the wait doubles with each failure. A proven password deletes the row;
-- a row whose last failure is a window old is started afresh.
CREATE TABLE login_network_failures (
    subject           TEXT NOT NULL,
    network           TEXT NOT NULL,
    failures          BIGINT NOT NULL,
    last_failure_time BIGINT NOT NULL,
    retry_time        BIGINT NOT NULL,
    PRIMARY KEY (subject, network)
);

-- The networks an account proved its password from, and when last: once the account's
-- failures from all networks reach their ceiling, only these are still let through.
CREATE TABLE login_networks (
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    network           TEXT NOT NULL,
    last_success_time BIGINT NOT NULL,
    PRIMARY KEY (account_id, network)
);

