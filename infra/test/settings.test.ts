import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ENV } from '../lib/contract';
import {
  DEFAULT_CODE_DIR,
  DEFAULT_SETTINGS_FILE,
  FILE_KEYS,
  layeredSettings,
  readSettings,
  readSettingsFile,
  SettingsError,
} from '../lib/settings';
import { build } from './helpers';

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
    assert.equal(s.fanOutAbove, 200);
    assert.equal(s.shardSize, 50);
    assert.equal(s.shardConcurrency, 10);
    assert.equal(s.stackName, 'Driftline');
    assert.equal(s.notifications, false);
    assert.equal(s.notificationsEmail, undefined);
  });

  it('take notifications on, with an address to subscribe', () => {
    const s = from({ notifications: 'true', notificationsEmail: 'owner@example.com' });
    assert.equal(s.notifications, true);
    assert.equal(s.notificationsEmail, 'owner@example.com');
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
    ['followUp', { followUp: 'executor' }, /must be messages or reconcile/],
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
    ['fanOutAbove', { fanOutAbove: '1.5' }, /not a whole number/],
    ['fanOutAbove', { fanOutAbove: 1.5 }, /not a whole number/],
    ['fanOutAbove', { fanOutAbove: 0 }, /between 1 and 1000000/],
    ['fanOutAbove', { fanOutAbove: 1000001 }, /between 1 and 1000000/],
    ['shardSize', { shardSize: 0 }, /between 1 and 200/],
    ['shardSize', { shardSize: '201' }, /between 1 and 200/],
    ['shardConcurrency', { shardConcurrency: 1 }, /between 2 and 1000/],
    ['shardConcurrency', { shardConcurrency: 1001 }, /between 2 and 1000/],
    ['shardConcurrency', { shardConcurrency: 'ten' }, /not a whole number/],
    ['notifications', { notifications: 'yes' }, /not true or false/],
    ['notificationsEmail', { notifications: true, notificationsEmail: 'owner' }, /not an email address/],
    ['notificationsEmail', { notificationsEmail: 'owner@example.com' }, /needs notifications=true/],
    ['stackName', { stackName: 'drift line' }, /not a CloudFormation stack name/],
    ['stackName', { stackName: '1Driftline' }, /not a CloudFormation stack name/],
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

  it('accept the ends of the fan-out ranges', () => {
    const low = from({ fanOutAbove: 1, shardSize: '1', shardConcurrency: 2 });
    assert.deepEqual([low.fanOutAbove, low.shardSize, low.shardConcurrency], [1, 1, 2]);
    const high = from({ fanOutAbove: '1000000', shardSize: 200, shardConcurrency: 1000 });
    assert.deepEqual([high.fanOutAbove, high.shardSize, high.shardConcurrency], [1000000, 200, 1000]);
  });

  it('accept a visibility timeout of exactly six times the executor timeout', () => {
    assert.equal(from({ executorTimeoutSeconds: 60, visibilityTimeoutSeconds: 360 }).visibilityTimeoutSeconds, 360);
  });
});

