import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Token } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { CONSOLE_OUTPUT, ENV, LOG_FIELD, METRIC, TABLE } from '../lib/contract';
import { bundleDir } from '../lib/driftline-stack';
import { allStatements, asArray, build, logicalId, only } from './helpers';

const SCHEDULER = 'Scheduler/Resource';
const EXECUTOR = 'Executor/Resource';

function fn(template: ReturnType<typeof build>['template'], suffix: string) {
  const id = logicalId(template, 'AWS::Lambda::Function', suffix);
  return { id, props: (template.toJSON() as any).Resources[id].Properties };
}

describe('functions', () => {
  const { template } = build();

  it('both run provided.al2023 on arm64 with the bootstrap handler by default', () => {
    template.resourceCountIs('AWS::Lambda::Function', 2);
    for (const suffix of [SCHEDULER, EXECUTOR]) {
      const { props } = fn(template, suffix);
      assert.equal(props.Runtime, 'provided.al2023');
      assert.deepEqual(props.Architectures, ['arm64']);
      assert.equal(props.Handler, 'bootstrap');
      assert.equal(props.MemorySize, 256);
    }
  });

  it('take architecture, memory and timeouts from context', () => {
    const { template: t } = build({
      architecture: 'x86_64',
      schedulerMemoryMb: '512',
      executorMemoryMb: 1024,
      schedulerTimeoutSeconds: 90,
      executorTimeoutSeconds: 20,
    });
    const scheduler = fn(t, SCHEDULER).props;
    const executor = fn(t, EXECUTOR).props;
    assert.deepEqual(scheduler.Architectures, ['x86_64']);
    assert.deepEqual(executor.Architectures, ['x86_64']);
    assert.equal(scheduler.MemorySize, 512);
    assert.equal(executor.MemorySize, 1024);
    assert.equal(scheduler.Timeout, 90);
    assert.equal(executor.Timeout, 20);
  });

  it('carry exactly the environment variables of the runtime contract', () => {
    const shared = [ENV.tableName, ENV.intentsQueueUrl, ENV.exchangeBaseUrl, ENV.exchangeSecretId, ENV.metricsNamespace, ENV.followUp];
    const scheduler = fn(template, SCHEDULER).props.Environment.Variables;
    const executor = fn(template, EXECUTOR).props.Environment.Variables;
    assert.deepEqual(
      Object.keys(scheduler).sort(),
      [...shared, ENV.schedulePeriodSeconds, ENV.portfolioConcurrency, ENV.shardQueueUrl, ENV.fanOutAbove, ENV.shardSize].sort(),
    );
    assert.deepEqual(Object.keys(executor).sort(), [...shared, ENV.maxRetryDelaySeconds, ENV.deadLetterQueueUrl].sort());
    const table = logicalId(template, 'AWS::DynamoDB::Table', 'Table/Resource');
    const queue = logicalId(template, 'AWS::SQS::Queue', 'IntentsQueue/Resource');
    const secret = logicalId(template, 'AWS::SecretsManager::Secret', 'ExchangeSecret/Resource');
    for (const vars of [scheduler, executor]) {
      assert.deepEqual(vars[ENV.tableName], { Ref: table });
      assert.deepEqual(vars[ENV.intentsQueueUrl], { Ref: queue });
      assert.deepEqual(vars[ENV.exchangeSecretId], { Ref: secret });
      assert.equal(vars[ENV.exchangeBaseUrl], 'https://api.binance.com');
      assert.equal(vars[ENV.metricsNamespace], 'Driftline');
      assert.equal(vars[ENV.followUp], 'messages');
    }
    assert.equal(scheduler[ENV.schedulePeriodSeconds], '300');
    assert.equal(scheduler[ENV.portfolioConcurrency], '4');
    assert.equal(executor[ENV.maxRetryDelaySeconds], '900');
  });

  it('tell both functions who follows resting orders, from context', () => {
    const { template: t } = build({ followUp: 'reconcile' });
    for (const suffix of [SCHEDULER, EXECUTOR]) {
      assert.equal(fn(t, suffix).props.Environment.Variables[ENV.followUp], 'reconcile');
    }
  });

  it('tell the executor the dead-letter queue, and the scheduler nothing of it', () => {
    const dlq = logicalId(template, 'AWS::SQS::Queue', 'IntentsDeadLetterQueue/Resource');
    // The runtime's name (functions/runtime/src/config.rs); a mismatch silently leaves
    // unreadable messages to the redrive policy.
    assert.equal(ENV.deadLetterQueueUrl, 'DRIFTLINE_DEAD_LETTER_QUEUE_URL');
    // Ref of an SQS queue is its URL, which is what the executor sends to.
    assert.deepEqual(fn(template, EXECUTOR).props.Environment.Variables[ENV.deadLetterQueueUrl], { Ref: dlq });
    assert.equal(fn(template, SCHEDULER).props.Environment.Variables[ENV.deadLetterQueueUrl], undefined);
  });

  it('load their code from <codeDir>/<name>, and name the missing bundle otherwise', () => {
    const { stack } = build();
    const assets = stack.node.findAll().flatMap((c) => {
      const path = (c as any).assetPath as string | undefined;
      return path ? [path] : [];
    });
    assert.ok(assets.length >= 2);
    assert.match(bundleDir('test/fixtures/lambda', 'executor'), /test\/fixtures\/lambda\/executor$/);
    assert.throws(() => bundleDir('no/such/dir', 'scheduler'), /codeDir="no\/such\/dir".*no scheduler bundle at .*no\/such\/dir\/scheduler\/bootstrap/);
    assert.throws(() => build({ codeDir: 'no/such/dir' }), /no scheduler bundle/);
  });

  it('write to their own log group, with retention', () => {
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    for (const [suffix, logs] of [[SCHEDULER, 'SchedulerLogs/Resource'], [EXECUTOR, 'ExecutorLogs/Resource']]) {
      assert.deepEqual(fn(template, suffix).props.LoggingConfig, { LogGroup: { Ref: logicalId(template, 'AWS::Logs::LogGroup', logs) } });
    }
    build({ logRetentionDays: 90 }).template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });
});

