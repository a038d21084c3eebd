import { CfnOutput, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TABLE_ACTIONS } from './contract';

export interface OperatorPolicyProps {
  readonly table: dynamodb.ITable;
  readonly intentsQueue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly shardsDeadLetterQueue: sqs.IQueue;
  readonly exchangeSecret: secretsmanager.ISecret;
  readonly accountSecretArns: readonly string[];
  readonly scheduler: lambda.IFunction;
  readonly notificationsTopic?: sns.ITopic;
}

/**
 * The managed policy an operator attaches to use the console (`driftline`) on this stack:
 * exactly the calls its commands make, on this stack's resources. Nothing is attached here;
 * docs/DEPLOY.md ("Operators") says how and what each statement is for.
 */
export class OperatorPolicy extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: OperatorPolicyProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const statements = [
      new iam.PolicyStatement({
        sid: 'FindTheStack',
        actions: ['cloudformation:DescribeStacks'],
        // The stack's own ARN: `--stack` reads this stack's outputs and no other's.
        resources: [stack.stackId],
      }),
      new iam.PolicyStatement({
        sid: 'Ledger',
        // Portfolios (apply, pause, remove), the halt and the breakers (one BatchGetItem),
        // orders, cycles and drift history.
        actions: [...TABLE_ACTIONS],
        resources: [props.table.tableArn],
      }),
      new iam.PolicyStatement({
        sid: 'Queues',
        // status (depths), dlq list and dlq redrive (receive, send back, delete); the same on the
        // shards' dead-letter queue, to read and clear it.
        actions: [
          'sqs:GetQueueAttributes',
          'sqs:ReceiveMessage',
          'sqs:SendMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
        ],
        resources: [props.intentsQueue.queueArn, props.deadLetterQueue.queueArn, props.shardsDeadLetterQueue.queueArn],
      }),
      new iam.PolicyStatement({
        sid: 'ExchangeCredentials',
        // halt/remove --cancel-open and plan --live talk to the exchange with the accounts' keys.
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.exchangeSecret.secretArn, ...props.accountSecretArns],
      }),
      new iam.PolicyStatement({
        sid: 'RunNow',
        actions: ['lambda:InvokeFunction'],
        resources: [props.scheduler.functionArn],
      }),
      new iam.PolicyStatement({
        sid: 'AlarmStates',
        actions: ['cloudwatch:DescribeAlarms'],
        resources: ['*'],
      }),
    ];
    if (props.notificationsTopic) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'Notify',
          // halt and resume tell the owner.
          actions: ['sns:Publish'],
          resources: [props.notificationsTopic.topicArn],
        }),
      );
    }
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `driftline console on stack ${stack.stackName}: status, orders, portfolios, halt/resume, dead letters, run-now`,
      statements,
    });
    Validations.of(this.policy).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:DescribeAlarms lists alarm definitions and states, no data; `driftline status` asks for the ' +
        "stack's alarms in ALARM by name prefix, and AWS documents the action's complete answer only when it is scoped to *.",
    });
    new CfnOutput(stack, 'OperatorPolicyArn', {
      value: this.policy.managedPolicyArn,
      description: 'Attach to the operators who run the driftline console on this stack',
    });
  }
}
