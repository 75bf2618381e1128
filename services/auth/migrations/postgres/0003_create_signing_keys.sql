-- Ed25519 keys that sign access tokens, as PKCS#8 DER. The newest unretired key signs;
-- every unretired key is published in the JWKS.

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    private_key_der BYTEA NOT NULL,
    create_time     BIGINT NOT NULL,
    retire_time     BIGINT
);
