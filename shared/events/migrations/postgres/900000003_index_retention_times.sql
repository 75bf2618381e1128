-- The retention task deletes applied events and dead letters by age: index the times it
-- reads, so a run touches only the rows past their horizon instead of scanning the tables.
CREATE INDEX inbox_by_process_time ON inbox (process_time);
CREATE INDEX dead_letters_by_create_time ON dead_letters (create_time);
