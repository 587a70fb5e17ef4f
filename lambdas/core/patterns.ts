/**
 * The shapes of OctoDB's identifiers, defined once: request schemas (lambdas/shared), the core,
 * the adapters and the CDK stack (lib/) check against these. Each is anchored and bounded, so a
 * value that passes is safe in a host script, a file name and SQL (where the pattern says so).
 * In the core, not lambdas/shared: the core checks them too, and imports run shared → core.
 */

/** A database's id: 128 random bits as lowercase hex (core/ids.ts newDbId); `db_<id>` on the host. */
export const DB_ID = /^[0-9a-f]{32}$/;
/** A template under schemas/templates (or a parent's db_id, which also fits): a directory name. */
export const TEMPLATE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Table, column and index names a migration may create: safe as file names, in host scripts and in SQL. */
export const SQL_IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** A MySQL schema name OctoDB puts in a host script or a statement (db_<id>, MetaDB, temp schemas). */
export const SCHEMA_NAME = /^[A-Za-z0-9_]{1,64}$/;
/** A MySQL user name OctoDB creates (u_<id>, the API account): MySQL 8 allows 32 characters. */
export const USER_NAME = /^[A-Za-z0-9_]{1,32}$/;
/** A migration job's id (a uuid) as a host script carries it. */
export const JOB_ID = /^[0-9a-f-]{36}$/;
/**
 * An id OctoDB stores without minting it itself: a host's id in MetaDB (`mysql-1` on AWS, `local`)
 * and the ids a log record carries (tenant, db, job, log ids).
 */
export const OPAQUE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A browser origin: scheme, host, optional port; what the Origin request header carries. */
export const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;
