-- Tags and key policies. Both go when their key goes, so whatever removes a key row need not
-- know of them. A key without a stored policy (one created before this migration) has the
-- default key policy.

CREATE TABLE key_tags (
    account   TEXT COLLATE "C" NOT NULL,
    key_id    TEXT COLLATE "C" NOT NULL,
    tag_key   TEXT COLLATE "C" NOT NULL,
    tag_value TEXT             NOT NULL,
    PRIMARY KEY (account, key_id, tag_key),
    FOREIGN KEY (account, key_id) REFERENCES keys (account, key_id) ON DELETE CASCADE
);

-- The policy text exactly as the caller gave it, up to 32 KiB.
CREATE TABLE key_policies (
    account     TEXT COLLATE "C" NOT NULL,
    key_id      TEXT COLLATE "C" NOT NULL,
    policy_name TEXT COLLATE "C" NOT NULL,
    policy      TEXT             NOT NULL,
    PRIMARY KEY (account, key_id, policy_name),
    FOREIGN KEY (account, key_id) REFERENCES keys (account, key_id) ON DELETE CASCADE
);
