// oauth-admin audit tail: follows the OAUTH_AUDIT JetStream stream with an ordered consumer (no
// durable state left on the server) and prints each CloudEvent as one JSON line until Ctrl-C.
import type { ConsumerMessages } from '@nats-io/jetstream';
import { AUDIT_STREAM, Subjects } from '#shared/nats/subjects.ts';
import { optionalString, parseDuration, UsageError } from './cli-args.ts';
import type { CommandGroup } from './command.ts';
import { oneLine } from './output.ts';

/** `oauth.client.created` or `client.created` → its subject; a trailing `.*` follows a whole entity (`oauth.token.*`). */
export function auditFilterSubject(type: string | undefined): string {
  if (type === undefined) return Subjects.auditAll;
  const match = /^(?:oauth\.)?([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)(\.\*)?$/.exec(type);
  if (!match) throw new UsageError(`--type must be an audit event type such as oauth.client.created, or oauth.client.* for all of an entity, not "${type}"`);
  return `${Subjects.auditPrefix}${match[1]}${match[2] ? '.>' : ''}`;
}

export const auditCommands: CommandGroup = {
  name: 'audit',
  summary: 'follow the audit trail (JetStream stream OAUTH_AUDIT)',
  commands: [
    {
      name: 'tail',
      summary: 'print audit events as they happen, one JSON line each, until Ctrl-C',
      usage: '[--type <t>] [--since <duration>]',
      description: [
        'Prints each audit event (a CloudEvents 1.0 JSON object) on one line as it is published, until Ctrl-C.',
        '--type keeps one type (oauth.login.failed) or one entity (oauth.token.*). --since starts that far back',
        '(30s, 15m, 2h, 7d) instead of at new events. A notice on stderr says when it is following.',
      ].join('\n'),
      examples: ['oauth-admin audit tail', 'oauth-admin audit tail --type oauth.login.failed --since 1h | jq .subject'],
      options: { type: { type: 'string' }, since: { type: 'string' } },
      positionals: { names: [], min: 0 },
      nats: 'required',
      database: false,
      prepare({ values }) {
        const filter = auditFilterSubject(optionalString(values, 'type'));
        const since = optionalString(values, 'since');
        const sinceMs = since === undefined ? undefined : parseDuration(since, 'since');
        return async (ctx) => {
          const { jetstream, DeliverPolicy } = await import('@nats-io/jetstream');
          const js = jetstream(ctx.nc!);
          const consumer = await js.consumers.get(AUDIT_STREAM, {
            filter_subjects: filter,
            ...(sinceMs === undefined
              ? { deliver_policy: DeliverPolicy.New }
              : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Date.now() - sinceMs).toISOString() }),
          }).catch((error: Error) => {
            if (/stream not found/i.test(error.message)) throw new Error(`the audit stream ${AUDIT_STREAM} does not exist yet (it is created when the services start)`);
            throw error;
          });
          const messages: ConsumerMessages = await consumer.consume();
          let stopped = false;
          // Not awaited: closing waits for the consumer's outstanding pull request to expire.
          const stop = () => {
            stopped = true;
            void messages.close();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          // The consumer exists on the server now: every event from here on is printed.
          process.stderr.write(`oauth-admin: following ${AUDIT_STREAM} (${filter}); Ctrl-C to stop\n`);
          try {
            for await (const msg of messages) {
              try {
                ctx.io.out(JSON.stringify(msg.json()));
              } catch {
                ctx.io.warn(`skipped a message on ${oneLine(msg.subject)} that is not JSON`);
              }
            }
          } finally {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
          }
          if (!stopped) throw new Error(`stopped following ${AUDIT_STREAM}: the NATS connection or the consumer was lost`);
        };
      },
    },
  ],
};
