/**
 * Whether `version` has been released before, i.e. stable in some region: the target of a completed
 * rollout, the stable version some rollout started from, or the candidate of a rollout that entered
 * a stage at 100 % (its regions then served it to every client). Emergency rollback may only return
 * to such a version; anything else is a rollout and goes through its approvals (SPEC, trust rules).
 * Derived from the coordinator's rollouts table, so it needs no new storage.
 */
export function wasReleased(sql: SqlStorage, version: number): boolean {
  return (
    sql
      .exec(
        `SELECT 1 FROM rollouts r
         WHERE r.from_version = ?1
            OR (r.version = ?1 AND (r.state = 'completed' OR EXISTS (
                 SELECT 1 FROM json_each(r.stage_history) h
                 JOIN json_each(r.plan, '$.stages') s ON s.key = json_extract(h.value, '$.index')
                 WHERE json_extract(s.value, '$.percent') >= 100)))
         LIMIT 1`,
        version,
      )
      .toArray().length > 0
  );
}
