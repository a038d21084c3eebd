import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CODE_DIR, readSettings, SettingsError } from '../lib/settings';

const from = (context: Record<string, unknown>) => readSettings((key) => context[key]);

describe('settings', () => {
  it('default to arm64, 5-minute cycles and the cargo-lambda output directory', () => {
    const s = from({});
    assert.equal(s.codeDir, DEFAULT_CODE_DIR);
    assert.equal(s.architecture, 'arm64');
    assert.equal(s.scheduleRateMinutes, 5);
    assert.equal(s.scheduleEnabled, true);
    assert.equal(s.executorTimeoutSeconds, 30);
    assert.equal(s.visibilityTimeoutSeconds, 185);
    assert.equal(s.maxReceiveCount, 10);
    assert.equal(s.exchangeSecretArn, undefined);
    assert.deepEqual(s.accountSecretArns, []);
    assert.equal(s.exchangeBaseUrl, 'https://api.binance.com');
    assert.equal(s.metricsNamespace, 'Driftline');
    assert.equal(s.maxRetryDelaySeconds, 900);
  });

  it('accept context strings (from -c) and numbers (from cdk.json) alike', () => {
    assert.equal(from({ executorMemoryMb: '1024' }).executorMemoryMb, 1024);
    assert.equal(from({ executorMemoryMb: 1024 }).executorMemoryMb, 1024);
    assert.equal(from({ scheduleEnabled: 'false' }).scheduleEnabled, false);
    assert.equal(from({ scheduleEnabled: false }).scheduleEnabled, false);
  });

  const alice = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/alice-AbC123';
  const bob = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/bob-XyZ789';

  it('read account secret ARNs comma-separated (from -c) or as a list (from cdk.json)', () => {
    assert.deepEqual(from({ accountSecretArns: `${alice}, ${bob}` }).accountSecretArns, [alice, bob]);
    assert.deepEqual(from({ accountSecretArns: [alice, bob] }).accountSecretArns, [alice, bob]);
    assert.deepEqual(from({ accountSecretArns: alice }).accountSecretArns, [alice]);
    assert.deepEqual(from({ accountSecretArns: '' }).accountSecretArns, []);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['accountSecretArns', { accountSecretArns: `${alice},arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/bob` }, /"arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline\/bob" is not a complete Secrets Manager ARN/],
    ['accountSecretArns', { accountSecretArns: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/*' }, /not a complete Secrets Manager ARN/],
    ['accountSecretArns', { accountSecretArns: `${alice},` }, /"" is not a complete Secrets Manager ARN/],
    ['accountSecretArns', { accountSecretArns: [alice, 42] }, /42 is not a complete Secrets Manager ARN/],
    ['accountSecretArns', { accountSecretArns: { alice } }, /not a comma-separated list/],
    ['accountSecretArns', { accountSecretArns: `${alice},${alice}` }, /listed twice/],
    ['accountSecretArns', { exchangeSecretArn: alice, accountSecretArns: bob + ',' + alice }, /default account's secret \(exchangeSecretArn\)/],
    ['architecture', { architecture: 'arm' }, /must be arm64 or x86_64/],
    ['executorMemoryMb', { executorMemoryMb: '1.5' }, /not a whole number/],
    ['executorMemoryMb', { executorMemoryMb: 64 }, /between 128 and 10240/],
    ['scheduleRateMinutes', { scheduleRateMinutes: 0 }, /between 1 and 480/],
    ['schedulerTimeoutSeconds', { scheduleRateMinutes: 1, schedulerTimeoutSeconds: 90 }, /schedule period \(60 s\)/],
    ['visibilityTimeoutSeconds', { executorTimeoutSeconds: 60, visibilityTimeoutSeconds: 300 }, /at least six times executorTimeoutSeconds \(360\)/],
    ['batchSize', { batchSize: 100, maxBatchingWindowSeconds: 0 }, /maxBatchingWindowSeconds/],
    ['executorMaxConcurrency', { executorMaxConcurrency: 1 }, /between 2 and 1000/],
    ['exchangeSecretArn', { exchangeSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline' }, /complete Secrets Manager ARN/],
    ['exchangeBaseUrl', { exchangeBaseUrl: 'http://api.binance.com' }, /must be https/],
    ['exchangeBaseUrl', { exchangeBaseUrl: 'not a url' }, /not a URL/],
    ['metricsNamespace', { metricsNamespace: 'AWS/Lambda' }, /custom CloudWatch namespace/],
    ['logRetentionDays', { logRetentionDays: 31 }, /must be one of 1, 3, 5/],
    ['alarmEmail', { alarmEmail: 'ops' }, /not an email address/],
    ['scheduleEnabled', { scheduleEnabled: 'no' }, /not true or false/],
    ['maxRetryDelaySeconds', { maxRetryDelaySeconds: 901 }, /between 1 and 900/],
  ];
  for (const [key, context, reason] of bad) {
    it(`refuse ${key}=${JSON.stringify(context[key])}, naming the key and the value`, () => {
      assert.throws(
        () => from(context),
        (e: unknown) => {
          assert.ok(e instanceof SettingsError);
          assert.equal(e.key, key);
          assert.ok(e.message.startsWith(`context ${key}=${JSON.stringify(context[key])}: `), e.message);
          assert.match(e.message, reason);
          return true;
        },
      );
    });
  }

  it('accept a visibility timeout of exactly six times the executor timeout', () => {
    assert.equal(from({ executorTimeoutSeconds: 60, visibilityTimeoutSeconds: 360 }).visibilityTimeoutSeconds, 360);
  });
});
