-- The seeds' windowed fraud rules as views (they hold no data, so CREATE OR REPLACE is a safe,
-- idempotent way to follow threshold changes in spec.rules).

-- Each user's average spending over everything loaded: the baseline the spend rule compares to.
CREATE OR REPLACE VIEW {{ database }}.user_spending AS
SELECT user_id, avg(amount) AS avg_amount, count() AS txn_count
FROM {{ database }}.transactions FINAL
GROUP BY user_id;

-- Per-card 10-minute tumbling windows: count, total and the user's average spending.
CREATE OR REPLACE VIEW {{ database }}.card_windows_10m AS
SELECT w.card_id, w.user_id, w.window_start, w.window_end, w.txn_count, w.total_amount,
       s.avg_amount AS user_avg_amount
FROM
(
    SELECT card_id, any(user_id) AS user_id,
           toStartOfInterval(event_ts, INTERVAL 10 MINUTE) AS window_start,
           window_start + INTERVAL 10 MINUTE AS window_end,
           count() AS txn_count, sum(amount) AS total_amount
    FROM {{ database }}.transactions FINAL
    GROUP BY card_id, window_start
) AS w
LEFT JOIN {{ database }}.user_spending AS s ON s.user_id = w.user_id;
{% for rule in rules if rule.enabled %}
{%- if rule.type == 'SpendBurst' %}

-- Rule {{ rule.name }}: at least {{ rule.min_count }} transactions within {{ rule.window_minutes }} minutes
-- whose total exceeds the user's average spending.
CREATE OR REPLACE VIEW {{ database }}.rule_{{ rule.name }} AS
SELECT w.card_id, w.user_id, w.window_start, w.window_end, w.txn_count, w.total_amount,
       s.avg_amount AS user_avg_amount
FROM
(
    SELECT card_id, any(user_id) AS user_id,
           toStartOfInterval(event_ts, INTERVAL {{ rule.window_minutes }} MINUTE) AS window_start,
           window_start + INTERVAL {{ rule.window_minutes }} MINUTE AS window_end,
           count() AS txn_count, sum(amount) AS total_amount
    FROM {{ database }}.transactions FINAL
    GROUP BY card_id, window_start
) AS w
INNER JOIN {{ database }}.user_spending AS s ON s.user_id = w.user_id
WHERE w.txn_count >= {{ rule.min_count }} AND w.total_amount > s.avg_amount;
{%- elif rule.type == 'Velocity' %}

-- Rule {{ rule.name }}: at least {{ rule.min_count }} transactions on one card within {{ rule.window_minutes }} minutes.
CREATE OR REPLACE VIEW {{ database }}.rule_{{ rule.name }} AS
SELECT card_id, any(user_id) AS user_id,
       toStartOfInterval(event_ts, INTERVAL {{ rule.window_minutes }} MINUTE) AS window_start,
       window_start + INTERVAL {{ rule.window_minutes }} MINUTE AS window_end,
       count() AS txn_count, sum(amount) AS total_amount
FROM {{ database }}.transactions FINAL
GROUP BY card_id, window_start
HAVING txn_count >= {{ rule.min_count }};
{%- endif %}
{%- endfor %}
