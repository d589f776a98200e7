// Hostile input to the admin CLI (issue 5): the real `bin/oauth-admin.js` on Node 24, spawned with
// random command lines (fast-check) and random standard input for --password-stdin, against a
// database and a NATS server of this file's own. Every run must end (a deadline per run) with exit
// status 0, 1, 2 or 78, and a refusal is one `oauth-admin: …` line on stderr, with no stack trace
// and no password echoed. Command lines that carry a defect must change nothing in the database.
//
// Every command of the CLI's own tables (read from its help) has a template, and each runs at
// least once with a defect. A spawn costs 100–300 ms on a quiet machine, so the runs are few (63 with 30 commands:
// one defective per command, 17 more weighted towards commands that change something, 16 random)
// and go four at a time. The report at the end names the seed; FC_SEED=<seed> replays the same
// command lines.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { MongoClient, type Db } from 'mongodb';
import { createClient, createScope, createUser, createResource } from '../services/admin-cli/reference-data-admin.ts';
import { startPrivateNats, type PrivateNats } from './helpers/nats-server.ts';
import { createResourceServer } from '../services/admin-cli/resource-servers-admin.ts';
import { uniqueMongoUri } from './helpers/system.ts';
import { changedCollections, dbState, fcOptions, junkText, TriedCounter } from './helpers/hostile.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE24 = path.join(ROOT, 'node_modules/.bin/node');
const BIN = path.join(ROOT, 'bin/oauth-admin.js');
const MONGODB_URI = uniqueMongoUri('hostilecli');
const RUN_DEADLINE_MS = 20_000;
const PARALLEL = 4;
const EXIT_CODES = [0, 1, 2, 78];

const tried = new TriedCounter();
let nats: PrivateNats;
let mongo: MongoClient;
let db: Db;
/** Reference data that exists, so command lines can name real things. */
let seeded: { scope: string; username: string; clientId: string; pattern: string; resourceServer: string };

before(async () => {
  nats = await startPrivateNats();
  mongo = await MongoClient.connect(MONGODB_URI);
  db = mongo.db();
  const scope = 'cli.read';
  await createScope(db, scope, 'Read things');
  await createUser(db, { username: 'cli-user', password: 'a long passphrase', groups: ['staff'] });
  const { clientId } = await createClient(db, {
    name: 'CLI app', type: 'confidential', redirectUris: ['https://cli.example.com/cb'], scopes: [scope], refreshTokens: true,
  });
  await createResource(db, { pattern: '/cli/*', scopes: [scope], groups: [] });
  const resourceServer = 'https://api.cli.example.com/';
  await createResourceServer(db, { uri: resourceServer, scopes: [scope] });
  seeded = { scope, username: 'cli-user', clientId, pattern: '/cli/*', resourceServer };
});

after(async () => {
  console.log(tried.report('hostile command lines run'));
  await mongo?.close();
  await nats?.stop();
});

type Run = { argv: string[]; stdin: Buffer; env?: Record<string, string> };
type Result = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean };

function cli({ argv, stdin, env }: Run): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(NODE24, [BIN, ...argv], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', NATS_URL: nats.url, MONGODB_URI, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A command that exits before reading its input closes the pipe: not a failure of the test.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, RUN_DEADLINE_MS);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Runs `runs` at most PARALLEL at a time. */
async function runAll(runs: Run[]): Promise<Result[]> {
  const results: Result[] = new Array(runs.length);
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < runs.length) {
      const i = next++;
      results[i] = await cli(runs[i]!);
    }
  }));
  return results;
}

/** The invariants every run keeps, whatever it was given. */
function assertWellBehaved(run: Run, result: Result): void {
  const ended = result.code ?? result.signal;
  const what = `oauth-admin ${JSON.stringify(run.argv)} (stdin ${run.stdin.length} bytes) → ${ended} ${JSON.stringify(result.stderr.slice(0, 400))}`;
  assert.equal(result.timedOut, false, `hang: ${what}`);
  assert.ok(result.code !== null && EXIT_CODES.includes(result.code), `exit status: ${what}`);
  assert.doesNotMatch(result.stderr, /\n\s+at |Unhandled|node:internal/, `no stack trace: ${what}`);
  // Every line on stderr is an `oauth-admin: …` line (warnings included); a refusal ends with one reason.
  for (const line of result.stderr.split('\n').filter(Boolean)) assert.match(line, /^oauth-admin: \S/, `stderr line: ${what}`);
  if (result.code !== 0) assert.equal(result.stderr.split('\n').filter((l) => l && !l.startsWith('oauth-admin: warning:')).length, 1, `one reason: ${what}`);
  const password = run.stdin.toString('utf8').replace(/\r?\n$/, '');
  if (password.length >= 8) assert.ok(!result.stderr.includes(password) && !result.stdout.includes(password), `the password is never echoed: ${what}`);
}

