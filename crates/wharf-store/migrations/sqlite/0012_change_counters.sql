-- Change counters: one row per table whose readers keep a copy in memory (the server's
-- token check and its newest deploy pages). A trigger bumps the table's counter in the
-- same transaction as any insert, update or delete, whichever process or tool writes, so
-- a reader that finds the counter unchanged knows its copy is current — one small read
-- instead of the table itself, and a revoked token is refused from the next request.

CREATE TABLE change_counter (
    name TEXT PRIMARY KEY NOT NULL,
    n    INTEGER NOT NULL
) STRICT;
INSERT INTO change_counter (name, n) VALUES ('api_token', 0), ('deploy', 0);

CREATE TRIGGER api_token_inserted AFTER INSERT ON api_token
BEGIN UPDATE change_counter SET n = n + 1 WHERE name = 'api_token'; END;
CREATE TRIGGER api_token_updated AFTER UPDATE ON api_token
BEGIN UPDATE change_counter SET n = n + 1 WHERE name = 'api_token'; END;
CREATE TRIGGER api_token_deleted AFTER DELETE ON api_token
BEGIN UPDATE change_counter SET n = n + 1 WHERE name = 'api_token'; END;

CREATE TRIGGER deploy_inserted AFTER INSERT ON deploy
BEGIN UPDATE change_counter SET n = n + 1 WHERE name = 'deploy'; END;
CREATE TRIGGER deploy_updated AFTER UPDATE ON deploy
BEGIN UPDATE change_counter SET n = n + 1 WHERE name = 'deploy'; END;
CREATE TRIGGER deploy_deleted AFTER DELETE ON deploy
BEGIN UPDATE change_counter SET n = n + 1 WHERE name = 'deploy'; END;
