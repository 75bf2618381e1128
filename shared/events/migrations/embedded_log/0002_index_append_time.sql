-- Retention deletes records by age: index the append time it reads.
CREATE INDEX log_records_by_append_time ON log_records (append_time);