// ---------------------------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------------------------

/** Junk text that can be an argument (an argument cannot hold NUL). */
const argText = junkText.map((s) => s.replaceAll('\0', ''));

/** A junk argument: any text, option-looking text, '--', '-', empty, very long. */
const junkArg = fc.oneof(
  { weight: 3, arbitrary: argText },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '--', '-', '', '-h2', '--=', '--json=yes', '--no-json', '---x', '--help=x', '-x', '--scope=', '--name=--type', '--\u00e9', '--password-stdin=1',
    ),
  },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12 }).map((s) => `--${s.replaceAll('\0', '')}`) },
);

/** A valid command line for one command, and how to make it certainly wrong. */
type Template = {
  name: string;
  argv: () => string[];
  stdin?: boolean;
  /** The three generic defects first, then the command's own. */
  defects: fc.Arbitrary<(argv: string[]) => string[]>[];
};

const KNOWN_OPTIONS = ['help', 'json', 'name', 'type', 'scope', 'group', 'since', 'description', 'user', 'client'];
const unknownOption = fc.stringMatching(/^[a-z]{3,10}$/).filter((n) => !KNOWN_OPTIONS.includes(n))
  .map((n) => (argv: string[]) => [...argv, `--${n}`, 'x']);
const flagWithValue = fc.constant((argv: string[]) => [...argv, '--json=yes']);
const valueMissing = (option: string) => fc.constant((argv: string[]) => [...argv, `--${option}`]);
/** More positionals than the command takes (after `--`, anything is one). */
const tooMany = (count: number) => fc.array(argText, { minLength: count + 1, maxLength: count + 2 })
  .map((extra) => (argv: string[]) => [...argv, '--', ...extra]);
const replaceOption = (option: string, bad: fc.Arbitrary<string>) => bad.map((value) => (argv: string[]) => {
  const at = argv.indexOf(`--${option}`);
  return at < 0 ? [...argv, `--${option}=${value}`] : [...argv.slice(0, at), `--${option}=${value}`, ...argv.slice(at + 2)];
});
const replacePositional = (bad: fc.Arbitrary<string>) => bad.map((value) => (argv: string[]) => [argv[0]!, argv[1]!, ...argv.slice(3), '--', value]);
const generic = (positionals: number) => [unknownOption, flagWithValue, tooMany(positionals)];

const badScopeName = fc.oneof(
  fc.constantFrom('a b', 'a"b', 'a\\b', '', 'x'.repeat(129), 'é', 'x '),
  argText.filter((s) => !/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/.test(s)),
);
const badUsername = fc.oneof(fc.constantFrom('a b', '', 'x'.repeat(129), 'ä', 'a/b', '<b>'), argText.filter((s) => !/^[A-Za-z0-9._@+-]{1,128}$/.test(s)));
const badGroup = fc.oneof(fc.constantFrom('a b', '', 'x'.repeat(65), 'g/h'), argText.filter((s) => !/^[A-Za-z0-9._:-]{1,64}$/.test(s)));
const badUri = fc.oneof(
  fc.constantFrom(
    'not a uri', 'http://evil.example/cb', 'https://x.example/cb#f', 'https://u:p@x.example/cb', 'javascript:alert(1)', 'data:text/html,x',
    'file:///etc/passwd', 'myapp:/cb', 'https://x.example/<b>', '',
  ),
  argText.filter((s) => !URL.canParse(s)),
);
const badSeconds = fc.oneof(
  fc.constantFrom('-1', '59', '1e3', '0x10', ' 600', '600s', '99999999999', '', 'NaN', '1.5'),
  argText.filter((s) => !/^\d{1,10}$/.test(s)),
);
/** --refresh-grace-seconds: whole seconds from 0 to 60 only. */
const badGrace = fc.oneof(fc.constantFrom('61', '-1', '1.5', '60s', ' 5', '1e1', '0x10', '', '99999999999'), argText.filter((s) => !/^\d{1,10}$/.test(s)));
const badClientId = fc.oneof(fc.constantFrom('a b', '', 'x'.repeat(129), 'c/d', '<c>', 'ä'), argText.filter((s) => !/^[A-Za-z0-9._~-]{1,128}$/.test(s)));
/**
 * Both --user and --client where one is allowed, both appended whatever the other defects did:
 * appending only the missing one could complete a line another defect had cut short (`grants
 * revoke` then `--user u` is valid; a fresh-clone CI run drew exactly that).
 */
