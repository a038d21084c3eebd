import * as fs from 'node:fs';
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { CONSOLE_OUTPUT, ENV, type FunctionName, TABLE, TABLE_ACTIONS } from './contract';
import { Observability } from './observability';
import { OperatorPolicy } from './operator';
import type { DriftlineSettings } from './settings';

export interface DriftlineStackProps extends StackProps {
  readonly settings: DriftlineSettings;
}

/** The infra/ directory: relative code paths are resolved against it, whatever the cwd. */
const INFRA_DIR = path.resolve(__dirname, '..');

/**
 * The whole deployment: scheduler and executor, their schedule, the intents queue and its
 * dead-letter queue, the shards queue (a tick with many portfolios fans out to it, and it
 * invokes the scheduler once a shard) and its dead-letter queue, the table, the exchange secret
 * (and read access to further accounts' secrets), one least-privilege role per function, log
 * groups, alarms and a dashboard, the optional notifications topic, and the operators' managed
 * policy. Its outputs are what the console (`driftline --stack`) reads. Environment-agnostic:
 * no account or region lookups.
 */
export class DriftlineStack extends Stack {
  readonly table: dynamodb.Table;
  readonly intentsQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  /** A fanned-out tick's shards of portfolio ids, each a scheduler invocation of its own. */
  readonly shardsQueue: sqs.Queue;
  readonly shardsDeadLetterQueue: sqs.Queue;
  readonly exchangeSecret: secretsmanager.ISecret;
  readonly scheduler: lambda.Function;
  readonly executor: lambda.Function;
  readonly schedule: events.Rule;
  /** Present when the `notifications` setting is on. */
  readonly notificationsTopic?: sns.Topic;
  readonly observability: Observability;
  readonly operatorPolicy: OperatorPolicy;

