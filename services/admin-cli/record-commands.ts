// The `list` and `show` commands every kind of reference data has: read from the database only
// (no NATS), a table or `name: value` lines for people, JSON with --json for scripts. And `delete`
// for the kinds nothing else hangs on: delete, then announce and audit it.
import type { Db } from 'mongodb';
import type { AuditData, AuditEventType } from '#shared/audit/cloud-event.ts';
import type { ReferenceDataKind } from '#shared/contracts/reference-data-changed.ts';
import { flag } from './cli-args.ts';
import { jsonOption, type Command } from './command.ts';
import { printFields, printJson, printTable, type Cell } from './output.ts';

type Described = { summary: string; description: string; examples: string[] };

/** `<group> list [--json]`: every record, as rows under `columns` or a JSON array. */
export function listCommand<T>(spec: Described & {
  load(db: Db): Promise<T[]>; json(item: T): unknown; columns: string[]; row(item: T): Cell[];
}): Command {
  return {
    name: 'list', summary: spec.summary, usage: '[--json]', description: spec.description, examples: spec.examples,
    options: { ...jsonOption }, positionals: { names: [], min: 0 }, nats: 'none',
    prepare: ({ values }) => async (ctx) => {
      const items = await spec.load(ctx.db);
      if (flag(values, 'json')) printJson(ctx.io, items.map((item) => spec.json(item)));
      else printTable(ctx.io, spec.columns, items.map((item) => spec.row(item)));
    },
  };
}

/** `<group> show <key> [--json]`: one record, as `name: value` lines or a JSON object. */
export function showCommand<T>(spec: Described & {
  key: string; load(db: Db, key: string): Promise<T>; json(item: T): unknown; fields(item: T): [string, Cell][];
}): Command {
  return {
    name: 'show', summary: spec.summary, usage: `<${spec.key}> [--json]`, description: spec.description, examples: spec.examples,
    options: { ...jsonOption }, positionals: { names: [spec.key], min: 1 }, nats: 'none',
    prepare: ({ values, positionals }) => async (ctx) => {
      const item = await spec.load(ctx.db, positionals[0]!);
      if (flag(values, 'json')) printJson(ctx.io, spec.json(item));
      else printFields(ctx.io, spec.fields(item));
    },
  };
}

/** `<group> delete <key>`: deletes the record, announces the change to `kind` and audits `event`. */
export function deleteCommand(spec: Described & {
  key: string; noun: string; kind: ReferenceDataKind; event: AuditEventType; remove(db: Db, key: string): Promise<void>; data?(key: string): AuditData;
}): Command {
  return {
    name: 'delete', summary: spec.summary, usage: `<${spec.key}>`, description: spec.description, examples: spec.examples,
    options: {}, positionals: { names: [spec.key], min: 1 }, nats: 'optional',
    prepare: ({ positionals }) => async (ctx) => {
      const key = positionals[0]!;
      await spec.remove(ctx.db, key);
      ctx.changed(spec.kind, spec.event, key, spec.data?.(key) ?? {});
      ctx.io.out(`Deleted ${spec.noun} ${key}`);
    },
  };
}