const bothHolders = (username: string, clientId: string) => fc.constant((argv: string[]) => [...argv, '--user', username, '--client', clientId]);
const unknownName = fc.stringMatching(/^[a-z]{4,12}$/).map((s) => `nope.${s}`);

function templates(): Template[] {
  const { scope, username, clientId, pattern, resourceServer } = seeded;
  const fresh = () => Math.random().toString(36).slice(2, 8);
  const cut = (n: number) => fc.constant((a: string[]) => a.slice(0, n));
  const clientsCreate = () =>
    ['clients', 'create', '--name', 'App', '--type', 'confidential', '--redirect-uri', 'https://app.example.com/cb', '--scope', scope];
  return [
    {
      name: 'scopes create', argv: () => ['scopes', 'create', `new.${fresh()}`, '--description', 'd'],
      defects: [
        ...generic(1), replacePositional(badScopeName), replaceOption('description', fc.constantFrom('', '   ', 'x'.repeat(501))), valueMissing('description'),
        cut(3), fc.constant(() => ['scopes', 'create', scope, '--description', 'again']),
      ],
    },
    { name: 'scopes list', argv: () => ['scopes', 'list'], defects: generic(0) },
    { name: 'scopes show', argv: () => ['scopes', 'show', scope], defects: [...generic(1), replacePositional(unknownName), cut(2)] },
    { name: 'scopes delete', argv: () => ['scopes', 'delete', scope], defects: [...generic(1), replacePositional(unknownName)] },
    {
      name: 'users create', argv: () => ['users', 'create', `new-${fresh()}`, '--password-stdin'], stdin: true,
      defects: [
        ...generic(1), replacePositional(badUsername), replaceOption('group', badGroup),
        fc.constant((a: string[]) => a.filter((x) => x !== '--password-stdin')),
        fc.constant(() => ['users', 'create', username, '--password-stdin']),
      ],
    },
    { name: 'users list', argv: () => ['users', 'list', '--json'], defects: generic(0) },
    { name: 'users show', argv: () => ['users', 'show', username], defects: [...generic(1), replacePositional(unknownName)] },
    { name: 'users delete', argv: () => ['users', 'delete', username], defects: [...generic(1), replacePositional(unknownName)] },
    {
      name: 'resources create', argv: () => ['resources', 'create', `/new/${fresh()}/*`, '--scope', scope],
      defects: [
        ...generic(1), replacePositional(fc.constantFrom('/a*b', '/a b', '', '*/x', 'é')), replaceOption('scope', fc.oneof(unknownName, badScopeName)),
        replaceOption('group', badGroup), cut(3), fc.constant(() => ['resources', 'create', pattern, '--scope', scope]),
      ],
    },
    { name: 'resources list', argv: () => ['resources', 'list'], defects: generic(0) },
    { name: 'resources show', argv: () => ['resources', 'show', pattern], defects: [...generic(1), replacePositional(unknownName)] },
    { name: 'resources delete', argv: () => ['resources', 'delete', pattern], defects: [...generic(1), replacePositional(unknownName)] },
    {
      name: 'resource-servers create', argv: () => ['resource-servers', 'create', `https://new-${fresh()}.example.com/`, '--scope', scope],
      defects: [
        ...generic(1), replacePositional(fc.constantFrom('/relative', 'https://x.example/#f', 'not a uri', '', 'https://x.example/\u00e9', 'x'.repeat(2049))),
        replaceOption('scope', fc.oneof(unknownName, badScopeName)), cut(3), fc.constant(() => ['resource-servers', 'create', resourceServer, '--scope', scope]),
      ],
    },
    { name: 'resource-servers list', argv: () => ['resource-servers', 'list'], defects: generic(0) },
    { name: 'resource-servers show', argv: () => ['resource-servers', 'show', resourceServer], defects: [...generic(1), replacePositional(unknownName), cut(2)] },
    { name: 'resource-servers delete', argv: () => ['resource-servers', 'delete', resourceServer], defects: [...generic(1), replacePositional(unknownName)] },
    {
      name: 'clients create', argv: clientsCreate,
      defects: [
        ...generic(0), replaceOption('type', fc.constantFrom('', 'Confidential', 'private', 'public ', 'x')), replaceOption('redirect-uri', badUri),
        replaceOption('scope', fc.oneof(unknownName, badScopeName)), replaceOption('name', fc.constantFrom('', '   ', 'x'.repeat(201))),
        replaceOption('access-token-ttl', badSeconds), replaceOption('refresh-token-ttl', badSeconds), valueMissing('scope'), cut(6),
        replaceOption('refresh-grace-seconds', badGrace), valueMissing('refresh-grace-seconds'),
        replaceOption('grant-type', fc.oneof(fc.constantFrom('', 'refresh_token', 'password', 'Client_Credentials', 'client_credentials '), argText)),
        // Client credentials is for confidential clients only; refresh tokens need the code grant.
        fc.constant((a: string[]) => [...a.map((x) => (x === 'confidential' ? 'public' : x)), '--grant-type', 'client_credentials']),
        fc.constant((a: string[]) => [...a, '--grant-type', 'client_credentials', '--refresh-tokens']),
        fc.constant((a: string[]) => [...a, '--require-par=yes']), fc.constant((a: string[]) => [...a, '--require-dpop', 'x', 'y']),
      ],
    },
    { name: 'clients list', argv: () => ['clients', 'list'], defects: generic(0) },
    { name: 'clients show', argv: () => ['clients', 'show', clientId, '--json'], defects: [...generic(1), replacePositional(unknownName)] },
    { name: 'clients delete', argv: () => ['clients', 'delete', clientId], defects: [...generic(1), replacePositional(unknownName)] },
    { name: 'clients rotate-secret', argv: () => ['clients', 'rotate-secret', clientId], defects: [...generic(1), replacePositional(unknownName)] },
    {
      name: 'users disable', argv: () => ['users', 'disable', username],
      defects: [...generic(1), replacePositional(unknownName), replacePositional(badUsername)],
    },
    {
      name: 'users enable', argv: () => ['users', 'enable', username],
      defects: [...generic(1), replacePositional(unknownName), replacePositional(badUsername)],
    },
    {
      name: 'clients disable', argv: () => ['clients', 'disable', clientId],
      defects: [...generic(1), replacePositional(unknownName), replacePositional(badClientId)],
    },
    {
      name: 'clients enable', argv: () => ['clients', 'enable', clientId],
      defects: [...generic(1), replacePositional(unknownName), replacePositional(badClientId)],
    },
    {
      name: 'grants list', argv: () => ['grants', 'list', '--user', username],
      defects: [...generic(0), replaceOption('user', fc.oneof(unknownName, badUsername)), bothHolders(username, clientId), cut(2)],
    },
    {
      name: 'grants revoke', argv: () => ['grants', 'revoke', '--client', clientId],
      defects: [
        ...generic(0), replaceOption('client', fc.oneof(unknownName, badClientId)), bothHolders(username, clientId), fc.constant(() => ['grants', 'revoke']),
        fc.constantFrom('AAAAAAAAAAAAAAAAAAAAAA', 'bad id', 'x'.repeat(23), '', 'short').map((id) => (a: string[]) => [...a.slice(0, 2), '--', id]),
        fc.constant((a: string[]) => [...a, '--', 'AAAAAAAAAAAAAAAAAAAAAA']),
      ],
    },
    { name: 'keys list', argv: () => ['keys', 'list'], defects: generic(0) },
    { name: 'keys rotate', argv: () => ['keys', 'rotate'], defects: generic(0) },
    // Following the stream never ends by design, so it is only ever run with a defect.
    {
      name: 'audit tail', argv: () => ['audit', 'tail', '--since', '1m'],
      defects: [
        ...generic(0), replaceOption('since', fc.constantFrom('', '1', '1y', '-1m', '9999999d', 'm', '1.5h')),
        replaceOption('type', fc.constantFrom('', 'OAUTH.X', 'oauth.', 'a b', '>', 'oauth.*.x')),
      ],
    },
  ];
}

