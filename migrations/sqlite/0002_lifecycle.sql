-- Keys pending deletion, for the task that deletes them when their waiting period is over. Only
-- keys pending deletion have a deletion date, so the index stays as small as that set.
CREATE INDEX keys_by_deletion_date ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
