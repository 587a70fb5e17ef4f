import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { databaseName, databaseUser, newDbId, newTenantId, scratchSchemaName, tempSchemaName } from '#core/ids';
import * as patterns from '#core/patterns';
import { DB_ID, JOB_ID, OPAQUE_ID, SCHEMA_NAME, TEMPLATE_NAME, USER_NAME } from '#core/patterns';

describe('identifier patterns', () => {
  it('fit every id the core mints, where each of them goes', () => {
    const dbId = newDbId();
    expect(dbId).toMatch(DB_ID);
    expect(dbId).toMatch(TEMPLATE_NAME); // a parent's db_id is a child's template
    expect(dbId).toMatch(OPAQUE_ID); // in log records
    expect(databaseName(dbId)).toMatch(SCHEMA_NAME);
    expect(databaseUser(dbId)).toMatch(USER_NAME);
    for (const schema of [tempSchemaName(), scratchSchemaName()]) expect(schema).toMatch(SCHEMA_NAME);
    expect(newTenantId()).toMatch(OPAQUE_ID);
    expect(randomUUID()).toMatch(JOB_ID); // job ids are uuids
  });

  it.each(['', 'a b', 'a\nb', "a'b", 'a`b', 'a;b', 'a$(b)', 'ä', 'x'.repeat(300)])('let no pattern pass %j (nothing for a shell or SQL to read as code)', (value) => {
    for (const [name, pattern] of Object.entries(patterns)) expect(pattern.test(value), name).toBe(false);
  });
});