/**
 * Standard input for --password-stdin: good, empty, short, long, not UTF-8, binary. No long run of
 * 'x': junk arguments are such runs, and an echoed argument would look like an echoed password.
 */
const passwordInput = fc.oneof(
  fc.constantFrom('a long passphrase\n', '', '\n', 'short\n', '\r\n\r\n', 'z'.repeat(1025), 'y'.repeat(5000)).map((s) => Buffer.from(s)),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.string({ unit: 'binary', minLength: 8, maxLength: 40 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ minLength: 8, maxLength: 20 }).map((b) => Buffer.concat([Buffer.from('passw'), Buffer.from(b.map((x) => x | 0x80)), Buffer.from('rd')])),
);

/** A valid command line of one command with at least one defect: it must be refused, changing nothing. */
function defectiveRunOf(t: Template): fc.Arbitrary<Run & { template: string }> {
  // The command's own defects (bad values, missing parts) twice as often as the generic ones.
  const defect = t.defects.length > 3
    ? fc.oneof({ weight: 1, arbitrary: fc.oneof(...t.defects.slice(0, 3)) }, { weight: 2, arbitrary: fc.oneof(...t.defects.slice(3)) })
    : fc.oneof(...t.defects);
  return fc.record({
    defects: fc.array(defect, { minLength: 1, maxLength: 2 }),
    stdin: t.stdin ? passwordInput : fc.constant(Buffer.alloc(0)),
  }).map(({ defects, stdin }) => ({ template: t.name, argv: defects.reduce((argv, d) => d(argv), t.argv()), stdin }));
}