describe('schedule', () => {
  it('invokes the scheduler at the configured rate, and tells it the period', () => {
    for (const [rate, expr] of [[undefined, 'rate(5 minutes)'], [15, 'rate(15 minutes)'], [1, 'rate(1 minute)']] as const) {
      const { template } = build(rate === undefined ? {} : { scheduleRateMinutes: rate });
      const [, rule] = only(template, 'AWS::Events::Rule');
      assert.equal(rule.Properties!.ScheduleExpression, expr);
      assert.equal(rule.Properties!.State, 'ENABLED');
      const targets = rule.Properties!.Targets;
      assert.equal(targets.length, 1);
      assert.deepEqual(targets[0].Arn, { 'Fn::GetAtt': [fn(template, SCHEDULER).id, 'Arn'] });
      const period = fn(template, SCHEDULER).props.Environment.Variables[ENV.schedulePeriodSeconds];
      assert.equal(period, String((rate ?? 5) * 60));
    }
  });

  it('can be deployed disabled', () => {
    const [, rule] = only(build({ scheduleEnabled: 'false' }).template, 'AWS::Events::Rule');
    assert.equal(rule.Properties!.State, 'DISABLED');
  });
});

describe('intents queue', () => {
  const { template } = build();
  const queueId = logicalId(template, 'AWS::SQS::Queue', 'IntentsQueue/Resource');
  const dlqId = logicalId(template, 'AWS::SQS::Queue', 'IntentsDeadLetterQueue/Resource');
  const resources = (template.toJSON() as any).Resources;

  it('is encrypted and refuses requests without TLS, as is its dead-letter queue', () => {
    for (const id of [queueId, dlqId]) assert.equal(resources[id].Properties.SqsManagedSseEnabled, true);
    // These two and the shards queue's pair.
    template.resourceCountIs('AWS::SQS::QueuePolicy', 4);
    for (const id of [queueId, dlqId]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it('hides a message for at least six times the executor timeout', () => {
    for (const ctx of [{}, { executorTimeoutSeconds: 60 }, { executorTimeoutSeconds: 5, maxBatchingWindowSeconds: 0 }]) {
      const t = build(ctx).template;
      const q = (t.toJSON() as any).Resources[logicalId(t, 'AWS::SQS::Queue', 'IntentsQueue/Resource')];
      assert.ok(q.Properties.VisibilityTimeout >= 6 * fn(t, EXECUTOR).props.Timeout, JSON.stringify(ctx));
    }
    assert.equal(resources[queueId].Properties.VisibilityTimeout, 6 * 30 + 5);
  });

  it('moves a message to the dead-letter queue after the max receive count', () => {
    assert.deepEqual(resources[queueId].Properties.RedrivePolicy, {
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: 10,
    });
    const t = build({ maxReceiveCount: 3 }).template;
    const q = (t.toJSON() as any).Resources[logicalId(t, 'AWS::SQS::Queue', 'IntentsQueue/Resource')];
    assert.equal(q.Properties.RedrivePolicy.maxReceiveCount, 3);
    assert.equal(resources[dlqId].Properties.MessageRetentionPeriod, 14 * 24 * 3600);
  });

  it('feeds the executor in batches that report item failures', () => {
    const mapping = resources[logicalId(template, 'AWS::Lambda::EventSourceMapping', 'ExecutorIntents/Resource')];
    assert.deepEqual(mapping.Properties, {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionName: { Ref: fn(template, EXECUTOR).id },
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    const t = build({ batchSize: 50, maxBatchingWindowSeconds: 20, executorMaxConcurrency: 4 }).template;
    const tuned = (t.toJSON() as any).Resources[logicalId(t, 'AWS::Lambda::EventSourceMapping', 'ExecutorIntents/Resource')];
    assert.equal(tuned.Properties.BatchSize, 50);
    assert.equal(tuned.Properties.MaximumBatchingWindowInSeconds, 20);
    assert.deepEqual(tuned.Properties.ScalingConfig, { MaximumConcurrency: 4 });
  });
});

describe('shards queue', () => {
  const { template } = build();
  const resources = (template.toJSON() as any).Resources;
  const queueId = logicalId(template, 'AWS::SQS::Queue', 'ShardsQueue/Resource');
  const dlqId = logicalId(template, 'AWS::SQS::Queue', 'ShardsDeadLetterQueue/Resource');
  const shardsQueue = (t: ReturnType<typeof build>['template']) =>
    (t.toJSON() as any).Resources[logicalId(t, 'AWS::SQS::Queue', 'ShardsQueue/Resource')].Properties;
  const shardsMapping = (t: ReturnType<typeof build>['template']) =>
    (t.toJSON() as any).Resources[logicalId(t, 'AWS::Lambda::EventSourceMapping', 'SchedulerShards/Resource')].Properties;

  it('is encrypted and refuses requests without TLS, as is its dead-letter queue', () => {
    for (const id of [queueId, dlqId]) {
      assert.equal(resources[id].Properties.SqsManagedSseEnabled, true);
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
    assert.equal(resources[dlqId].Properties.MessageRetentionPeriod, 14 * 24 * 3600);
  });

  it("hides a shard for the scheduler's timeout, which AWS requires of a queue invoking it", () => {
    assert.equal(resources[queueId].Properties.VisibilityTimeout, 60);
    const t = build({ schedulerTimeoutSeconds: 120 }).template;
    assert.equal(shardsQueue(t).VisibilityTimeout, 120);
    assert.equal(shardsQueue(t).VisibilityTimeout, fn(t, SCHEDULER).props.Timeout);
  });

  it('keeps a shard a period and four scheduler timeouts: its three deliveries reach the dead-letter queue', () => {
    assert.equal(resources[queueId].Properties.MessageRetentionPeriod, 300 + 4 * 60);
    for (const [rate, timeout] of [[1, 60], [15, 120], [480, 900]]) {
      const t = build({ scheduleRateMinutes: rate, schedulerTimeoutSeconds: timeout }).template;
      assert.equal(shardsQueue(t).MessageRetentionPeriod, rate * 60 + 4 * timeout, `rate ${rate}, timeout ${timeout}`);
    }
  });

  it('moves a shard to its own dead-letter queue after three receives', () => {
    assert.deepEqual(resources[queueId].Properties.RedrivePolicy, {
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: 3,
    });
    // Not the intents' setting: the intents queue's count moves, this one does not.
    assert.equal(shardsQueue(build({ maxReceiveCount: 7 }).template).RedrivePolicy.maxReceiveCount, 3);
  });

  it('invokes the scheduler once a shard, reporting failures, at most shardConcurrency at once', () => {
    assert.deepEqual(shardsMapping(template), {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionName: { Ref: fn(template, SCHEDULER).id },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 10 },
    });
    assert.deepEqual(shardsMapping(build({ shardConcurrency: 25 }).template).ScalingConfig, { MaximumConcurrency: 25 });
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
  });

  it('is where the scheduler fans out to, by the settings; the executor knows nothing of it', () => {
    const vars = fn(template, SCHEDULER).props.Environment.Variables;
    // The runtime's names (functions/runtime/src/config.rs).
    assert.equal(ENV.shardQueueUrl, 'DRIFTLINE_SHARD_QUEUE_URL');
    assert.equal(ENV.fanOutAbove, 'DRIFTLINE_FAN_OUT_ABOVE');
    assert.equal(ENV.shardSize, 'DRIFTLINE_SHARD_SIZE');
    // Ref of an SQS queue is its URL, which is what the scheduler sends to.
    assert.deepEqual(vars[ENV.shardQueueUrl], { Ref: queueId });
    assert.equal(vars[ENV.fanOutAbove], '200');
    assert.equal(vars[ENV.shardSize], '50');
    const tuned = fn(build({ fanOutAbove: '1000', shardSize: 20 }).template, SCHEDULER).props.Environment.Variables;
    assert.equal(tuned[ENV.fanOutAbove], '1000');
    assert.equal(tuned[ENV.shardSize], '20');
    const executor = fn(template, EXECUTOR).props.Environment.Variables;
    for (const name of [ENV.shardQueueUrl, ENV.fanOutAbove, ENV.shardSize]) assert.equal(executor[name], undefined, name);
  });

  it('is sent to and consumed by the scheduler alone, by these two statements', () => {
    const shardsArn = { 'Fn::GetAtt': [queueId, 'Arn'] };
    const shardsDlqArn = { 'Fn::GetAtt': [dlqId, 'Arn'] };
    const scheduler = logicalId(template, 'AWS::IAM::Role', 'SchedulerRole/Resource');
    const operator = logicalId(template, 'AWS::IAM::ManagedPolicy', 'Operator/Policy/Resource');
    const naming = (arn: unknown) =>
      allStatements(template).filter(({ statement }) => asArray(statement.Resource).some((r) => JSON.stringify(r) === JSON.stringify(arn)));
    assert.deepEqual(
      naming(shardsArn).map(({ owner, statement }) => ({ owner, sid: statement.Sid, actions: asArray<string>(statement.Action).sort(), resources: asArray(statement.Resource) })),
      [
        { owner: scheduler, sid: 'SendShards', actions: ['sqs:SendMessage'], resources: [shardsArn] },
        {
          owner: scheduler,
          sid: 'ConsumeShards',
          actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
          resources: [shardsArn],
        },
      ],
    );
    // The dead letters are the operators' to read and clear; no function touches them.
    assert.deepEqual(naming(shardsDlqArn).map(({ owner }) => owner), [operator]);
  });
});

describe('table', () => {
  const { template } = build();
  const [, table] = only(template, 'AWS::DynamoDB::Table');

  it('is on demand with pk/sk string keys, TTL on ttl_epoch_s and point-in-time recovery', () => {
    const p = table.Properties!;
    assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(p.KeySchema, [
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
    ]);
    // The adapter's names (shared/aws/src/table.rs): a mismatch fails every write.
    assert.deepEqual(p.AttributeDefinitions, [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ]);
    assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: 'ttl_epoch_s', Enabled: true });
    assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.equal(p.ProvisionedThroughput, undefined);
  });

  it('survives stack deletion and replacement', () => {
    assert.equal(table.DeletionPolicy, 'Retain');
    assert.equal(table.UpdateReplacePolicy, 'Retain');
    assert.equal(table.Properties!.DeletionProtectionEnabled, true);
  });
});

describe('exchange secret', () => {
  it('is created empty: no value and no generated value in the template', () => {
    const [, secret] = only(build().template, 'AWS::SecretsManager::Secret');
    assert.equal(secret.Properties!.SecretString, undefined);
    assert.equal(secret.Properties!.GenerateSecretString, undefined);
  });

  it('can be an existing one, by ARN', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/binance-AbC123';
    const { template } = build({ exchangeSecretArn: arn });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    for (const suffix of [SCHEDULER, EXECUTOR]) {
      assert.equal(fn(template, suffix).props.Environment.Variables[ENV.exchangeSecretId], arn);
    }
    const reads = allStatements(template).filter(({ statement }) => asArray(statement.Action).includes('secretsmanager:GetSecretValue'));
    // The two functions and the operators' policy (halt --cancel-open, plan --live).
    assert.equal(reads.length, 3);
    for (const { statement } of reads) assert.equal(statement.Resource, arn);
  });
});

describe('further exchange accounts', () => {
  const accounts = [
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/alice-AbC123',
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/bob-XyZ789',
  ];

  function secretReads(template: ReturnType<typeof build>['template']) {
    return allStatements(template).filter(({ statement }) => asArray(statement.Action).includes('secretsmanager:GetSecretValue'));
  }

  it('are readable by both roles, each secret by its exact ARN, next to the default one', () => {
    const { template } = build({ accountSecretArns: accounts.join(', ') });
    const defaultSecret = { Ref: logicalId(template, 'AWS::SecretsManager::Secret', 'ExchangeSecret/Resource') };
    const reads = secretReads(template);
    const roles = ['SchedulerRole/Resource', 'ExecutorRole/Resource'].map((r) => logicalId(template, 'AWS::IAM::Role', r));
    // The operators' policy too: `--cancel-open` and `plan --live` reach every account.
    const operator = logicalId(template, 'AWS::IAM::ManagedPolicy', 'Operator/Policy/Resource');
    assert.deepEqual(reads.map(({ owner }) => owner).sort(), [...roles, operator].sort());
    for (const { statement } of reads) {
      assert.deepEqual(asArray<string>(statement.Action), ['secretsmanager:GetSecretValue']);
      assert.deepEqual(asArray(statement.Resource), [defaultSecret, ...accounts]);
    }
    // No other statement names them: reading is all the functions do with an account's secret.
    const elsewhere = allStatements(template).filter(
      ({ statement }) => !asArray(statement.Action).includes('secretsmanager:GetSecretValue') && asArray(statement.Resource).some((r) => accounts.includes(r as string)),
    );
    assert.deepEqual(elsewhere, []);
  });

  it('come next to an existing default secret, and change neither function environment', () => {
    const exchangeSecretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/default-QwE456';
    const { template } = build({ exchangeSecretArn, accountSecretArns: accounts });
    for (const { statement } of secretReads(template)) assert.deepEqual(asArray(statement.Resource), [exchangeSecretArn, ...accounts]);
    for (const suffix of [SCHEDULER, EXECUTOR]) {
      // The functions learn an account from the portfolio's `account` field, not from here.
      assert.equal(fn(template, suffix).props.Environment.Variables[ENV.exchangeSecretId], exchangeSecretArn);
    }
  });

  it('are none by default: each role reads only the default secret', () => {
    for (const { statement } of secretReads(build().template)) assert.equal(asArray(statement.Resource).length, 1);
  });
});

describe('least privilege', () => {
  const { template } = build();
  const resources = (template.toJSON() as any).Resources;
  const tableArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::DynamoDB::Table', 'Table/Resource'), 'Arn'] };
  const queueArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'IntentsQueue/Resource'), 'Arn'] };
  const dlqArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'IntentsDeadLetterQueue/Resource'), 'Arn'] };
  const shardsArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'ShardsQueue/Resource'), 'Arn'] };
  const secretArn = { Ref: logicalId(template, 'AWS::SecretsManager::Secret', 'ExchangeSecret/Resource') };

  function grants(roleSuffix: string, logsSuffix: string) {
    const roleId = logicalId(template, 'AWS::IAM::Role', roleSuffix);
    const logsArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::Logs::LogGroup', logsSuffix), 'Arn'] };
    const byResource = new Map<string, string[]>();
    for (const { owner, statement } of allStatements(template)) {
      if (owner !== roleId) continue;
      assert.equal(statement.Effect, 'Allow');
      for (const resource of asArray(statement.Resource)) {
        const key = JSON.stringify(resource);
        byResource.set(key, [...(byResource.get(key) ?? []), ...asArray<string>(statement.Action)].sort());
      }
    }
    return { roleId, logsArn, byResource };
  }

  it('gives the scheduler only the actions it uses, on only its resources', () => {
    const { roleId, logsArn, byResource } = grants('SchedulerRole/Resource', 'SchedulerLogs/Resource');
    assert.deepEqual(
      Object.fromEntries(byResource),
      Object.fromEntries([
        // BatchGetItem: the halt and the breaker, read together once an invocation
        // (shared/aws/src/controls.rs); ConditionCheckItem: a cycle's records check the halt and
        // the portfolio's pause (shared/aws/src/store/ledger.rs). Without either every cycle
        // fails on AccessDenied (the emulator does not enforce IAM, so only this test says so).
        [
          JSON.stringify(tableArn),
          [
            'dynamodb:BatchGetItem',
            'dynamodb:ConditionCheckItem',
            'dynamodb:DeleteItem',
            'dynamodb:GetItem',
            'dynamodb:PutItem',
            'dynamodb:Query',
            'dynamodb:UpdateItem',
          ],
        ],
        [JSON.stringify(queueArn), ['sqs:SendMessage']],
        // Sending a tick's shards, and consuming them through the shards mapping; nothing on
        // the shards' dead-letter queue (SQS moves messages there itself).
        [
          JSON.stringify(shardsArn),
          ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:SendMessage'],
        ],
        [JSON.stringify(secretArn), ['secretsmanager:GetSecretValue']],
        [JSON.stringify(logsArn), ['logs:CreateLogStream', 'logs:PutLogEvents']],
      ]),
    );
    assert.equal(resources[roleId].Properties.ManagedPolicyArns, undefined);
    assert.deepEqual(resources[roleId].Properties.AssumeRolePolicyDocument.Statement[0].Principal, { Service: 'lambda.amazonaws.com' });
  });

  it('gives the executor only the actions it uses, on only its resources', () => {
    const { roleId, logsArn, byResource } = grants('ExecutorRole/Resource', 'ExecutorLogs/Resource');
    assert.deepEqual(
      Object.fromEntries(byResource),
      Object.fromEntries([
        [JSON.stringify(tableArn), ['dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
        [
          JSON.stringify(queueArn),
          ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:SendMessage'],
        ],
        // Only sending, and only for the executor: it dead-letters unreadable messages itself.
        [JSON.stringify(dlqArn), ['sqs:SendMessage']],
        [JSON.stringify(secretArn), ['secretsmanager:GetSecretValue']],
        [JSON.stringify(logsArn), ['logs:CreateLogStream', 'logs:PutLogEvents']],
      ]),
    );
    assert.equal(resources[roleId].Properties.ManagedPolicyArns, undefined);
  });

  it('has no IAM statement with a wildcard action or resource, and no cloudwatch:PutMetricData', () => {
    const statements = allStatements(template);
    assert.ok(statements.length >= 8);
    for (const { owner, statement } of statements) {
      for (const action of asArray<string>(statement.Action)) {
        assert.ok(!action.includes('*'), `${owner} allows ${action}`);
        assert.notEqual(action, 'cloudwatch:PutMetricData');
      }
      assert.equal(statement.NotAction, undefined, owner);
      // The one exception, acknowledged with its reason: listing alarm states for `status`.
      const alarmStates = statement.Sid === 'AlarmStates' && asArray(statement.Action).join() === 'cloudwatch:DescribeAlarms';
      if (!alarmStates) for (const resource of asArray(statement.Resource)) assert.notEqual(resource, '*', owner);
    }
    template.resourceCountIs('AWS::IAM::Role', 2);
    template.resourceCountIs('AWS::IAM::Policy', 0);
    // The operators' policy, attached to no one by the stack.
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 1);
    const [, policy] = only(template, 'AWS::IAM::ManagedPolicy');
    for (const key of ['Roles', 'Users', 'Groups']) assert.equal(policy.Properties![key], undefined, key);
  });
});

