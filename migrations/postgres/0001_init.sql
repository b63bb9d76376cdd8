-- Keys, their wrapped backing versions, and aliases. Every primary key starts with the account,
-- so no row can be reached without naming it. Enums hold their AWS wire strings, key ids their
-- lowercase text, times milliseconds since the Unix epoch. Versions are BIGINT so that every u32
-- fits. Text that is ordered or paged on compares byte by byte (`COLLATE "C"`), as in SQLite,
-- whatever locale the server was created with.

CREATE TABLE keys (
    account         TEXT COLLATE "C" NOT NULL,
    key_id          TEXT COLLATE "C" NOT NULL,
    description     TEXT             NOT NULL,
    key_spec        TEXT             NOT NULL,
    key_usage       TEXT             NOT NULL,
    origin          TEXT             NOT NULL,
    state           TEXT             NOT NULL,
    created_at      BIGINT           NOT NULL,
    deletion_date   BIGINT,
    current_version BIGINT           NOT NULL,
    PRIMARY KEY (account, key_id)
);

-- Backing key material, only ever wrapped under a root key (DESIGN.md, "Key hierarchy").
CREATE TABLE key_versions (
    account          TEXT COLLATE "C" NOT NULL,
    key_id           TEXT COLLATE "C" NOT NULL,
    version          BIGINT           NOT NULL,
    root_key_id      TEXT             NOT NULL,
    wrapped_material BYTEA            NOT NULL,
    created_at       BIGINT           NOT NULL,
    PRIMARY KEY (account, key_id, version),
    FOREIGN KEY (account, key_id) REFERENCES keys (account, key_id)
);

CREATE TABLE aliases (
    account       TEXT COLLATE "C" NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    target_key_id TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT           NOT NULL,
    updated_at    BIGINT           NOT NULL,
    PRIMARY KEY (account, name),
    FOREIGN KEY (account, target_key_id) REFERENCES keys (account, key_id)
);

-- Counting a key's aliases against the per-key quota, and ListAliases with a KeyId.
CREATE INDEX aliases_by_target ON aliases (account, target_key_id, name);
