import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONSOLE_OUTPUT, LOG_FIELD, METRIC } from './contract';
import type { DriftlineSettings } from './settings';

export interface ObservabilityProps {
  readonly settings: DriftlineSettings;
  readonly scheduler: lambda.Function;
  readonly executor: lambda.Function;
  readonly intentsQueue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** A fanned-out tick's shards, waiting for their invocations. */
  readonly shardsQueue: sqs.IQueue;
  /** Where a fanned-out tick's shards go after three failed deliveries. */
  readonly shardsDeadLetterQueue: sqs.IQueue;
}

/** Thresholds the alarms use; docs/DEPLOY.md explains each. */
export const THRESHOLDS = {
  executionFailureRatePercent: 0.5,
  slippageBps: 25,
  slippagePeriods: 3,
  missedCycles: 3,
} as const;

/**
 * Alarms (to one SNS topic) and the dashboard. The functions publish their metrics as EMF log
 * lines, so nothing here needs cloudwatch:PutMetricData.
 */
export class Observability extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: Record<string, cloudwatch.Alarm>;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const s = props.settings;
    const ns = s.metricsNamespace;
    const metric = (metricName: string, statistic: string, period: Duration, label?: string) =>
      new cloudwatch.Metric({ namespace: ns, metricName, statistic, period, label });

    this.topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'driftline alarms', enforceSSL: true });
    if (s.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(s.alarmEmail));

    const fiveMinutes = Duration.minutes(5);
    const failureRate = new cloudwatch.MathExpression({
      // Attempts are emitted on every placement, failures only when one fails: fill the gaps.
      expression: '100 * FILL(failures, 0) / attempts',
      usingMetrics: {
        failures: metric(METRIC.executionFailures, 'Sum', Duration.minutes(15)),
        attempts: metric(METRIC.executionAttempts, 'Sum', Duration.minutes(15)),
      },
      period: Duration.minutes(15),
      label: 'execution failure rate (%)',
    });
    const schedulePeriod = Duration.minutes(s.scheduleRateMinutes);
    // The queues' alarms: a minute's maximum at or above `threshold`, silence being fine.
    const queueMetric = { period: Duration.minutes(1), statistic: 'Maximum' };
    const queueAlarm = (id: string, m: cloudwatch.Metric, description: string, threshold: number) =>
      m.createAlarm(this, id, {
        alarmDescription: `${description} (docs/DEPLOY.md#alarms).`,
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });

    const alarms: Record<string, cloudwatch.Alarm> = {
      executionFailureRate: failureRate.createAlarm(this, 'ExecutionFailureRate', {
        alarmDescription: `More than ${THRESHOLDS.executionFailureRatePercent}% of order placement attempts ended in error over 15 minutes (docs/DEPLOY.md#alarms).`,
        threshold: THRESHOLDS.executionFailureRatePercent,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      slippage: metric(METRIC.slippageBps, 'Average', fiveMinutes).createAlarm(this, 'Slippage', {
        alarmDescription: `Average fill slippage above ${THRESHOLDS.slippageBps} bps for ${THRESHOLDS.slippagePeriods} consecutive 5-minute periods (docs/DEPLOY.md#alarms).`,
        threshold: THRESHOLDS.slippageBps,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: THRESHOLDS.slippagePeriods,
        datapointsToAlarm: THRESHOLDS.slippagePeriods,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      deadLetterQueue: queueAlarm(
        'DeadLetterQueueNotEmpty',
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible(queueMetric),
        'Order intents reached the dead-letter queue: the executor gave up on them',
        1,
      ),
      shardsDeadLetterQueue: queueAlarm(
        'ShardsDeadLetterQueueNotEmpty',
        props.shardsDeadLetterQueue.metricApproximateNumberOfMessagesVisible(queueMetric),
        'A shard of portfolios reached its dead-letter queue: three scheduler invocations failed on it',
        1,
      ),
      // A shard still waiting half a period after it was sent: the shard invocations fall
      // behind the ticks, and a shard still waiting at the next tick plans nothing.
      shardsBehind: queueAlarm(
        'ShardsFallingBehind',
        props.shardsQueue.metricApproximateAgeOfOldestMessage(queueMetric),
        `A shard of portfolios has waited half a schedule period (${s.scheduleRateMinutes * 30} s) for its invocation: the shards fall behind the ticks`,
        s.scheduleRateMinutes * 30,
      ),
      missedCycles: metric(METRIC.cyclesCompleted, 'Sum', schedulePeriod).createAlarm(this, 'SchedulerMissedCycles', {
        alarmDescription: `No portfolio cycle completed in ${THRESHOLDS.missedCycles} consecutive schedule periods of ${s.scheduleRateMinutes} minutes (docs/DEPLOY.md#alarms).`,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: THRESHOLDS.missedCycles,
        datapointsToAlarm: THRESHOLDS.missedCycles,
        // No datapoint at all is exactly the failure this alarm is for.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    };
    for (const [name, fn] of [['scheduler', props.scheduler], ['executor', props.executor]] as const) {
      const id = name === 'scheduler' ? 'Scheduler' : 'Executor';
      alarms[`${name}Errors`] = fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' }).createAlarm(this, `${id}Errors`, {
        alarmDescription: `The ${name} function failed (crashed, timed out or was misconfigured) (docs/DEPLOY.md#alarms).`,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarms[`${name}Throttles`] = fn.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }).createAlarm(this, `${id}Throttles`, {
        alarmDescription: `The ${name} function was throttled by Lambda concurrency limits (docs/DEPLOY.md#alarms).`,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    const notify = new actions.SnsAction(this.topic);
    for (const alarm of Object.values(alarms)) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
    this.alarms = alarms;

    // Per portfolio, asset and order: Logs Insights over the functions' EMF lines, whose
    // properties carry that detail (a metric per portfolio and asset would be billed each).
    const F = LOG_FIELD;
    const query = (title: string, width: number, logs: lambda.Function, view: cloudwatch.LogQueryVisualizationType, queryLines: string[]) =>
      new cloudwatch.LogQueryWidget({ title, width, logGroupNames: [logs.logGroup.logGroupName], view, queryLines });
    // A graph of the dashboard: the widths of a row add up to 24.
    const graph = (title: string, width: number, props: Omit<cloudwatch.GraphWidgetProps, 'title' | 'width'>) =>
      new cloudwatch.GraphWidget({ title, width, ...props });
    const alarmLine = (value: number) => [{ value, label: 'alarm', color: cloudwatch.Color.RED }];
    const stack = Stack.of(this);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-driftline`,
      defaultInterval: Duration.hours(24),
      widgets: [
        [
          query('Drift per portfolio and asset (pp)', 12, props.scheduler, cloudwatch.LogQueryVisualizationType.LINE, [
            `filter ispresent(${METRIC.driftPp}) and ispresent(${F.asset})`,
            `stats avg(${METRIC.driftPp}) by bin(5m), ${F.portfolio}, ${F.asset}`,
          ]),
          graph('Execution latency (ms)', 12, {
            left: [
              metric(METRIC.executionLatencyMs, 'p50', fiveMinutes, 'p50'),
              metric(METRIC.executionLatencyMs, 'p95', fiveMinutes, 'p95'),
            ],
          }),
        ],
        [
          query('Fill rate (filled / ordered)', 8, props.executor, cloudwatch.LogQueryVisualizationType.LINE, [
            `filter ispresent(${F.outcome})`,
            `stats avg(${F.fillRatio}) as fill_ratio by bin(1h)`,
          ]),
          graph('Slippage (bps vs mid)', 8, {
            left: [
              metric(METRIC.slippageBps, 'Average', fiveMinutes, 'average'),
              metric(METRIC.slippageBps, 'p95', fiveMinutes, 'p95'),
            ],
            leftAnnotations: alarmLine(THRESHOLDS.slippageBps),
          }),
          graph('Execution failure rate (%)', 8, {
            left: [failureRate],
            leftAnnotations: alarmLine(THRESHOLDS.executionFailureRatePercent),
          }),
        ],
        [
          graph('Queue depth', 8, {
            left: [
              props.intentsQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: 'waiting' }),
              props.intentsQueue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: 'in flight or delayed' }),
              props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: 'dead letters' }),
              props.shardsDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: 'shard dead letters' }),
            ],
          }),
          graph('Cycles, worst drift and rate limits', 8, {
            left: [
              metric(METRIC.cyclesCompleted, 'Sum', fiveMinutes, 'cycles completed'),
              metric(METRIC.rateLimitHits, 'Sum', fiveMinutes, 'rate-limit hits'),
            ],
            right: [metric(METRIC.driftPp, 'Maximum', fiveMinutes, 'largest drift (pp)')],
          }),
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            alarms: Object.values(alarms),
            width: 8,
          }),
        ],
        [
          query('Orders by outcome, with fees (quote)', 12, props.executor, cloudwatch.LogQueryVisualizationType.TABLE, [
            `filter ispresent(${F.outcome})`,
            `stats count(*) as orders, sum(${F.feesQuote}) as fees by ${F.outcome}`,
          ]),
          query('Cycles per portfolio', 12, props.scheduler, cloudwatch.LogQueryVisualizationType.TABLE, [
            `filter ispresent(${METRIC.cyclesCompleted})`,
            `stats count(*) as cycles by ${F.portfolio}`,
          ]),
        ],
      ],
    });

    new CfnOutput(stack, CONSOLE_OUTPUT.alarmTopicArn, { value: this.topic.topicArn, description: 'Subscribe operators here' });
    new CfnOutput(stack, 'DashboardName', { value: this.dashboard.dashboardName });
  }
}
