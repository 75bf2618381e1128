-- A seller's measured response time, kept from chat's SellerResponseTimeChanged: the median
-- seconds from a buyer's first message to the seller's first reply over the last 30 days,
-- how many conversations it is over, and when chat measured it (a later measure replaces an
-- earlier one, never the other way round). NULL until chat first measured the seller.
ALTER TABLE profiles ADD COLUMN response_median_seconds BIGINT NULL;
ALTER TABLE profiles ADD COLUMN response_conversations BIGINT NULL;
ALTER TABLE profiles ADD COLUMN response_measure_time BIGINT NULL;
