-- Grants. A grant names its grantee and optional retiring principal either as an AWS principal
-- or as a service principal (one column of each pair is set), its operations as their names
-- separated by commas, and its constraints as a JSON object with the wire member names. Grants
-- go when their key goes, so whatever removes a key row need not know of them.

CREATE TABLE grants (
    account                    TEXT    NOT NULL,
    grant_id                   TEXT    NOT NULL,
    key_id                     TEXT    NOT NULL,
    name                       TEXT,
    created_at                 INTEGER NOT NULL,
    grantee_principal          TEXT,
    grantee_service_principal  TEXT,
    retiring_principal         TEXT,
    retiring_service_principal TEXT,
    operations                 TEXT    NOT NULL,
    grant_constraints          TEXT,
    PRIMARY KEY (account, grant_id),
    FOREIGN KEY (account, key_id) REFERENCES keys (account, key_id) ON DELETE CASCADE
) STRICT;

-- ListGrants and the per-key quota; CreateGrant's lookup of a name; ListRetirableGrants.
CREATE INDEX grants_by_key ON grants (account, key_id, grant_id);
CREATE INDEX grants_by_name ON grants (account, key_id, name) WHERE name IS NOT NULL;
CREATE INDEX grants_by_retiring_principal ON grants (account, retiring_principal, grant_id)
    WHERE retiring_principal IS NOT NULL;
CREATE INDEX grants_by_retiring_service_principal
    ON grants (account, retiring_service_principal, grant_id)
    WHERE retiring_service_principal IS NOT NULL;
