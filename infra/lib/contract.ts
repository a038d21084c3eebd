/**
 * The runtime contract between the Rust functions and this app (docs/ARCHITECTURE.md,
 * "Runtime contract"). Change a name here and in the functions' configuration code, or not at all.
 */

/** The two functions, named as cargo-lambda names their output directories. */
export const FUNCTION_NAMES = ['scheduler', 'executor'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** Environment variables the functions validate at cold start. */
export const ENV = {
  tableName: 'DRIFTLINE_TABLE_NAME',
  intentsQueueUrl: 'DRIFTLINE_INTENTS_QUEUE_URL',
  exchangeBaseUrl: 'DRIFTLINE_EXCHANGE_BASE_URL',
  exchangeSecretId: 'DRIFTLINE_EXCHANGE_SECRET_ID',
  metricsNamespace: 'DRIFTLINE_METRICS_NAMESPACE',
  schedulePeriodSeconds: 'DRIFTLINE_SCHEDULE_PERIOD_SECONDS',
  portfolioConcurrency: 'DRIFTLINE_PORTFOLIO_CONCURRENCY',
  maxRetryDelaySeconds: 'DRIFTLINE_MAX_RETRY_DELAY_SECONDS',
  /** Executor only, optional (default 30 s): when a resting order is checked again. */
  followUpDelaySeconds: 'DRIFTLINE_FOLLOW_UP_DELAY_SECONDS',
  /** Both, optional (default `messages`): who follows a resting order (`reconcile`: the scheduler). */
  followUp: 'DRIFTLINE_FOLLOW_UP',
  /** Executor only: where unreadable messages go at once, with their reason. */
  deadLetterQueueUrl: 'DRIFTLINE_DEAD_LETTER_QUEUE_URL',
  /** Both, only when notifications are on: the SNS topic the owner's notices go to. */
  notificationsTopicArn: 'DRIFTLINE_NOTIFICATIONS_TOPIC_ARN',
  /** Scheduler only, optional: the shards queue a tick fans out to; absent, it never fans out. */
  shardQueueUrl: 'DRIFTLINE_SHARD_QUEUE_URL',
  /** Scheduler only, optional (1..=1000000, default 200): a tick with more portfolios fans out. */
  fanOutAbove: 'DRIFTLINE_FAN_OUT_ABOVE',
  /** Scheduler only, optional (1..=200, default 50): portfolio ids per shard message. */
  shardSize: 'DRIFTLINE_SHARD_SIZE',
} as const;

/**
 * The stack outputs the operator's console reads to find a deployment
 * (tools/cli/src/console/mod.rs, `outputs`): rename one in both places or not at all.
 */
export const CONSOLE_OUTPUT = {
  tableName: 'TableName',
  intentsQueueUrl: 'IntentsQueueUrl',
  deadLetterQueueUrl: 'DeadLetterQueueUrl',
  shardsDeadLetterQueueUrl: 'ShardsDeadLetterQueueUrl',
  exchangeSecretArn: 'ExchangeSecretArn',
  schedulerFunctionName: 'SchedulerFunctionName',
  exchangeBaseUrl: 'ExchangeBaseUrl',
  alarmTopicArn: 'AlarmTopicArn',
  metricsNamespace: 'MetricsNamespace',
  /** Only when notifications are on. */
  notificationsTopicArn: 'NotificationsTopicArn',
} as const;

/**
 * What the functions and the operator do on the table: the halt and the breaker are read
 * together (BatchGetItem), a cycle's records go in one TransactWriteItems (governed by PutItem).
 */
export const TABLE_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
] as const;

/** The message attribute carrying the reason an unreadable message was dead-lettered. */
export const DEAD_LETTER_REASON_ATTRIBUTE = 'driftline-error';

/**
 * EMF metric names (namespace `DRIFTLINE_METRICS_NAMESPACE`, `Driftline` by default): the whole
 * set the functions emit, each without dimensions, whatever the number of portfolios and assets
 * (shared/aws/src/metrics.rs `METRICS`; functions/runtime/tests/contract.rs checks both agree).
 */
export const METRIC = {
  cyclesCompleted: 'CyclesCompleted',
  driftPp: 'DriftPp',
  executionAttempts: 'ExecutionAttempts',
  executionFailures: 'ExecutionFailures',
  executionLatencyMs: 'ExecutionLatencyMs',
  rateLimitHits: 'RateLimitHits',
  slippageBps: 'SlippageBps',
} as const;

/**
 * Properties of the functions' EMF lines: the per-portfolio, per-asset and per-order detail,
 * which makes no metric and which the dashboard's Logs Insights widgets query.
 */
export const LOG_FIELD = {
  portfolio: 'Portfolio',
  asset: 'Asset',
  outcome: 'Outcome',
  fillRatio: 'FillRatio',
  feesQuote: 'FeesQuote',
} as const;

/**
 * The single table's key schema and TTL attribute (epoch seconds), as the DynamoDB adapter
 * reads and writes them: shared/aws/src/table.rs (`PK`, `SK`, `TTL_ATTRIBUTE`), docs/DATA.md.
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'ttl_epoch_s',
} as const;
