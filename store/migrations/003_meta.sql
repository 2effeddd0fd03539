-- Facts about this database itself. 'deployment' is a random token written
-- once (store.Deployment): the stock markers in Redis carry it, so seed and
-- reconcile can tell a Redis that was loaded from another database.
CREATE TABLE IF NOT EXISTS meta (
  k VARCHAR(64)  NOT NULL PRIMARY KEY,
  v VARCHAR(255) NOT NULL
) ENGINE=InnoDB;
