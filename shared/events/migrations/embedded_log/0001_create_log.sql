-- The embedded event log: one SQLite file shared by every service of a `gigmesh dev`
-- process. A record's offset is its row id, increasing within each topic.
CREATE TABLE log_topics (
    topic TEXT PRIMARY KEY,
    create_time BIGINT NOT NULL
);

CREATE TABLE log_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL REFERENCES log_topics (topic),
    record_key TEXT NOT NULL,
    payload BLOB NOT NULL,
    headers BLOB NOT NULL,
    append_time BIGINT NOT NULL
);

CREATE INDEX log_records_by_topic ON log_records (topic, id);

-- The next offset each consumer group reads, per topic.
CREATE TABLE log_group_offsets (
    group_name TEXT NOT NULL,
    topic TEXT NOT NULL,
    next_offset BIGINT NOT NULL,
    commit_time BIGINT NOT NULL,
    PRIMARY KEY (group_name, topic)
);
