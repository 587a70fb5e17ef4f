import { randomBytes, randomUUID } from 'node:crypto';
import { DB_ID } from './patterns.ts';

/** 128 random bits, hex: the db_id, and (prefixed) the database's name on the host. */
export const newDbId = (): string => randomBytes(16).toString('hex');
export const newTenantId = (): string => randomUUID();

export const isDbId = (value: string): boolean => DB_ID.test(value);

/** The schema name on the MySQL host. */
export const databaseName = (dbId: string): string => `db_${dbId}`;
/** MySQL 8 limits user names to 32 characters: 96 of the 128 bits are plenty to stay unique. */
export const databaseUser = (dbId: string): string => `u_${dbId.slice(0, 24)}`;
/** Each concurrent Skeema run needs its own temp schema (Skeema takes a server-wide lock per name). */
export const tempSchemaName = (): string => `_skeema_tmp_${randomBytes(6).toString('hex')}`;
/** A throwaway schema a host script creates and drops itself (e.g. to let Skeema compute a change). */
export const scratchSchemaName = (): string => `_octodb_scratch_${randomBytes(6).toString('hex')}`;
/** A MySQL password with only [0-9a-f]: nothing to escape in SQL or shell. */
export const newDatabasePassword = (): string => randomBytes(24).toString('hex');
