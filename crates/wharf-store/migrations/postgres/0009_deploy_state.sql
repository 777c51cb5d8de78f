-- Deploys by state: every read of the deploy history first looks for deploys whose
-- process died (`planned`/`running` without a live lease), and that must not scan every
-- deploy ever made.
CREATE INDEX deploy_state ON deploy (state);