  constructor(scope: Construct, id: string, props: DriftlineStackProps) {
    super(scope, id, props);
    const s = props.settings;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The order ledger is the record of what was traded: it outlives the stack.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'IntentsDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.intentsQueue = new sqs.Queue(this, 'IntentsQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(s.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: s.maxReceiveCount },
    });

    // Fan-out: a tick with more than `fanOutAbove` portfolios sends their ids here, `shardSize`
    // to a message, and the mapping below invokes the scheduler once a shard. SQS rather than
    // Step Functions or an asynchronous self-invoke: each shard is delivered at least once and
    // dead-lettered after three failures, the mapping caps the shard invocations running at once
    // (the exchange's load), it needs no new service or SDK crate, and the per-portfolio lease
    // and cycle id make a redelivered shard harmless (docs/DEPLOY.md, "Fan-out").
    this.shardsDeadLetterQueue = new sqs.Queue(this, 'ShardsDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.shardsQueue = new sqs.Queue(this, 'ShardsQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // A queue that invokes a function must hide a message for at least its timeout.
      visibilityTimeout: Duration.seconds(s.schedulerTimeoutSeconds),
      // Long enough for a shard's three deliveries to end in the dead-letter queue; a shard that
      // waited past the next tick is stale, and the scheduler drops it itself (and logs it).
      retentionPeriod: Duration.seconds(Math.min(14 * 24 * 3600, s.scheduleRateMinutes * 60 + 4 * s.schedulerTimeoutSeconds)),
      deadLetterQueue: { queue: this.shardsDeadLetterQueue, maxReceiveCount: 3 },
    });

    this.exchangeSecret = s.exchangeSecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'ExchangeSecret', s.exchangeSecretArn)
      : this.createEmptySecret();

    this.notificationsTopic = s.notifications ? this.createNotificationsTopic(s.notificationsEmail) : undefined;

    const shared: Record<string, string> = {
      [ENV.tableName]: this.table.tableName,
      [ENV.intentsQueueUrl]: this.intentsQueue.queueUrl,
      [ENV.exchangeBaseUrl]: s.exchangeBaseUrl,
      [ENV.exchangeSecretId]: this.exchangeSecret.secretArn,
      [ENV.metricsNamespace]: s.metricsNamespace,
      [ENV.followUp]: s.followUp,
    };
    // Both functions tell the owner (a cycle that traded, the breaker opening or closing), and
    // only to this topic.
    const notify: iam.PolicyStatement[] = [];
    if (this.notificationsTopic) {
      shared[ENV.notificationsTopicArn] = this.notificationsTopic.topicArn;
      notify.push(new iam.PolicyStatement({ sid: 'Notify', actions: ['sns:Publish'], resources: [this.notificationsTopic.topicArn] }));
    }

    this.scheduler = this.rustFunction('scheduler', s, {
      memorySize: s.schedulerMemoryMb,
      timeout: Duration.seconds(s.schedulerTimeoutSeconds),
      environment: {
        ...shared,
        [ENV.schedulePeriodSeconds]: String(s.scheduleRateMinutes * 60),
        [ENV.portfolioConcurrency]: String(s.portfolioConcurrency),
        [ENV.shardQueueUrl]: this.shardsQueue.queueUrl,
        [ENV.fanOutAbove]: String(s.fanOutAbove),
        [ENV.shardSize]: String(s.shardSize),
      },
      // The next cycle comes one period later and reruns of a cycle are idempotent; an
      // automatic retry would only pile invocations on a failing dependency.
      retryAttempts: 0,
      statements: [
        new iam.PolicyStatement({
          sid: 'Ledger',
          // A cycle's records go in one TransactWriteItems; IAM governs its puts by PutItem and
          // its checks of the halt and the portfolio's pause by ConditionCheckItem. The halt and
          // the breaker are read together, once an invocation: BatchGetItem.
          actions: [...TABLE_ACTIONS, 'dynamodb:ConditionCheckItem'],
          resources: [this.table.tableArn],
        }),
        new iam.PolicyStatement({
          sid: 'SendIntents',
          actions: ['sqs:SendMessage'],
          resources: [this.intentsQueue.queueArn],
        }),
        new iam.PolicyStatement({
          sid: 'SendShards',
          // A fanned-out tick sends its shards with SendMessageBatch, which IAM governs by SendMessage.
          actions: ['sqs:SendMessage'],
          resources: [this.shardsQueue.queueArn],
        }),
        new iam.PolicyStatement({
          sid: 'ConsumeShards',
          // What the shards mapping does as the scheduler's role: receive, delete, hide again.
          actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
          resources: [this.shardsQueue.queueArn],
        }),
        ...notify,
      ],
    });

    this.executor = this.rustFunction('executor', s, {
      memorySize: s.executorMemoryMb,
      timeout: Duration.seconds(s.executorTimeoutSeconds),
      environment: {
        ...shared,
        [ENV.maxRetryDelaySeconds]: String(s.maxRetryDelaySeconds),
        // Unreadable messages go there at once, with their reason, instead of coming back
        // until the redrive policy moves them.
        [ENV.deadLetterQueueUrl]: this.deadLetterQueue.queueUrl,
      },
      statements: [
        new iam.PolicyStatement({
          sid: 'Ledger',
          // BatchGetItem: the halt and the breaker, read together once a batch. An intent's claim
          // is a TransactWriteItems of the claim (UpdateItem) and the checks of the halt and the
          // breaker (ConditionCheckItem); a re-priced order's next leg, of its put (PutItem) and
          // the checks of the halt and the portfolio's pause.
          actions: [
            'dynamodb:BatchGetItem',
            'dynamodb:ConditionCheckItem',
            'dynamodb:GetItem',
            'dynamodb:PutItem',
            'dynamodb:UpdateItem',
            'dynamodb:Query',
          ],
          resources: [this.table.tableArn],
        }),
        new iam.PolicyStatement({
          sid: 'ConsumeAndRequeueIntents',
          actions: [
            'sqs:ReceiveMessage',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:ChangeMessageVisibility',
            'sqs:SendMessage',
          ],
          resources: [this.intentsQueue.queueArn],
        }),
        new iam.PolicyStatement({
          sid: 'DeadLetterUnreadable',
          actions: ['sqs:SendMessage'],
          resources: [this.deadLetterQueue.queueArn],
        }),
        ...notify,
      ],
    });

    // A plain mapping rather than SqsEventSource: that one also grants sqs:GetQueueUrl, which
    // the executor never calls; the role above holds exactly what the mapping needs.
    new lambda.EventSourceMapping(this, 'ExecutorIntents', {
      target: this.executor,
      eventSourceArn: this.intentsQueue.queueArn,
      batchSize: s.batchSize,
      maxBatchingWindow: Duration.seconds(s.maxBatchingWindowSeconds),
      reportBatchItemFailures: true,
      maxConcurrency: s.executorMaxConcurrency,
    });

    // The same function, invoked once a shard (batch size 1: a shard is already a batch of
    // portfolios), at most `shardConcurrency` at once; a plain mapping for the same reason.
    new lambda.EventSourceMapping(this, 'SchedulerShards', {
      target: this.scheduler,
      eventSourceArn: this.shardsQueue.queueArn,
      batchSize: 1,
      reportBatchItemFailures: true,
      maxConcurrency: s.shardConcurrency,
    });

    this.schedule = new events.Rule(this, 'Schedule', {
      description: `driftline: one scheduler cycle every ${s.scheduleRateMinutes} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(s.scheduleRateMinutes)),
      enabled: s.scheduleEnabled,
      targets: [
        new targets.LambdaFunction(this.scheduler, {
          retryAttempts: 2,
          maxEventAge: Duration.seconds(Math.max(60, s.scheduleRateMinutes * 60)),
        }),
      ],
    });

    this.observability = new Observability(this, 'Observability', {
      settings: s,
      scheduler: this.scheduler,
      executor: this.executor,
      intentsQueue: this.intentsQueue,
      deadLetterQueue: this.deadLetterQueue,
      shardsQueue: this.shardsQueue,
      shardsDeadLetterQueue: this.shardsDeadLetterQueue,
    });

    this.operatorPolicy = new OperatorPolicy(this, 'Operator', {
      table: this.table,
      intentsQueue: this.intentsQueue,
      deadLetterQueue: this.deadLetterQueue,
      shardsDeadLetterQueue: this.shardsDeadLetterQueue,
      exchangeSecret: this.exchangeSecret,
      accountSecretArns: s.accountSecretArns,
      scheduler: this.scheduler,
      notificationsTopic: this.notificationsTopic,
    });

    // What the console reads to find the deployment (contract.ts, CONSOLE_OUTPUT), and the rest
    // an operator looks up by hand.
    const output = (key: string, value: string, description?: string) => new CfnOutput(this, key, { value, description });
    output(CONSOLE_OUTPUT.tableName, this.table.tableName, 'DynamoDB table (portfolio configs, ledger)');
    output(CONSOLE_OUTPUT.intentsQueueUrl, this.intentsQueue.queueUrl);
    output(CONSOLE_OUTPUT.deadLetterQueueUrl, this.deadLetterQueue.queueUrl);
    output('DeadLetterQueueArn', this.deadLetterQueue.queueArn, 'The source of a redrive');
    output(CONSOLE_OUTPUT.shardsDeadLetterQueueUrl, this.shardsDeadLetterQueue.queueUrl, 'Shards of portfolios that failed three times');
    output(CONSOLE_OUTPUT.exchangeSecretArn, this.exchangeSecret.secretArn, 'Put the exchange API key and secret here');
    output(CONSOLE_OUTPUT.schedulerFunctionName, this.scheduler.functionName);
    output('ExecutorFunctionName', this.executor.functionName);
    output('ScheduleRuleName', this.schedule.ruleName, 'The EventBridge rule that starts each cycle');
    output(CONSOLE_OUTPUT.exchangeBaseUrl, s.exchangeBaseUrl);
    output(CONSOLE_OUTPUT.metricsNamespace, s.metricsNamespace);
    if (this.notificationsTopic) {
      output(CONSOLE_OUTPUT.notificationsTopicArn, this.notificationsTopic.topicArn, 'Subscribe the owner here (email, chat, HTTPS)');
    }
  }

  /**
   * The owner's notifications: a topic of its own (apart from the alarms, so each can go to
   * different people), refusing publishers without TLS as the alarm topic does.
   */
  private createNotificationsTopic(email: string | undefined): sns.Topic {
    const topic = new sns.Topic(this, 'NotificationsTopic', { displayName: 'driftline', enforceSSL: true });
    if (email) topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }

  /**
   * The exchange secret, created without a value: keys are put in by the operator
   * (docs/DEPLOY.md), never through the template.
   */
  private createEmptySecret(): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'ExchangeSecret', {
      description: 'driftline exchange account: {"venue": "binance", "api_key": "...", "api_secret": "..."}',
    });
    // The L2 construct generates a random value when given none; CloudFormation creates an
    // empty secret when both SecretString and GenerateSecretString are absent.
    (secret.node.defaultChild as secretsmanager.CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'Exchange API keys are issued by the exchange, not by AWS: no rotation Lambda can mint them. ' +
        'They are rotated by hand at the exchange and put here (docs/DEPLOY.md, "Rotating keys").',
    });
    return secret;
  }

  private rustFunction(
    name: FunctionName,
    s: DriftlineSettings,
    options: {
      memorySize: number;
      timeout: Duration;
      environment: Record<string, string>;
      retryAttempts?: number;
      statements: iam.PolicyStatement[];
    },
  ): lambda.Function {
    const id = name === 'scheduler' ? 'Scheduler' : 'Executor';
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: s.logRetentionDays as logs.RetentionDays,
    });
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `driftline ${name}: only the actions it uses, on only its table, queues, secrets and log group`,
      inlinePolicies: {
        [name]: new iam.PolicyDocument({
          statements: [
            ...options.statements,
            new iam.PolicyStatement({
              sid: 'ExchangeCredentials',
              actions: ['secretsmanager:GetSecretValue'],
              // The default account's secret and each further account's, by exact ARN: a
              // portfolio naming any other secret fails on AccessDenied before any order.
              resources: [this.exchangeSecret.secretArn, ...s.accountSecretArns],
            }),
            new iam.PolicyStatement({
              sid: 'Logs',
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [logGroup.logGroupArn],
            }),
          ],
        }),
      },
    });
    const fn = new lambda.Function(this, id, {
      description: `driftline ${name}`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: s.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(bundleDir(s.codeDir, name)),
      memorySize: options.memorySize,
      timeout: options.timeout,
      environment: options.environment,
      role,
      logGroup,
      retryAttempts: options.retryAttempts,
    });
    // The role carries its policies inline, so the GetAtt of its ARN already orders the
    // function after it; the explicit DependsOn CDK adds is redundant (cfn-lint W3005).
    (fn.node.defaultChild as lambda.CfnFunction).addDeletionOverride('DependsOn');
    return fn;
  }
}

/**
 * The directory holding one function's `bootstrap`.
 *
 * @throws Error naming the directory and how to produce it when there is no bootstrap there.
 */
export function bundleDir(codeDir: string, name: FunctionName): string {
  const dir = path.resolve(INFRA_DIR, codeDir, name);
  if (!fs.existsSync(path.join(dir, 'bootstrap'))) {
    throw new Error(
      `context codeDir=${JSON.stringify(codeDir)}: no ${name} bundle at ${path.join(dir, 'bootstrap')}; ` +
        'build it with `make deploy` (cargo lambda build --release --arm64), or synthesize with ' +
        '-c codeDir=test/fixtures/lambda to check the template without the Rust build',
    );
  }
  return dir;
}
