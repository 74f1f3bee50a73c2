/**
 * TypeORM's schema synchronisation against Postgres: the DDL it generates and the
 * information_schema / pg_catalog queries of PostgresQueryRunner (loadTables: tables, columns,
 * constraints, indices, foreign keys, enum labels; hasTable, hasColumn, hasSchema, current
 * schema and database), as written in TypeORM's src/driver/postgres/PostgresQueryRunner.ts with
 * this group's schema and tables filled in. TypeORM puts no ORDER BY on them: rows are compared
 * as multisets.
 */
import type { Group } from './types.js';

const S = 'g_typeorm';
const TABLES = `("table_schema" = '${S}' AND "table_name" = 'user') OR ("table_schema" = '${S}' AND "table_name" = 'post')`;
const NS_TABLES = `("ns"."nspname" = '${S}' AND "t"."relname" = 'user') OR ("ns"."nspname" = '${S}' AND "t"."relname" = 'post')`;
const FK_TABLES = `("ns"."nspname" = '${S}' AND "cl"."relname" = 'user') OR ("ns"."nspname" = '${S}' AND "cl"."relname" = 'post')`;

export const CATALOG_TYPEORM_GROUPS: readonly Group[] = [
  {
    name: 'typeorm',
    category: 'catalog-typeorm',
    setup: `
      CREATE TYPE "user_role_enum" AS ENUM('admin', 'editor', 'viewer');
      CREATE TABLE "user" (
        "id" SERIAL NOT NULL,
        "email" character varying(120) NOT NULL,
        "role" "user_role_enum" NOT NULL DEFAULT 'viewer',
        "score" numeric(7,2),
        "tags" text array,
        CONSTRAINT "UQ_e12875dfb3b1d92d7d7c5377e22" UNIQUE ("email"),
        CONSTRAINT "PK_cace4a159ff9f2512dd42373760" PRIMARY KEY ("id")
      );
      COMMENT ON TABLE "user" IS 'users';
      COMMENT ON COLUMN "user"."email" IS 'login';
      INSERT INTO "user" ("email", "role") VALUES ('a@x.io', 'admin'), ('b@x.io', DEFAULT);`,
    statements: [
      'SELECT * FROM current_schema()',
      'SELECT * FROM current_database()',
      'SELECT version()',
      'SHOW server_version',
      `SELECT * FROM "information_schema"."schemata" WHERE "schema_name" = '${S}'`,
      `SELECT * FROM "information_schema"."tables" WHERE "table_schema" = '${S}' AND "table_name" = 'typeorm_metadata'`,
      'START TRANSACTION',
      `CREATE TYPE "${S}"."post_status_enum" AS ENUM('draft', 'published')`,
      `CREATE TABLE "${S}"."post" ("id" SERIAL NOT NULL, "title" character varying NOT NULL, "body" text, "status" "${S}"."post_status_enum" NOT NULL DEFAULT 'draft', "authorId" integer, "createdAt" TIMESTAMP NOT NULL DEFAULT now(), CONSTRAINT "PK_be5fda3aac270b134ff9c21cdee" PRIMARY KEY ("id"))`,
      `CREATE INDEX "IDX_e28aa0c4114146bfb1567bfa9a" ON "${S}"."post" ("title") `,
      `ALTER TABLE "${S}"."post" ADD CONSTRAINT "FK_c6fb082a3114f35d0cc27c518e0" FOREIGN KEY ("authorId") REFERENCES "${S}"."user"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `COMMENT ON COLUMN "${S}"."post"."body" IS 'markdown'`,
      'COMMIT',
      {
        sql: `SELECT "table_schema", "table_name", obj_description((quote_ident("table_schema") || '.' || quote_ident("table_name"))::regclass, 'pg_class') AS table_comment FROM "information_schema"."tables" WHERE ${TABLES}`,
        order: 'unordered',
      },
      {
        sql:
          `SELECT columns.*, pg_catalog.col_description((quote_ident(table_catalog) || '.' || quote_ident(table_schema) || '.' || quote_ident(table_name))::regclass::oid, ordinal_position) AS description, ` +
          `('"' || "udt_schema" || '"."' || "udt_name" || '"')::"regtype"::text AS "regtype", pg_catalog.format_type("col_attr"."atttypid", "col_attr"."atttypmod") AS "format_type" ` +
          `FROM "information_schema"."columns" ` +
          `LEFT JOIN "pg_catalog"."pg_attribute" AS "col_attr" ON "col_attr"."attname" = "columns"."column_name" ` +
          `AND "col_attr"."attrelid" = ( ` +
          `SELECT "cls"."oid" FROM "pg_catalog"."pg_class" AS "cls" ` +
          `LEFT JOIN "pg_catalog"."pg_namespace" AS "ns" ON "ns"."oid" = "cls"."relnamespace" ` +
          `WHERE "cls"."relname" = "columns"."table_name" ` +
          `AND "ns"."nspname" = "columns"."table_schema" ` +
          `) ` +
          `WHERE ${TABLES}`,
        order: 'unordered',
      },
      {
        sql:
          `SELECT "ns"."nspname" AS "table_schema", "t"."relname" AS "table_name", "cnst"."conname" AS "constraint_name", ` +
          `pg_get_constraintdef("cnst"."oid") AS "expression", ` +
          `CASE "cnst"."contype" WHEN 'p' THEN 'PRIMARY' WHEN 'u' THEN 'UNIQUE' WHEN 'c' THEN 'CHECK' WHEN 'x' THEN 'EXCLUDE' END AS "constraint_type", "a"."attname" AS "column_name" ` +
          `FROM "pg_constraint" "cnst" ` +
          `INNER JOIN "pg_class" "t" ON "t"."oid" = "cnst"."conrelid" ` +
          `INNER JOIN "pg_namespace" "ns" ON "ns"."oid" = "cnst"."connamespace" ` +
          `LEFT JOIN "pg_attribute" "a" ON "a"."attrelid" = "cnst"."conrelid" AND "a"."attnum" = ANY ("cnst"."conkey") ` +
          `WHERE "t"."relkind" IN ('r', 'p') AND (${NS_TABLES})`,
        order: 'unordered',
      },
      {
        sql:
          `SELECT "ns"."nspname" AS "table_schema", "t"."relname" AS "table_name", "i"."relname" AS "constraint_name", "a"."attname" AS "column_name", ` +
          `CASE "ix"."indisunique" WHEN 't' THEN 'TRUE' ELSE'FALSE' END AS "is_unique", pg_get_expr("ix"."indpred", "ix"."indrelid") AS "condition", ` +
          `"types"."typname" AS "type_name", "am"."amname" AS "index_type" ` +
          `FROM "pg_class" "t" ` +
          `INNER JOIN "pg_index" "ix" ON "ix"."indrelid" = "t"."oid" ` +
          `INNER JOIN "pg_attribute" "a" ON "a"."attrelid" = "t"."oid"  AND "a"."attnum" = ANY ("ix"."indkey") ` +
          `INNER JOIN "pg_namespace" "ns" ON "ns"."oid" = "t"."relnamespace" ` +
          `INNER JOIN "pg_class" "i" ON "i"."oid" = "ix"."indexrelid" ` +
          `INNER JOIN "pg_type" "types" ON "types"."oid" = "a"."atttypid" ` +
          `INNER JOIN "pg_am" "am" ON "i"."relam" = "am"."oid" ` +
          `LEFT JOIN "pg_constraint" "cnst" ON "cnst"."conname" = "i"."relname" ` +
          `WHERE "t"."relkind" IN ('r', 'p') AND "cnst"."contype" IS NULL AND (${NS_TABLES})`,
        order: 'unordered',
      },
      {
        sql:
          `SELECT "con"."conname" AS "constraint_name", "con"."nspname" AS "table_schema", "con"."relname" AS "table_name", "att2"."attname" AS "column_name", ` +
          `"ns"."nspname" AS "referenced_table_schema", "cl"."relname" AS "referenced_table_name", "att"."attname" AS "referenced_column_name", "con"."confdeltype" AS "on_delete", ` +
          `"con"."confupdtype" AS "on_update", "con"."condeferrable" AS "deferrable", "con"."condeferred" AS "deferred" ` +
          `FROM ( ` +
          `SELECT UNNEST ("con1"."conkey") AS "parent", UNNEST ("con1"."confkey") AS "child", "con1"."confrelid", "con1"."conrelid", "con1"."conname", "con1"."contype", "ns"."nspname", ` +
          `"cl"."relname", "con1"."condeferrable", ` +
          `CASE WHEN "con1"."condeferred" THEN 'INITIALLY DEFERRED' ELSE 'INITIALLY IMMEDIATE' END as condeferred, ` +
          `CASE "con1"."confdeltype" WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END as "confdeltype", ` +
          `CASE "con1"."confupdtype" WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END as "confupdtype" ` +
          `FROM "pg_class" "cl" ` +
          `INNER JOIN "pg_namespace" "ns" ON "cl"."relnamespace" = "ns"."oid" ` +
          `INNER JOIN "pg_constraint" "con1" ON "con1"."conrelid" = "cl"."oid" ` +
          `WHERE "con1"."contype" = 'f' AND (${FK_TABLES}) ` +
          `) "con" ` +
          `INNER JOIN "pg_attribute" "att" ON "att"."attrelid" = "con"."confrelid" AND "att"."attnum" = "con"."child" ` +
          `INNER JOIN "pg_class" "cl" ON "cl"."oid" = "con"."confrelid"  AND "cl"."relispartition" = 'f'` +
          `INNER JOIN "pg_namespace" "ns" ON "cl"."relnamespace" = "ns"."oid" ` +
          `INNER JOIN "pg_attribute" "att2" ON "att2"."attrelid" = "con"."conrelid" AND "att2"."attnum" = "con"."parent"`,
        order: 'unordered',
      },
      `SELECT "udt_schema", "udt_name" FROM "information_schema"."columns" WHERE "table_schema" = '${S}' AND "table_name" = 'user' AND "column_name"='role'`,
      {
        sql: `SELECT "e"."enumlabel" AS "value" FROM "pg_enum" "e" INNER JOIN "pg_type" "t" ON "t"."oid" = "e"."enumtypid" INNER JOIN "pg_namespace" "n" ON "n"."oid" = "t"."typnamespace" WHERE "n"."nspname" = '${S}' AND "t"."typname" = 'user_role_enum'`,
        order: 'unordered',
      },
      "SELECT TRUE FROM information_schema.columns WHERE table_name = 'pg_class' and column_name = 'relispartition'",
      `SELECT * FROM "information_schema"."tables" WHERE "table_schema" = '${S}' AND "table_name" = 'post'`,
      `SELECT * FROM "information_schema"."columns" WHERE "table_schema" = '${S}' AND "table_name" = 'post' AND "column_name" = 'title'`,
      {
        sql: `INSERT INTO "${S}"."post"("title", "body", "status", "authorId") VALUES ($1, $2, DEFAULT, $3) RETURNING "id", "status"`,
        params: ['Hello ☃', null, '1'],
      },
      {
        sql: `SELECT "Post"."id" AS "Post_id", "Post"."title" AS "Post_title", "Post"."status" AS "Post_status", "Author"."email" AS "Author_email" FROM "${S}"."post" "Post" LEFT JOIN "${S}"."user" "Author" ON "Author"."id"="Post"."authorId" WHERE "Post"."id" IN ($1) ORDER BY "Post"."id" ASC`,
        params: ['1'],
      },
      {
        sql: `UPDATE "${S}"."user" SET "score" = $1, "tags" = $2 WHERE "id" IN ($3)`,
        params: ['12.50', '{x,"y z"}', '1'],
      },
      {
        sql: `SELECT "User"."id" AS "User_id", "User"."email" AS "User_email", "User"."role" AS "User_role", "User"."score" AS "User_score", "User"."tags" AS "User_tags" FROM "${S}"."user" "User" WHERE ("User"."role" = $1) LIMIT 1`,
        params: ['admin'],
      },
      {
        sql: `SELECT COUNT(DISTINCT("User"."id")) AS "cnt" FROM "${S}"."user" "User"`,
      },
      `ALTER TABLE "${S}"."post" DROP CONSTRAINT "FK_c6fb082a3114f35d0cc27c518e0"`,
      `DROP INDEX "${S}"."IDX_e28aa0c4114146bfb1567bfa9a"`,
      `ALTER TYPE "${S}"."post_status_enum" RENAME TO "post_status_enum_old"`,
    ],
  },
];
