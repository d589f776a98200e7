import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createMetrics } from './metrics.ts';

const metricsModule = fileURLToPath(new URL('./metrics.ts', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('metrics', () => {
  it('includes the process and event-loop metrics, labelled with the service', async () => {
    const text = await createMetrics('metrics-test').render();
    assert.match(text, /^process_cpu_seconds_total\{service="metrics-test"\} /m);
    assert.match(text, /^nodejs_eventloop_lag_p99_seconds\{service="metrics-test"\} /m);
  });

  it('records each endpoint\'s requests under its own endpoint, subject and outcome labels', async () => {
    const metrics = createMetrics('metrics-test');
    const validate = metrics.natsEndpointObserver('validate', 'oauth.token.validate');
    const decide = metrics.natsEndpointObserver('decide', 'oauth.authorization.decide');
    validate('ok', 0.0004);
    validate('ok', 0.002);
    validate('invalid_request', 0.0001);
    decide('ok', 0.03);
    const text = await metrics.render();
    const count = (endpoint: string, subject: string, outcome: string) =>
      new RegExp(`^nats_endpoint_duration_seconds_count\\{service="metrics-test",endpoint="${endpoint}",subject="${subject}",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1];
    assert.equal(count('validate', 'oauth.token.validate', 'ok'), '2');
    assert.equal(count('validate', 'oauth.token.validate', 'invalid_request'), '1');
    assert.equal(count('decide', 'oauth.authorization.decide', 'ok'), '1');
    assert.equal(count('decide', 'oauth.authorization.decide', 'invalid_request'), undefined, 'no series for an outcome never seen');
    assert.match(text, /^nats_endpoint_duration_seconds_bucket\{le="0.0005",service="metrics-test",endpoint="validate",subject="oauth.token.validate",outcome="ok"\} 1$/m);
  });

  it('lets an idle process sleep: the event-loop sampling wakes it about ten times a second, not a hundred', { skip: process.platform !== 'linux' }, async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      import { createMetrics } from ${JSON.stringify(metricsModule)};
      createMetrics('idle');
      setTimeout(() => process.stdout.write('ready\\n'), 200);
      setTimeout(() => {}, 60_000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    // The main thread's voluntary context switches: each is one wait for the event loop's next event.
    const wakeups = () => Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/task/${child.pid}/status`, 'utf8'))![1]);
    try {
      // Started, and past its first samples (or a failure, with the child's error above, if it ended).
      await Promise.race([
        new Promise((resolve) => child.stdout!.once('data', resolve)),
        new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`the idle child ended (exit ${code})`)))),
      ]);
      await sleep(300);
      const before = wakeups();
      const since = performance.now();
      await sleep(2000);
      const perSecond = Math.round((wakeups() - before) / ((performance.now() - since) / 1000));
      // 10 a second with 100 ms sampling; prom-client's 10 ms default made about 100.
      assert.ok(perSecond < 40, `an idle process woke ${perSecond} times a second`);
    } finally {
      child.kill();
    }
  });
});
