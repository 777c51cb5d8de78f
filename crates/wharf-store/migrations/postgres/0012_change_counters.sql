-- Change counters: one row per table whose readers keep a copy in memory (the server's
-- token check and its newest deploy pages). A trigger bumps the table's counter in the
-- same transaction as any insert, update or delete, whichever process or tool writes, so
-- a reader that finds the counter unchanged knows its copy is current — one small read
-- instead of the table itself, and a revoked token is refused from the next request.

CREATE TABLE change_counter (
    name TEXT PRIMARY KEY NOT NULL,
    n    BIGINT NOT NULL
);
INSERT INTO change_counter (name, n) VALUES ('api_token', 0), ('deploy', 0);

CREATE FUNCTION bump_change_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counter SET n = n + 1 WHERE name = TG_ARGV[0];
    RETURN NULL;
END
$$;

CREATE TRIGGER api_token_changed AFTER INSERT OR UPDATE OR DELETE ON api_token
FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter('api_token');
CREATE TRIGGER deploy_changed AFTER INSERT OR UPDATE OR DELETE ON deploy
FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter('deploy');