describe('alarms', () => {
  const { template } = build();
  const json = template.toJSON() as any;
  const alarm = (suffix: string) => json.Resources[logicalId(template, 'AWS::CloudWatch::Alarm', suffix)].Properties;
  /** The alarm watches `metric` of the stack's queue `queue`. */
  const watchesQueue = (a: any, queue: string, metric: string) => {
    assert.equal(a.Namespace, 'AWS/SQS');
    assert.equal(a.MetricName, metric);
    assert.deepEqual(a.Dimensions, [
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', `${queue}/Resource`), 'QueueName'] } },
    ]);
  };
  const topic = { Ref: logicalId(template, 'AWS::SNS::Topic', 'AlarmTopic/Resource') };

  it('all notify the alarm topic, on alarm and on recovery', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 10);
    for (const a of Object.values(template.findResources('AWS::CloudWatch::Alarm')) as any[]) {
      assert.deepEqual(a.Properties.AlarmActions, [topic]);
      assert.deepEqual(a.Properties.OKActions, [topic]);
      assert.match(a.Properties.AlarmDescription, /DEPLOY\.md#alarms/);
    }
  });

  it('fire when more than 0.5% of executions fail, by metric math on the EMF metrics', () => {
    const a = alarm('ExecutionFailureRate/Resource');
    assert.equal(a.Threshold, 0.5);
    assert.equal(a.ComparisonOperator, 'GreaterThanThreshold');
    assert.equal(a.TreatMissingData, 'notBreaching');
    const expression = a.Metrics.find((m: any) => m.Expression);
    assert.equal(expression.Expression, '100 * FILL(failures, 0) / attempts');
    assert.equal(expression.ReturnData, true);
    const inputs = Object.fromEntries(a.Metrics.filter((m: any) => m.MetricStat).map((m: any) => [m.Id, m.MetricStat]));
    assert.deepEqual(inputs.failures.Metric, { Namespace: 'Driftline', MetricName: METRIC.executionFailures });
    assert.deepEqual(inputs.attempts.Metric, { Namespace: 'Driftline', MetricName: METRIC.executionAttempts });
    assert.equal(inputs.failures.Stat, 'Sum');
    assert.equal(inputs.attempts.Stat, 'Sum');
  });

  it('fire when slippage stays above 25 bps for three consecutive periods', () => {
    const a = alarm('Slippage/Resource');
    assert.equal(a.Namespace, 'Driftline');
    assert.equal(a.MetricName, METRIC.slippageBps);
    assert.equal(a.Threshold, 25);
    assert.equal(a.ComparisonOperator, 'GreaterThanThreshold');
    assert.equal(a.EvaluationPeriods, 3);
    assert.equal(a.DatapointsToAlarm, 3);
  });

  it('fire when the dead-letter queue holds a message', () => {
    const a = alarm('Observability/DeadLetterQueueNotEmpty/Resource');
    watchesQueue(a, 'IntentsDeadLetterQueue', 'ApproximateNumberOfMessagesVisible');
    assert.equal(a.Threshold, 1);
    assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
  });

  it("fire when the shards' dead-letter queue holds a message", () => {
    const a = alarm('ShardsDeadLetterQueueNotEmpty/Resource');
    watchesQueue(a, 'ShardsDeadLetterQueue', 'ApproximateNumberOfMessagesVisible');
    assert.equal(a.Statistic, 'Maximum');
    assert.equal(a.Threshold, 1);
    assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    assert.equal(a.TreatMissingData, 'notBreaching');
  });

  it('fire when a shard has waited half a schedule period for its invocation', () => {
    const a = alarm('ShardsFallingBehind/Resource');
    watchesQueue(a, 'ShardsQueue', 'ApproximateAgeOfOldestMessage');
    assert.equal(a.Statistic, 'Maximum');
    assert.equal(a.Threshold, 150);
    assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    const slow = build({ scheduleRateMinutes: 15 });
    const json = slow.template.toJSON() as any;
    const t = json.Resources[logicalId(slow.template, 'AWS::CloudWatch::Alarm', 'ShardsFallingBehind/Resource')].Properties;
    assert.equal(t.Threshold, 450);
  });

  it('fire on function errors and throttles, for each function', () => {
    for (const [name, suffix] of [['Scheduler', SCHEDULER], ['Executor', EXECUTOR]]) {
      for (const metricName of ['Errors', 'Throttles']) {
        const a = alarm(`${name}${metricName}/Resource`);
        assert.equal(a.Namespace, 'AWS/Lambda');
        assert.equal(a.MetricName, metricName);
        assert.deepEqual(a.Dimensions, [{ Name: 'FunctionName', Value: { Ref: fn(template, suffix).id } }]);
        assert.equal(a.Threshold, 1);
        assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
      }
    }
  });

  it('fire when the scheduler completes no cycle for three schedule periods, data or not', () => {
    for (const rate of [5, 30]) {
      const t = build({ scheduleRateMinutes: rate }).template;
      const a = (t.toJSON() as any).Resources[logicalId(t, 'AWS::CloudWatch::Alarm', 'SchedulerMissedCycles/Resource')].Properties;
      assert.equal(a.MetricName, METRIC.cyclesCompleted);
      assert.equal(a.Dimensions, undefined);
      assert.equal(a.Statistic, 'Sum');
      assert.equal(a.Period, rate * 60);
      assert.equal(a.EvaluationPeriods, 3);
      assert.equal(a.ComparisonOperator, 'LessThanThreshold');
      assert.equal(a.Threshold, 1);
      assert.equal(a.TreatMissingData, 'breaching');
    }
  });

  it('use only metric names of the runtime contract, in the configured namespace', () => {
    const t = build({ metricsNamespace: 'DriftlineStaging' }).template;
    const known = new Set<string>(Object.values(METRIC));
    const seen: string[] = [];
    for (const a of Object.values(t.findResources('AWS::CloudWatch::Alarm')) as any[]) {
      const metrics = a.Properties.Metrics ? a.Properties.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric) : [a.Properties];
      for (const m of metrics) {
        if (m.Namespace.startsWith('AWS/')) continue;
        assert.equal(m.Namespace, 'DriftlineStaging');
        assert.ok(known.has(m.MetricName), m.MetricName);
        // CloudWatch matches a dimension set exactly, and the functions emit every metric an
        // alarm uses (ExecutionAttempts, ExecutionFailures, SlippageBps, CyclesCompleted)
        // without dimensions (shared/aws/src/metrics.rs): a dimension here would see no data.
        assert.equal(m.Dimensions, undefined, m.MetricName);
        seen.push(m.MetricName);
      }
    }
    assert.ok(seen.length >= 4);
  });

  it('reach an email address when one is given', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const t = build({ alarmEmail: 'ops@example.com' }).template;
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it('go to a topic that refuses publishers without TLS', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });
});