/** A defective command line of any command; commands that change something three times as often. */
function defectiveRun(): fc.Arbitrary<Run & { template: string }> {
  return fc.oneof(...templates().map((t) => ({ weight: /create|delete|rotate|tail|disable|revoke/.test(t.name) ? 3 : 1, arbitrary: defectiveRunOf(t) })));
}

/** Standard input that cannot make a valid password (so `users create` with it must fail). */
const badPasswordInput = fc.oneof(
  fc.constantFrom('', '\n', 'short\n', '\r\n\r\n', 'y'.repeat(5000)).map((s) => Buffer.from(s)),
  fc.uint8Array({ minLength: 8, maxLength: 20 })
    .map((b) => Buffer.concat([Buffer.from('passw'), Buffer.from(b.map((x) => x | 0x80)), Buffer.from([0xff]), Buffer.from('rd')])),
);

const KNOWN_WORDS = [
  '--json', '--name', '--type', 'public', '--scope', 'cli.read', '--redirect-uri', 'https://a.example/cb', '--password-stdin', '--group', 'g',
  '--description', 'd', '--since', '--user', 'cli-user', '--client', '--',
];

/** Anything at all: known words and junk in any order; these may succeed. */
const anyRun: fc.Arbitrary<Run> = fc.record({
  argv: fc.tuple(
    fc.oneof(fc.constantFrom('clients', 'users', 'grants', 'scopes', 'resources', 'keys', 'audit', 'help', '--help'), junkArg),
    fc.oneof(fc.constantFrom('create', 'list', 'show', 'delete', 'disable', 'enable', 'revoke', 'rotate-secret', 'rotate', 'tail', '-h'), junkArg),
    fc.array(fc.oneof(fc.constantFrom(...KNOWN_WORDS), junkArg), { maxLength: 6 }),
  ).map(([group, command, rest]) => [group, command, ...rest])
    // audit tail follows forever when its options are right; keep it to refusals.
    .map((argv) => (argv[0] === 'audit' && argv[1] === 'tail' ? [...argv, '--bogus'] : argv)),
  stdin: passwordInput,
  env: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom<Record<string, string>>(
    { MONGODB_URI: 'mongodb://' }, { MONGODB_URI: 'not a uri' }, { OAUTH_ISSUER: 'javascript:alert(1)' }, { NATS_URL: 'nats://127.0.0.1:1' },
    { LOG_LEVEL: 'loud' }, { NODE_ENV: 'production' },
  ) }),
});

