-- Key rotation. Each backing version after the first records how it came to be; its
-- `created_at` is the rotation date. A key with a row in `rotation_schedules` rotates
-- automatically; the row goes with the key.

ALTER TABLE key_versions ADD COLUMN rotation_type TEXT;

CREATE TABLE rotation_schedules (
    account          TEXT COLLATE "C" NOT NULL,
    key_id           TEXT COLLATE "C" NOT NULL,
    period_days      BIGINT           NOT NULL,
    next_rotation_at BIGINT           NOT NULL,
    PRIMARY KEY (account, key_id),
    FOREIGN KEY (account, key_id) REFERENCES keys (account, key_id) ON DELETE CASCADE
);

-- The automatic rotation walk: schedules in order of their next rotation.
CREATE INDEX rotation_schedules_due ON rotation_schedules (next_rotation_at);
