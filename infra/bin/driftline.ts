#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DriftlineStack } from '../lib/driftline-stack';
import { readSettings } from '../lib/settings';

const app = new App();
const settings = readSettings((key) => app.node.tryGetContext(key));
const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'Driftline';
// Environment-agnostic on purpose: no `env`, so synthesis never looks up an account or region.
new DriftlineStack(app, stackName, {
  settings,
  description: 'driftline: drift-triggered portfolio rebalancer (scheduler, executor, queue, table, alarms)',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
