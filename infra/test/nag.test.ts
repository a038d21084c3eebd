import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { build } from './helpers';

describe('cdk-nag AwsSolutions', () => {
  it('passes on the stack, with every finding fixed or acknowledged', () => {
    for (const context of [{}, {
        exchangeSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline-AbC123',
        accountSecretArns: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/alice-AbC123,arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/bob-XyZ789',
        alarmEmail: 'ops@example.com',
        notifications: true,
        notificationsEmail: 'owner@example.com',
      }]) {
      const { app } = build(context);
      const assembly = app.synth();
      const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'));
      const failing = report.pluginReports.filter((r: any) => r.summary?.status === 'failure' || (r.violations ?? []).length > 0);
      assert.deepEqual(failing, [], JSON.stringify(report, null, 2));
    }
  });

  it('gives every acknowledgement a reason', () => {
    const { stack } = build();
    const acks = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((m) => ({ path: c.node.path, data: m.data })));
    assert.ok(acks.length > 0, 'the stack acknowledges at least AwsSolutions-SMG4');
    // Recorded as { "<kind>::<rule id>": "<reason>" } on the acknowledging construct.
    for (const { path: at, data } of acks) {
      for (const [rule, reason] of Object.entries(data as Record<string, unknown>)) {
        assert.match(rule, /AwsSolutions-/);
        assert.ok(typeof reason === 'string' && reason.trim().length >= 40, `${at}: ${rule} has no real reason: ${JSON.stringify(reason)}`);
      }
    }
  });

  it('fails synthesis on a deliberately bad resource, naming the rules it breaks', () => {
    const { app, stack } = build();
    // No encryption, no dead-letter queue, no TLS requirement: SQS2, SQS3 and SQS4.
    new sqs.Queue(stack, 'CarelessQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    const violations = failedSynthesis(() => app.synth());
    assert.deepEqual(
      violations.map((v) => v.rule).sort(),
      ['AwsSolutions-SQS2', 'AwsSolutions-SQS3', 'AwsSolutions-SQS4'],
    );
    for (const v of violations) assert.deepEqual(v.paths, ['Driftline/CarelessQueue/Resource']);
  });

  it('fails synthesis on a wildcard grant', () => {
    const { app, stack } = build();
    stack.table.grantFullAccess(stack.scheduler);
    const violations = failedSynthesis(() => app.synth());
    assert.deepEqual(violations.map((v) => v.rule), ['AwsSolutions-IAM5[Action::dynamodb:*]']);
  });
});

/** Runs a synthesis that must fail validation; returns the violations of its report. */
function failedSynthesis(synth: () => unknown): { rule: string; paths: string[] }[] {
  let message = '';
  assert.throws(synth, (e: unknown) => {
    message = String((e as Error).message);
    return /Validation failed/.test(message);
  });
  const reportPath = /found in: (\S+validation-report\.json)/.exec(message)?.[1];
  assert.ok(reportPath, `no report path in ${message}`);
  const report = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
  return report.pluginReports.flatMap((r: any) =>
    (r.violations ?? []).map((v: any) => ({
      rule: String(v.ruleName),
      paths: (v.violatingConstructs ?? v.violatingResources ?? []).map((c: any) => c.constructPath).sort(),
    })),
  );
}