/** Runs a whole fast-check sample (a bounded number of spawns) in parallel, then checks each. */
async function sampleAndRun<T extends Run>(arbitrary: fc.Arbitrary<T>, count: number, first: T[] = []): Promise<{ runs: T[]; results: Result[] }> {
  const runs = [...first, ...fc.sample(arbitrary, { numRuns: count, seed: fcOptions<T>(count).seed })];
  return { runs, results: await runAll(runs) };
}

/** `<group> <command>` for every command the CLI has, read from its own help (the tables it dispatches on). */
async function commandsOfTheCli(): Promise<string[]> {
  const none = Buffer.alloc(0);
  const [top] = await runAll([{ argv: ['--help'], stdin: none }]);
  const groups = [...(top!.stdout.split(/\nGroups:\n/)[1] ?? '').matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((m) => m[1]!);
  assert.ok(groups.length >= 7, `the top help lists the command groups: ${top!.stdout.slice(0, 400)}`);
  const helps = await runAll(groups.map((g) => ({ argv: [g, '--help'], stdin: none })));
  return helps.flatMap((h, i) => [...h.stdout.matchAll(new RegExp(`^ {2}oauth-admin ${groups[i]} ([a-z][a-z-]*)`, 'gm'))].map((m) => `${groups[i]} ${m[1]}`));
}

describe('oauth-admin with hostile command lines', () => {
  it('has command lines for every command of oauth-admin, and none for a command it lacks', async () => {
    const commands = await commandsOfTheCli();
    assert.deepEqual(templates().map((t) => t.name).sort(), commands.sort(), 'the templates match the CLI\'s command tables');
  });

  it('refuses every defective command line (exit 1 or 2, one line on stderr) and changes nothing', async () => {
    const beforeState = await dbState(db);
    const badStdin = badPasswordInput.map((stdin) => ({
      template: 'users create (bad stdin)', argv: ['users', 'create', `new-${stdin.length}`, '--password-stdin'], stdin,
    }));
    // users create with standard input that is not a valid password (empty, short, too long, not UTF-8).
    const defective = fc.oneof({ weight: 9, arbitrary: defectiveRun() }, { weight: 2, arbitrary: badStdin });
    // Every command at least once, then a weighted mix.
    const everyCommand = templates().map((t) => fc.sample(defectiveRunOf(t), { numRuns: 1, seed: fcOptions(1).seed })[0]!);
    const { runs, results } = await sampleAndRun(defective, 17, everyCommand);
    for (const [i, run] of runs.entries()) {
      const result = results[i]!;
      tried.add(run.template);
      tried.answer(run.template, `exit ${result.code}`);
      assertWellBehaved(run, result);
      const what = `oauth-admin ${JSON.stringify(run.argv)} → ${result.code} ${result.stdout.slice(0, 200)}`;
      assert.ok([1, 2].includes(result.code!), `a defective command line is refused: ${what}`);
    }
    assert.deepEqual(changedCollections(beforeState, await dbState(db)), [], 'refused command lines changed the database');
  });

  it('ends every random command line with 0, 1, 2 or 78 and at most one line of reason, never a hang or a stack trace', async () => {
    const { runs, results } = await sampleAndRun(anyRun, 16);
    for (const [i, run] of runs.entries()) {
      tried.add('random argv, stdin and environment');
      tried.answer('random argv, stdin and environment', `exit ${results[i]!.code}`);
      assertWellBehaved(run, results[i]!);
    }
    // Whatever the random runs did, the seeded reference data is still readable by the CLI.
    const [list] = await runAll([{ argv: ['scopes', 'list', '--json'], stdin: Buffer.alloc(0) }]);
    assert.equal(list!.code, 0, list!.stderr);
    assert.ok(Array.isArray(JSON.parse(list!.stdout)));
  });
});