describe('the settings file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'driftline-settings-'));
  let n = 0;
  /** Writes `content` (an object as JSON, or raw text) to a fresh file; returns its path. */
  const file = (content: unknown) => {
    const p = path.join(dir, `settings-${n++}.json`);
    fs.writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  };
  const none = () => undefined;
  const refused = (run: () => unknown, check: (e: SettingsError) => void) =>
    assert.throws(run, (e: unknown) => {
      assert.ok(e instanceof SettingsError, String(e));
      check(e);
      return true;
    });

  it('keeps every setting it names, so a later deploy without -c keeps them too', () => {
    const f = readSettingsFile(file({ alarmEmail: 'ops@example.com', notifications: true, notificationsEmail: 'owner@example.com', scheduleRateMinutes: 15 }));
    const s = layeredSettings(none, f);
    assert.equal(s.alarmEmail, 'ops@example.com');
    assert.equal(s.notifications, true);
    assert.equal(s.notificationsEmail, 'owner@example.com');
    assert.equal(s.scheduleRateMinutes, 15);
    assert.equal(s.executorMemoryMb, 256, 'what the file leaves out keeps its default');
  });

  it('yields to a context value (-c) for one run', () => {
    const f = readSettingsFile(file({ scheduleEnabled: true, alarmEmail: 'ops@example.com' }));
    const context: Record<string, unknown> = { scheduleEnabled: 'false' };
    const s = layeredSettings((k) => context[k], f);
    assert.equal(s.scheduleEnabled, false);
    assert.equal(s.alarmEmail, 'ops@example.com', 'the file keeps what -c does not name');
  });

  it('refuses a key that is not a setting, naming the file and the key (a typo would drop it silently)', () => {
    const p = file({ alarmEmial: 'ops@example.com' });
    refused(() => readSettingsFile(p), (e) => {
      assert.equal(e.key, 'alarmEmial');
      assert.match(e.message, /^\S*settings-\d+\.json: alarmEmial="ops@example.com": not a setting \(the settings are stackName, /);
    });
  });

  it('refuses the build settings: make deploy sets them to match what it built', () => {
    for (const key of ['architecture', 'codeDir']) {
      refused(() => readSettingsFile(file({ [key]: 'x' })), (e) => {
        assert.equal(e.key, key);
        assert.match(e.message, /set by `make deploy`/);
      });
    }
  });

  it('blames a bad value on the file it came from, and a bad -c value on the context', () => {
    const p = file({ alarmEmail: 'ops' });
    refused(() => layeredSettings(none, readSettingsFile(p)), (e) => {
      assert.equal(e.key, 'alarmEmail');
      assert.match(e.message, /settings-\d+\.json: alarmEmail="ops": not an email address$/);
    });
    refused(() => layeredSettings((k) => (k === 'alarmEmail' ? 'ops2' : undefined), readSettingsFile(p)), (e) => {
      assert.equal(e.message, 'context alarmEmail="ops2": not an email address');
    });
  });

  it('refuses a missing file, a file that is not JSON, and one that is not an object', () => {
    refused(() => readSettingsFile(path.join(dir, 'absent.json')), (e) => {
      assert.equal(e.key, 'settingsFile');
      assert.match(e.message, /no settings file at .*absent\.json \(start from infra\/deploy-settings\.example\.json\)/);
    });
    refused(() => readSettingsFile(file('{"alarmEmail": ')), (e) => assert.match(e.message, /is not JSON: /));
    refused(() => readSettingsFile(file('["alarmEmail"]')), (e) => assert.match(e.message, /is not a JSON object of settings/));
  });

  it('takes every setting of the deployment, and only those (the build ones come from make)', () => {
    const deployment = Object.keys(from({})).filter((key) => key !== 'codeDir' && key !== 'architecture');
    assert.deepEqual([...FILE_KEYS].sort(), deployment.sort());
  });

  for (const committed of [DEFAULT_SETTINGS_FILE, 'deploy-settings.example.json']) {
    it(`infra/${committed} is committed and valid`, () => {
      const f = readSettingsFile(committed);
      assert.equal(f.path, `infra/${committed}`);
      layeredSettings(none, f);
    });
  }

  it('the example turns on what a first deploy wants: alarm and notification emails', () => {
    const s = layeredSettings(none, readSettingsFile('deploy-settings.example.json'));
    assert.equal(s.notifications, true);
    assert.ok(s.alarmEmail && s.notificationsEmail);
  });

  it('carries the fan-out settings to the scheduler and its shards mapping', () => {
    const p = file({ fanOutAbove: 120, shardSize: 30, shardConcurrency: 4 });
    const { template } = build({ settingsFile: p });
    const json = template.toJSON() as any;
    const scheduler = Object.values(json.Resources).find(
      (r: any) => r.Type === 'AWS::Lambda::Function' && r.Properties.Description === 'driftline scheduler',
    ) as any;
    assert.equal(scheduler.Properties.Environment.Variables[ENV.fanOutAbove], '120');
    assert.equal(scheduler.Properties.Environment.Variables[ENV.shardSize], '30');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 1, ScalingConfig: { MaximumConcurrency: 4 } });
  });

  it('blames a bad fan-out value on the file it came from', () => {
    const p = file({ shardConcurrency: 1 });
    refused(() => layeredSettings(none, readSettingsFile(p)), (e) => {
      assert.equal(e.key, 'shardConcurrency');
      assert.match(e.message, /settings-\d+\.json: shardConcurrency=1: must be between 2 and 1000$/);
    });
  });

  it('is what the app reads: context settingsFile names it, and -c still wins', () => {
    const p = file({ stackName: 'DriftlineFromFile', notifications: true, scheduleRateMinutes: 10 });
    const { stack, template } = build({ settingsFile: p, scheduleRateMinutes: 20 });
    assert.equal(stack.stackName, 'DriftlineFromFile');
    template.resourceCountIs('AWS::SNS::Topic', 2);
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(20 minutes)' });
  });
});