describe('dashboard', () => {
  const { template } = build();
  const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
  // The body is a Fn::Join of JSON text and references; its literal parts carry the metrics.
  const body = JSON.stringify(dashboard.Properties!.DashboardBody);

  for (const [what, needle] of [
    ['drift per portfolio and asset, from the logs', `stats avg(${METRIC.driftPp}) by bin(5m), ${LOG_FIELD.portfolio}, ${LOG_FIELD.asset}`],
    ['execution latency p50', `\\"${METRIC.executionLatencyMs}\\",{\\"label\\":\\"p50\\",\\"stat\\":\\"p50\\"}`],
    ['execution latency p95', `\\"${METRIC.executionLatencyMs}\\",{\\"label\\":\\"p95\\",\\"stat\\":\\"p95\\"}`],
    ['fill rate, from the logs', `stats avg(${LOG_FIELD.fillRatio}) as fill_ratio`],
    ['orders by outcome with fees, from the logs', `sum(${LOG_FIELD.feesQuote}) as fees by ${LOG_FIELD.outcome}`],
    ['cycles per portfolio, from the logs', `stats count(*) as cycles by ${LOG_FIELD.portfolio}`],
    ['the largest drift', `\\"${METRIC.driftPp}\\",{\\"label\\":\\"largest drift (pp)\\",\\"stat\\":\\"Maximum\\"`],
    ['slippage', `\\"${METRIC.slippageBps}\\"`],
    ['queue depth', '\\"ApproximateNumberOfMessagesVisible\\"'],
  ] as const) {
    it(`shows ${what}`, () => assert.ok(body.includes(needle), `${needle} not in ${body.slice(0, 400)}…`));
  }

  it("shows the shards' dead letters beside the intents'", () => {
    const dlq = logicalId(template, 'AWS::SQS::Queue', 'ShardsDeadLetterQueue/Resource');
    // The metric's QueueName is the shards' dead-letter queue, and its line is labelled.
    const needle = `{"Fn::GetAtt":["${dlq}","QueueName"]},"\\",{\\"label\\":\\"shard dead letters\\"`;
    assert.ok(body.includes(needle), `${needle} not in the dashboard`);
  });

  it('searches no metric by dimension: the functions emit none', () => {
    assert.ok(!body.includes('SEARCH('), body.slice(0, 400));
  });

  it("queries the functions' own log groups", () => {
    for (const group of ['SchedulerLogs', 'ExecutorLogs']) {
      assert.ok(body.includes(`{"Ref":"${group}`), `no query on ${group}`);
    }
  });
});

