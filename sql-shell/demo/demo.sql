-- A new version of `orders` goes to a canary cohort first, two consumers read different
-- versions through the same name, then the rollout is rolled back.
-- The data was generated as Parquet under {{source}}/.

-- A dataset is a name that points at immutable versions.
CREATE DATASET orders COMMENT 'demo orders';

REGISTER VERSION 'v1' OF orders FROM '{{source}}/orders_v1/' REASON 'initial load';

PROMOTE orders TO 'v1' REASON 'first stable version';

-- v2: 500 more orders, amounts repriced, and a new nullable column `channel`.
REGISTER VERSION 'v2' OF orders FROM '{{source}}/orders_v2/' REASON 'new pricing';

SHOW VERSIONS OF orders;

CREATE COHORT canary MEMBERS ('alice');

PROMOTE orders TO 'v2' FOR COHORT canary REASON 'try the new pricing on canary';

-- alice is in the canary cohort: she reads v2.
SET rollout.consumer = 'alice';

SELECT count(*) AS orders, round(avg(amount), 2) AS avg_amount FROM orders;

-- bob is not: the same query reads v1.
SET rollout.consumer = 'bob';

SELECT count(*) AS orders, round(avg(amount), 2) AS avg_amount FROM orders;

SHOW ROLLOUT orders;

-- Rolling back is one metadata commit: everyone reads v1 again.
ROLLBACK orders REASON 'average amount moved too much';

SET rollout.consumer = 'alice';

SELECT count(*) AS orders, round(avg(amount), 2) AS avg_amount FROM orders;

-- Every change is an entry in the audit trail.
SHOW HISTORY OF orders;
