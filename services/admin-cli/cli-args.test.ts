import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { optionalSeconds, parseCommandArgs, parseDuration, UsageError, wantsHelp } from './cli-args.ts';
import { auditFilterSubject } from './audit-command.ts';

const options = { name: { type: 'string' }, scope: { type: 'string', multiple: true }, json: { type: 'boolean' } } as const;

describe('parseCommandArgs', () => {
  it('returns values and positionals of a well-formed command line', () => {
    const parsed = parseCommandArgs('x create', ['n', '--scope', 'a', '--scope', 'b', '--json'], options, { names: ['name'], min: 1 });
    assert.deepEqual(parsed.positionals, ['n']);
    assert.deepEqual(parsed.values.scope, ['a', 'b']);
  });

  it('turns every parse failure into one short UsageError line', () => {
    const cases: [string[], RegExp][] = [
      [['--colour', 'red'], /^unknown option --colour for "x create"/],
      [['--name'], /^option --name needs a value/],
      [['--name', '--json'], /^option --name needs a value \(write --name=-value/],
      [['--json=yes'], /^option --json does not take a value/],
      [[], /^missing <name> for "x create"/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(() => parseCommandArgs('x create', argv, options, { names: ['name'], min: 1 }), (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        assert.ok(!error.message.includes('\n'));
        return true;
      });
    }
  });

  it('does not echo an extra positional, which might be a password typed in the wrong place', () => {
    assert.throws(() => parseCommandArgs('users create', ['bob', 'hunter2-secret'], options, { names: ['username'], min: 1 }),
      (error: Error) => error instanceof UsageError && !error.message.includes('hunter2') && /too many arguments/.test(error.message));
  });
});

describe('value parsers', () => {
  it('accepts seconds written as digits only', () => {
    assert.equal(optionalSeconds({ ttl: '3600' }, 'ttl'), 3600);
    assert.equal(optionalSeconds({}, 'ttl'), undefined);
    for (const bad of ['10m', '1e5', '-5', '3.5', '', ' 60']) assert.throws(() => optionalSeconds({ ttl: bad }, 'ttl'), UsageError, bad);
  });

  it('parses durations with a unit', () => {
    assert.equal(parseDuration('90s', 'since'), 90_000);
    assert.equal(parseDuration('2h', 'since'), 7_200_000);
    assert.equal(parseDuration('7d', 'since'), 604_800_000);
    for (const bad of ['5', '5x', 'yesterday', '1h30m']) assert.throws(() => parseDuration(bad, 'since'), UsageError, bad);
  });

  it('finds --help before a -- terminator only', () => {
    assert.equal(wantsHelp(['a', '--help']), true);
    assert.equal(wantsHelp(['-h']), true);
    assert.equal(wantsHelp(['--', '--help']), false);
  });

  it('maps audit --type values to JetStream subjects', () => {
    assert.equal(auditFilterSubject(undefined), 'oauth.audit.>');
    assert.equal(auditFilterSubject('oauth.client.created'), 'oauth.audit.client.created');
    assert.equal(auditFilterSubject('login.failed'), 'oauth.audit.login.failed');
    assert.equal(auditFilterSubject('oauth.token.*'), 'oauth.audit.token.>');
    for (const bad of ['oauth.>', 'a b', 'oauth..x', '*', 'oauth.client.*.x']) assert.throws(() => auditFilterSubject(bad), UsageError, bad);
  });
});
