import type { FieldPacket } from 'mysql2';
import type { ResultColumn } from '#core/ports';

// Column definition flags (include/mysql_com.h) and the `binary` character set.
const UNSIGNED_FLAG = 32;
const ENUM_FLAG = 256;
const SET_FLAG = 2048;
const BINARY_CHARSET = 63;

/** Type codes (enum_field_types) whose name needs nothing else; the 2-suffixed ones are the server's internal twins. */
const PLAIN: Record<number, string> = {
  0: 'DECIMAL', 246: 'DECIMAL',
  1: 'TINYINT', 2: 'SMALLINT', 9: 'MEDIUMINT', 3: 'INT', 8: 'BIGINT',
  4: 'FLOAT', 5: 'DOUBLE',
  6: 'NULL',
  7: 'TIMESTAMP', 17: 'TIMESTAMP', 12: 'DATETIME', 18: 'DATETIME', 10: 'DATE', 14: 'DATE', 11: 'TIME', 19: 'TIME', 13: 'YEAR',
  16: 'BIT', 245: 'JSON', 247: 'ENUM', 248: 'SET', 255: 'GEOMETRY',
};
const NUMERIC = new Set(['DECIMAL', 'TINYINT', 'SMALLINT', 'MEDIUMINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE']);
/**
 * TEXT and BLOB columns all arrive as type 252; their length in bytes tells them apart. A text
 * column's length is its characters times the character set's widest character (up to 4), so
 * each bound is the largest length of that size in a 4-byte character set.
 */
const LOB_SIZES: [maxLength: number, prefix: string][] = [
  [255 * 4, 'TINY'],
  [65_535 * 4, ''],
  [16_777_215 * 4, 'MEDIUM'],
];

/**
 * The MySQL type name of a result column, as `CREATE TABLE` spells it (`INT UNSIGNED`,
 * `VARCHAR`, `VARBINARY`, `MEDIUMTEXT`, `JSON`...), from the driver's column definition: the
 * type code, the flags (UNSIGNED, ENUM, SET), the character set (63 is binary) and, on MariaDB,
 * the extended metadata (JSON, which is LONGTEXT there, and UUID, INET4, INET6).
 */
export function typeName(field: FieldPacket): string {
  const code = Number(field.columnType);
  const flags = Number(field.flags);
  const binary = field.characterSet === BINARY_CHARSET;
  if (field.extendedFormat === 'json') return 'JSON';
  if (field.extendedTypeName) return field.extendedTypeName.toUpperCase();
  const plain = PLAIN[code];
  if (plain) return NUMERIC.has(plain) && flags & UNSIGNED_FLAG ? `${plain} UNSIGNED` : plain;
  if (code === 15 || code === 253) return binary ? 'VARBINARY' : 'VARCHAR';
  if (code === 254) {
    if (flags & ENUM_FLAG) return 'ENUM';
    if (flags & SET_FLAG) return 'SET';
    return binary ? 'BINARY' : 'CHAR';
  }
  if (code >= 249 && code <= 252) {
    const length = Number(field.columnLength);
    const size = LOB_SIZES.find(([max]) => length <= max)?.[1] ?? 'LONG';
    return `${size}${binary ? 'BLOB' : 'TEXT'}`;
  }
  return 'UNKNOWN';
}

/**
 * The result's columns in the statement's order, one per name: a row is an object, so of two
 * columns with the same name it holds the last one's value; its column is listed where the name
 * first appears, with the last one's type.
 */
export function columnsOf(fields: FieldPacket[]): ResultColumn[] {
  const byName = new Map<string, ResultColumn>();
  for (const field of fields) {
    const seen = byName.get(field.name);
    if (seen) seen.type = typeName(field);
    else byName.set(field.name, { name: field.name, type: typeName(field) });
  }
  return [...byName.values()];
}
