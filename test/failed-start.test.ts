// A service whose start fails after it connected (here: its HTTP port is taken) stops what it had
// started and closes NATS and MongoDB before the error reaches the caller. Each service runs in a
// process of its own that catches the error and must then end by itself: a MongoDB client, a NATS
// connection or a timer left open would keep it alive (a test file's process hung so in CI).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testEnv } from './helpers/system.ts';
import { startPrivateNats, type PrivateNats } from './helpers/nats-server.ts';
import { spawnNode } from './helpers/process.ts';

const ports = {
  'authorize-service': 'AUTHORIZE_SERVICE_PORT',
  'consent-ui': 'CONSENT_UI_PORT',
  'token-service': 'TOKEN_SERVICE_PORT',
  'validation-service': 'VALIDATION_SERVICE_PORT',
} as const;

// Takes the service's port on its own host, starts the service there, and reports how start ended.
const startOnTakenPort = `
const { createServer } = await import('node:net');
const [name, portVariable] = process.argv.slice(-2);
const { loadConfig, start } = await import('./services/' + name + '/main.ts');
const env = { ...process.env };
const taken = createServer();
await new Promise((resolve) => taken.listen(0, loadConfig(env).HTTP_HOST, resolve));
env[portVariable] = String(taken.address().port);
try {
  await start(loadConfig(env));
  console.log('outcome: started');
} catch (error) {
  console.log('outcome: ' + (error.code ?? error.message));
}
taken.close();
`;

/** Long enough for a loaded CI machine to start and stop a service; a leak never ends. */
const EXIT_WITHIN_MS = 60_000;

let nats: PrivateNats;
before(async () => {
  nats = await startPrivateNats();
});
after(async () => {
  await nats?.stop();
});

describe('a start that fails after connecting', () => {
  for (const [name, portVariable] of Object.entries(ports)) {
    it(`${name}: refuses with the error and its process ends by itself`, async () => {
      const env = await testEnv('failedstart', { NATS_URL: nats.url, LOG_LEVEL: 'silent' });
      const service = spawnNode(['--input-type=module', '-e', startOnTakenPort, name, portVariable], env);
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        service.exited.then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), EXIT_WITHIN_MS))),
      ]);
      clearTimeout(timer);
      if (!ended) service.child.kill('SIGKILL');
      assert.match(service.output(), /outcome: EADDRINUSE/, service.output());
      assert.ok(ended, `the process was still running ${EXIT_WITHIN_MS / 1000} s after start failed: something it opened was left open`);
    });
  }
});