describe('stack', () => {
  it('is environment-agnostic and takes its name from context', () => {
    const { stack, template } = build({ stackName: 'DriftlineStaging' });
    assert.equal(stack.stackName, 'DriftlineStaging');
    // No `env`: account and region stay deploy-time tokens, so synthesis never looks them up.
    assert.ok(Token.isUnresolved(stack.account));
    assert.ok(Token.isUnresolved(stack.region));
    const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
    assert.equal(dashboard.Properties!.DashboardName, 'DriftlineStaging-driftline');
  });
});

describe('outputs', () => {
  const { template } = build();
  const outputs = (template.toJSON() as any).Outputs as Record<string, { Value: unknown }>;
  const id = (type: string, suffix: string) => logicalId(template, type, suffix);

  it('name every resource the console finds the deployment by, and the rest an operator looks up', () => {
    const expected: Record<string, unknown> = {
      [CONSOLE_OUTPUT.tableName]: { Ref: id('AWS::DynamoDB::Table', 'Table/Resource') },
      [CONSOLE_OUTPUT.intentsQueueUrl]: { Ref: id('AWS::SQS::Queue', 'IntentsQueue/Resource') },
      [CONSOLE_OUTPUT.deadLetterQueueUrl]: { Ref: id('AWS::SQS::Queue', 'IntentsDeadLetterQueue/Resource') },
      DeadLetterQueueArn: { 'Fn::GetAtt': [id('AWS::SQS::Queue', 'IntentsDeadLetterQueue/Resource'), 'Arn'] },
      [CONSOLE_OUTPUT.shardsDeadLetterQueueUrl]: { Ref: id('AWS::SQS::Queue', 'ShardsDeadLetterQueue/Resource') },
      [CONSOLE_OUTPUT.exchangeSecretArn]: { Ref: id('AWS::SecretsManager::Secret', 'ExchangeSecret/Resource') },
      [CONSOLE_OUTPUT.schedulerFunctionName]: { Ref: fn(template, SCHEDULER).id },
      ExecutorFunctionName: { Ref: fn(template, EXECUTOR).id },
      ScheduleRuleName: { Ref: id('AWS::Events::Rule', 'Schedule/Resource') },
      [CONSOLE_OUTPUT.exchangeBaseUrl]: 'https://api.binance.com',
      [CONSOLE_OUTPUT.metricsNamespace]: 'Driftline',
      [CONSOLE_OUTPUT.alarmTopicArn]: { Ref: id('AWS::SNS::Topic', 'AlarmTopic/Resource') },
      DashboardName: { Ref: id('AWS::CloudWatch::Dashboard', 'Dashboard/Resource') },
      OperatorPolicyArn: { Ref: id('AWS::IAM::ManagedPolicy', 'Operator/Policy/Resource') },
    };
    assert.deepEqual(Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.Value])), expected);
  });

  it('follow the exchange URL and metrics namespace settings', () => {
    const o = (build({ exchangeBaseUrl: 'https://api.binance.us', metricsNamespace: 'DriftlineStaging' }).template.toJSON() as any).Outputs;
    assert.equal(o[CONSOLE_OUTPUT.exchangeBaseUrl].Value, 'https://api.binance.us');
    assert.equal(o[CONSOLE_OUTPUT.metricsNamespace].Value, 'DriftlineStaging');
  });

  it('are every output the console reads (tools/cli/src/console/mod.rs), by the same names', () => {
    // The console's table of outputs: `pub const NAME: (&str, &str) = ("OutputKey", "--flag");`
    const console = fs.readFileSync(path.join(__dirname, '..', '..', 'tools', 'cli', 'src', 'console', 'mod.rs'), 'utf8');
    const read = [...console.matchAll(/\(\s*"([A-Za-z]+)",\s*"--[a-z-]+",?\s*\)/g)].map((m) => m[1]).sort();
    assert.ok(read.length >= 8, `found ${read.join(', ')}`);
    assert.deepEqual(read, Object.values(CONSOLE_OUTPUT).sort());
    const withNotifications = (build({ notifications: true }).template.toJSON() as any).Outputs;
    for (const key of read) assert.ok(withNotifications[key], `no output ${key}`);
  });
});

