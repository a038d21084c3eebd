import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DriftlineStack } from './driftline-stack';
import { DEFAULT_SETTINGS_FILE, layeredSettings, readSettingsFile } from './settings';

/**
 * Adds the driftline stack to `app`, with cdk-nag's AwsSolutions pack as a validation plugin:
 * any finding neither fixed nor acknowledged fails the synthesis. Its settings come from the
 * settings file (context `settingsFile`, default infra/deploy-settings.json), each overridable
 * by a context value (`-c key=value`) for one run.
 *
 * @throws SettingsError for a bad setting or settings file, Error for a missing bundle.
 */
export function addDriftline(app: App): DriftlineStack {
  const context = (key: string) => app.node.tryGetContext(key);
  const file = readSettingsFile((context('settingsFile') as string | undefined) ?? DEFAULT_SETTINGS_FILE);
  const settings = layeredSettings(context, file);
  // Environment-agnostic on purpose: no `env`, so synthesis never looks up an account or region.
  const stack = new DriftlineStack(app, settings.stackName, {
    settings,
    description: 'driftline: drift-triggered portfolio rebalancer (scheduler, executor, queue, table, alarms)',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}
