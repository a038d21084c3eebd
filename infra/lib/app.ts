import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DriftlineStack } from './driftline-stack';
import { readSettings } from './settings';

/**
 * Adds the driftline stack to `app` from its context values, with cdk-nag's AwsSolutions pack
 * as a validation plugin: any finding neither fixed nor acknowledged fails the synthesis.
 *
 * @throws SettingsError for a bad context value, Error for a missing bundle.
 */
export function addDriftline(app: App): DriftlineStack {
  const settings = readSettings((key) => app.node.tryGetContext(key));
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'Driftline';
  // Environment-agnostic on purpose: no `env`, so synthesis never looks up an account or region.
  const stack = new DriftlineStack(app, stackName, {
    settings,
    description: 'driftline: drift-triggered portfolio rebalancer (scheduler, executor, queue, table, alarms)',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}
