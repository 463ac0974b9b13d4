import { expect, it } from 'vitest';
import { toPostgres } from '../src/storage/dialect.js';

it('PostgreSQL dialect: camelCase aliases are quoted (PostgreSQL folds them), types and plain aliases are not', () => {
  expect(toPostgres(`SELECT on_hand AS onHand, updated_at as updatedAt, CAST(? AS TEXT) AS t, x AS plain FROM inventory WHERE a = 'AS onHand'`).text).toBe(
    `SELECT on_hand AS "onHand", updated_at as "updatedAt", CAST($1 AS TEXT) AS t, x AS plain FROM inventory WHERE a = 'AS onHand'`,
  );
});
