import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addDriftline } from '../lib/app';
import type { DriftlineStack } from '../lib/driftline-stack';

/** The committed placeholder bundles: tests never need the Rust build. */
export const FIXTURE_CODE_DIR = 'test/fixtures/lambda';

/**
 * An empty settings file: tests start from the defaults, whatever a deployment keeps in
 * infra/deploy-settings.json.
 */
export const NO_SETTINGS_FILE = 'test/fixtures/no-settings.json';

export interface Built {
  app: App;
  stack: DriftlineStack;
  template: Template;
}

/** Builds the app as `bin/driftline.ts` does (cdk-nag included), from context values alone. */
export function build(context: Record<string, unknown> = {}): Built {
  // Path metadata (on under the CLI) lets tests find resources by construct path.
  const app = new App({
    context: { 'aws:cdk:enable-path-metadata': true, codeDir: FIXTURE_CODE_DIR, settingsFile: NO_SETTINGS_FILE, ...context },
  });
  const stack = addDriftline(app);
  let template: Template | undefined;
  return {
    app,
    stack,
    // Lazy: synthesizing freezes the construct tree, and some tests add to it first.
    get template() {
      template ??= Template.fromStack(stack);
      return template;
    },
  };
}

type Resource = { Type: string; Properties?: Record<string, any>; [key: string]: unknown };

/** The only resource of a type; fails when there is not exactly one. */
export function only(template: Template, type: string): [string, Resource] {
  const found = Object.entries(template.findResources(type)) as [string, Resource][];
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}`);
  return found[0];
}

/** The logical id of the resource whose construct path ends with `suffix`. */
export function logicalId(template: Template, type: string, pathSuffix: string): string {
  const matches = Object.entries(template.findResources(type)).filter(([, r]) =>
    String((r as Resource).Metadata && ((r as any).Metadata['aws:cdk:path'] as string)).endsWith(pathSuffix),
  );
  if (matches.length !== 1) throw new Error(`expected one ${type} at */${pathSuffix}, found ${matches.length}`);
  return matches[0][0];
}

/** Every IAM policy statement in the template: role inline policies and policy resources. */
export function allStatements(template: Template): { owner: string; statement: Record<string, any> }[] {
  const out: { owner: string; statement: Record<string, any> }[] = [];
  const json = template.toJSON() as { Resources: Record<string, Resource> };
  for (const [id, r] of Object.entries(json.Resources)) {
    const docs: any[] = [];
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of r.Properties?.Policies ?? []) docs.push(p.PolicyDocument);
    }
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs.push(r.Properties?.PolicyDocument);
    for (const doc of docs) for (const statement of doc?.Statement ?? []) out.push({ owner: id, statement });
  }
  return out;
}

export function asArray<T>(x: T | T[] | undefined): T[] {
  return x === undefined ? [] : Array.isArray(x) ? x : [x];
}
