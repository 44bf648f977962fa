/**
 * The writes of an append as one function, so the database plans its statements once per
 * connection instead of on every append: planning the same writes sent as text took longer
 * than running them. The statements are those an append sent before this function existed;
 * JSON bodies arrive as one JSON array each and are unpacked with json_array_elements.
 */
export const writeBatchFunction = `
CREATE FUNCTION {{schema}}.write_batch(
  p_run_id text,
  p_seqs integer[], p_created_ats bigint[], p_events json,
  p_workflow_name text, p_status text, p_created_at bigint, p_updated_at bigint, p_last_seq integer, p_run json,
  p_new_step_ids text[], p_new_step_seqs integer[], p_new_steps json,
  p_known_step_ids text[], p_known_steps json,
  p_new_wait_ids text[], p_new_wait_seqs integer[], p_new_waits json,
  p_known_wait_ids text[], p_known_waits json,
  p_channel text, p_notification text
) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  INSERT INTO {{schema}}.events (run_id, seq, created_at, body)
  SELECT p_run_id, u.seq, u.created_at, b.body
  FROM unnest(p_seqs, p_created_ats) WITH ORDINALITY AS u(seq, created_at, n)
  JOIN json_array_elements(p_events) WITH ORDINALITY AS b(body, n) USING (n);

  INSERT INTO {{schema}}.runs (run_id, workflow_name, status, created_at, updated_at, last_seq, body)
  VALUES (p_run_id, p_workflow_name, p_status, p_created_at, p_updated_at, p_last_seq, p_run)
  ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
    last_seq = EXCLUDED.last_seq, body = EXCLUDED.body;

  IF cardinality(p_new_step_ids) > 0 THEN
    INSERT INTO {{schema}}.steps (run_id, step_id, created_seq, body)
    SELECT p_run_id, u.step_id, u.created_seq, b.body
    FROM unnest(p_new_step_ids, p_new_step_seqs) WITH ORDINALITY AS u(step_id, created_seq, n)
    JOIN json_array_elements(p_new_steps) WITH ORDINALITY AS b(body, n) USING (n);
  END IF;
  IF cardinality(p_known_step_ids) > 0 THEN
    UPDATE {{schema}}.steps AS s SET body = k.body
    FROM (SELECT u.step_id, b.body
          FROM unnest(p_known_step_ids) WITH ORDINALITY AS u(step_id, n)
          JOIN json_array_elements(p_known_steps) WITH ORDINALITY AS b(body, n) USING (n)) AS k
    WHERE s.run_id = p_run_id AND s.step_id = k.step_id;
  END IF;
  IF cardinality(p_new_wait_ids) > 0 THEN
    INSERT INTO {{schema}}.waits (run_id, wait_id, created_seq, body)
    SELECT p_run_id, u.wait_id, u.created_seq, b.body
    FROM unnest(p_new_wait_ids, p_new_wait_seqs) WITH ORDINALITY AS u(wait_id, created_seq, n)
    JOIN json_array_elements(p_new_waits) WITH ORDINALITY AS b(body, n) USING (n);
  END IF;
  IF cardinality(p_known_wait_ids) > 0 THEN
    UPDATE {{schema}}.waits AS w SET body = k.body
    FROM (SELECT u.wait_id, b.body
          FROM unnest(p_known_wait_ids) WITH ORDINALITY AS u(wait_id, n)
          JOIN json_array_elements(p_known_waits) WITH ORDINALITY AS b(body, n) USING (n)) AS k
    WHERE w.run_id = p_run_id AND w.wait_id = k.wait_id;
  END IF;

  -- Delivered only if the transaction commits.
  PERFORM pg_notify(p_channel, p_notification);
END
$$;
`;