describe('notifications', () => {
  const roles = (t: ReturnType<typeof build>['template']) =>
    ['SchedulerRole/Resource', 'ExecutorRole/Resource'].map((r) => logicalId(t, 'AWS::IAM::Role', r));
  const publishes = (t: ReturnType<typeof build>['template']) =>
    allStatements(t).filter(({ statement }) => asArray(statement.Action).includes('sns:Publish'));

  it('are off by default: no topic, no variable, no grant, no output', () => {
    const { template } = build();
    template.resourceCountIs('AWS::SNS::Topic', 1); // the alarm topic
    for (const suffix of [SCHEDULER, EXECUTOR]) {
      assert.equal(fn(template, suffix).props.Environment.Variables[ENV.notificationsTopicArn], undefined);
    }
    assert.deepEqual(publishes(template), []);
    assert.equal((template.toJSON() as any).Outputs[CONSOLE_OUTPUT.notificationsTopicArn], undefined);
  });

  it('when on, give both functions the topic, and sns:Publish on it alone', () => {
    const { template } = build({ notifications: 'true' });
    const topic = { Ref: logicalId(template, 'AWS::SNS::Topic', 'NotificationsTopic/Resource') };
    // The runtime's name (functions/runtime/src/config.rs).
    assert.equal(ENV.notificationsTopicArn, 'DRIFTLINE_NOTIFICATIONS_TOPIC_ARN');
    for (const suffix of [SCHEDULER, EXECUTOR]) {
      assert.deepEqual(fn(template, suffix).props.Environment.Variables[ENV.notificationsTopicArn], topic);
    }
    const operator = logicalId(template, 'AWS::IAM::ManagedPolicy', 'Operator/Policy/Resource');
    const grants = publishes(template);
    assert.deepEqual(grants.map(({ owner }) => owner).sort(), [...roles(template), operator].sort());
    for (const { statement } of grants) {
      assert.deepEqual(asArray(statement.Action), ['sns:Publish']);
      assert.deepEqual(asArray(statement.Resource), [topic]);
    }
    assert.deepEqual((template.toJSON() as any).Outputs[CONSOLE_OUTPUT.notificationsTopicArn].Value, topic);
    // Apart from the alarms, so each can go to different people.
    assert.notDeepEqual(topic, { Ref: logicalId(template, 'AWS::SNS::Topic', 'AlarmTopic/Resource') });
  });

  it('when on, go to a topic that refuses publishers without TLS, as the alarm topic', () => {
    const { template } = build({ notifications: true });
    const topic = { Ref: logicalId(template, 'AWS::SNS::Topic', 'NotificationsTopic/Resource') };
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [topic],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Resource: topic, Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('reach an email address out of the box when one is given, and only then', () => {
    build({ notifications: true }).template.resourceCountIs('AWS::SNS::Subscription', 0);
    const { template } = build({ notifications: true, notificationsEmail: 'owner@example.com' });
    const topic = { Ref: logicalId(template, 'AWS::SNS::Topic', 'NotificationsTopic/Resource') };
    const [, subscription] = only(template, 'AWS::SNS::Subscription');
    assert.deepEqual(subscription.Properties, { Protocol: 'email', TopicArn: topic, Endpoint: 'owner@example.com' });
  });
});

describe('operators\' policy', () => {
  const accounts = ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:driftline/alice-AbC123'];
  const { template } = build({ notifications: true, accountSecretArns: accounts });
  const id = (type: string, suffix: string) => logicalId(template, type, suffix);
  const [policyId, policy] = only(template, 'AWS::IAM::ManagedPolicy');

  it("allows what the console's commands call, on this stack's resources", () => {
    const bySid = Object.fromEntries(
      (policy.Properties!.PolicyDocument.Statement as any[]).map((st) => [st.Sid, { actions: asArray<string>(st.Action).sort(), resources: asArray(st.Resource) }]),
    );
    const queue = (suffix: string) => ({ 'Fn::GetAtt': [id('AWS::SQS::Queue', suffix), 'Arn'] });
    assert.deepEqual(bySid, {
      FindTheStack: { actions: ['cloudformation:DescribeStacks'], resources: [{ Ref: 'AWS::StackId' }] },
      Ledger: {
        actions: ['dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        resources: [{ 'Fn::GetAtt': [id('AWS::DynamoDB::Table', 'Table/Resource'), 'Arn'] }],
      },
      Queues: {
        actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:SendMessage'],
        resources: [queue('IntentsQueue/Resource'), queue('IntentsDeadLetterQueue/Resource'), queue('ShardsDeadLetterQueue/Resource')],
      },
      ExchangeCredentials: {
        actions: ['secretsmanager:GetSecretValue'],
        resources: [{ Ref: id('AWS::SecretsManager::Secret', 'ExchangeSecret/Resource') }, ...accounts],
      },
      RunNow: { actions: ['lambda:InvokeFunction'], resources: [{ 'Fn::GetAtt': [fn(template, SCHEDULER).id, 'Arn'] }] },
      AlarmStates: { actions: ['cloudwatch:DescribeAlarms'], resources: ['*'] },
      Notify: { actions: ['sns:Publish'], resources: [{ Ref: id('AWS::SNS::Topic', 'NotificationsTopic/Resource') }] },
    });
  });

  it('is an output, and has no Notify statement without notifications', () => {
    assert.deepEqual((template.toJSON() as any).Outputs.OperatorPolicyArn.Value, { Ref: policyId });
    const [, off] = only(build().template, 'AWS::IAM::ManagedPolicy');
    assert.ok(!(off.Properties!.PolicyDocument.Statement as any[]).some((st) => st.Sid === 'Notify'));
  });
});
