-- Tags and key policies. Both go when their key goes, so whatever removes a key row need not
-- know of them. A key without a stored policy (one created before this migration) has the
-- default key policy.

CREATE TABLE key_tags (
    account   TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (account, key_id, tag_key),
    FOREIGN KEY (account, key_id) REFERENCES keys (account, key_id) ON DELETE CASCADE
) STRICT;

-- The policy text exactly as the caller gave it, up to 32 KiB.
CREATE TABLE key_policies (
    account     TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    policy      TEXT NOT NULL,
    PRIMARY KEY (account, key_id, policy_name),
    FOREIGN KEY (account, key_id) REFERENCES keys (account, key_id) ON DELETE CASCADE
) STRICT;
