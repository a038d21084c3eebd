import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Deploy-time settings of the stack. Every one has a default; a deployment keeps its own in the
 * committed settings file (`infra/deploy-settings.json`, [readSettingsFile]), and
 * `cdk deploy -c <key>=<value>` overrides one for one run; docs/DEPLOY.md lists them.
 */
export interface DriftlineSettings {
  /** The CloudFormation stack's name; a second name deploys a second, independent copy. */
  readonly stackName: string;
  /** Directory holding `scheduler/bootstrap` and `executor/bootstrap` (cargo-lambda's output). */
  readonly codeDir: string;
  /** `arm64` (Graviton, the default) or `x86_64`; must match how the bundles were built. */
  readonly architecture: 'arm64' | 'x86_64';
  readonly schedulerMemoryMb: number;
  readonly executorMemoryMb: number;
  readonly schedulerTimeoutSeconds: number;
  readonly executorTimeoutSeconds: number;
  /** The schedule's rate; also the cycle period the scheduler floors event times to. */
  readonly scheduleRateMinutes: number;
  /** `false` deploys the schedule disabled (first deploy, before the secret holds keys). */
  readonly scheduleEnabled: boolean;
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  /** Concurrent executor invocations the queue may drive (bounds load on the exchange). */
  readonly executorMaxConcurrency: number;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** At least six times the executor's timeout; defaults to 6 × timeout + batching window. */
  readonly visibilityTimeoutSeconds: number;
  /** Complete ARN of an existing exchange secret; absent: the stack creates an empty one. */
  readonly exchangeSecretArn?: string;
  /**
   * Complete ARNs of the secrets of further exchange accounts, which portfolios name in their
   * `account` field; both functions may read each of them, and nothing else.
   */
  readonly accountSecretArns: readonly string[];
  readonly exchangeBaseUrl: string;
  readonly metricsNamespace: string;
  readonly portfolioConcurrency: number;
  /**
   * A tick that finds more portfolios than this fans out: it sends their ids to the shards queue,
   * `shardSize` to a message, and each message is an invocation of its own.
   */
  readonly fanOutAbove: number;
  /** Portfolio ids per shard message. */
  readonly shardSize: number;
  /**
   * Shard invocations the shards queue may drive at once (the mapping's maximum concurrency;
   * AWS's minimum is 2): bounds the load a fanned-out tick puts on the exchange.
   */
  readonly shardConcurrency: number;
  readonly maxRetryDelaySeconds: number;
  /**
   * Who follows an order resting on the exchange: `messages` (the executor, every 30 s, the
   * default) or `reconcile` (the scheduler, once a period: fewer AWS calls per order, a period's
   * reaction time; docs/BENCHMARKS.md).
   */
  readonly followUp: 'messages' | 'reconcile';
  readonly logRetentionDays: number;
  /** An address subscribed to the alarm topic; absent: subscribe by hand (DEPLOY.md). */
  readonly alarmEmail?: string;
  /**
   * Whether the stack has a notifications topic: one message per cycle that traded, on halt
   * and resume, and when the breaker opens or closes. Off by default.
   */
  readonly notifications: boolean;
  /** An address subscribed to the notifications topic (needs `notifications`). */
  readonly notificationsEmail?: string;
}

/**
 * A setting that is wrong, naming where it was set (`context` for `-c` and cdk.json, or the
 * settings file), the key and the value.
 */
export class SettingsError extends Error {
  constructor(
    readonly key: string,
    readonly value: unknown,
    readonly reason: string,
    readonly source = 'context',
  ) {
    super(`${source} ${key}=${JSON.stringify(value)}: ${reason}`);
    this.name = 'SettingsError';
  }

  /** The same error, blamed on the settings file the value came from. */
  in(file: string): SettingsError {
    return new SettingsError(this.key, this.value, this.reason, `${file}:`);
  }
}

/** Retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
  3288, 3653,
] as const;

/** Where `make deploy` leaves cargo-lambda's output, relative to infra/. */
export const DEFAULT_CODE_DIR = path.join('..', 'target', 'lambda');

/** Reads one context value; `undefined` when unset. */
export type ContextReader = (key: string) => unknown;

const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const NAMESPACE = /^[A-Za-z0-9._/#:-]{1,255}$/;

function integer(read: ContextReader, key: string, fallback: number, min: number, max: number): number {
  const raw = read(key);
  if (raw === undefined) return fallback;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value)) throw new SettingsError(key, raw, 'not a whole number');
  if (value < min || value > max) throw new SettingsError(key, raw, `must be between ${min} and ${max}`);
  return value;
}

function text(read: ContextReader, key: string): string | undefined {
  const raw = read(key);
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.trim() === '') throw new SettingsError(key, raw, 'not a non-empty string');
  return raw.trim();
}

const SECRET_ARN_REASON =
  'not a complete Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)';

/**
 * A list of complete secret ARNs: a comma-separated string (from -c) or an array of strings
 * (from cdk.json). Absent or empty: none.
 */
function secretArnList(read: ContextReader, key: string, defaultSecretArn: string | undefined): string[] {
  const raw = read(key);
  if (raw === undefined) return [];
  let entries: unknown[];
  if (typeof raw === 'string') entries = raw.trim() === '' ? [] : raw.split(',');
  else if (Array.isArray(raw)) entries = raw;
  else throw new SettingsError(key, raw, 'not a comma-separated list of secret ARNs');
  const arns: string[] = [];
  for (const entry of entries) {
    const arn = typeof entry === 'string' ? entry.trim() : entry;
    if (typeof arn !== 'string' || !SECRET_ARN.test(arn)) {
      throw new SettingsError(key, raw, `${JSON.stringify(arn)} is ${SECRET_ARN_REASON}`);
    }
    if (arns.includes(arn)) throw new SettingsError(key, raw, `${arn} is listed twice`);
    if (arn === defaultSecretArn) {
      throw new SettingsError(
        key,
        raw,
        `${arn} is the default account's secret (exchangeSecretArn); portfolios on it leave \`account\` out`,
      );
    }
    arns.push(arn);
  }
  return arns;
}

function email(read: ContextReader, key: string): string | undefined {
  const address = text(read, key);
  if (address !== undefined && !EMAIL.test(address)) throw new SettingsError(key, address, 'not an email address');
  return address;
}

function flag(read: ContextReader, key: string, fallback: boolean): boolean {
  const raw = read(key);
  if (raw === undefined) return fallback;
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new SettingsError(key, raw, 'not true or false');
}

/**
 * Builds the settings from context values, applying defaults.
 *
 * @throws SettingsError naming the first key whose value is wrong.
 */
export function readSettings(read: ContextReader): DriftlineSettings {
  const architecture = text(read, 'architecture') ?? 'arm64';
  if (architecture !== 'arm64' && architecture !== 'x86_64') {
    throw new SettingsError('architecture', architecture, 'must be arm64 or x86_64');
  }
  // The missed-cycles alarm spans three periods, and CloudWatch caps an alarm's span at a day.
  const scheduleRateMinutes = integer(read, 'scheduleRateMinutes', 5, 1, 480);
  // A run longer than the period would overlap the next cycle; the lease would only skip it.
  const schedulerTimeoutSeconds = integer(read, 'schedulerTimeoutSeconds', 60, 1, 900);
  if (schedulerTimeoutSeconds > scheduleRateMinutes * 60) {
    throw new SettingsError(
      'schedulerTimeoutSeconds',
      schedulerTimeoutSeconds,
      `must not exceed the schedule period (${scheduleRateMinutes * 60} s)`,
    );
  }
  const executorTimeoutSeconds = integer(read, 'executorTimeoutSeconds', 30, 1, 900);
  const maxBatchingWindowSeconds = integer(read, 'maxBatchingWindowSeconds', 5, 0, 300);
  const batchSize = integer(read, 'batchSize', 10, 1, 10000);
  if (batchSize > 10 && maxBatchingWindowSeconds === 0) {
    throw new SettingsError('batchSize', batchSize, 'above 10 needs maxBatchingWindowSeconds of at least 1 (an SQS rule)');
  }
  // AWS: a visibility timeout under six times the function timeout lets a message be
  // redelivered while a slow invocation still holds it.
  const minVisibility = 6 * executorTimeoutSeconds;
  const visibilityTimeoutSeconds = integer(
    read,
    'visibilityTimeoutSeconds',
    minVisibility + maxBatchingWindowSeconds,
    0,
    43200,
  );
  if (visibilityTimeoutSeconds < minVisibility) {
    throw new SettingsError(
      'visibilityTimeoutSeconds',
      visibilityTimeoutSeconds,
      `must be at least six times executorTimeoutSeconds (${minVisibility})`,
    );
  }
  const exchangeSecretArn = text(read, 'exchangeSecretArn');
  if (exchangeSecretArn !== undefined && !SECRET_ARN.test(exchangeSecretArn)) {
    throw new SettingsError('exchangeSecretArn', exchangeSecretArn, SECRET_ARN_REASON);
  }
  const accountSecretArns = secretArnList(read, 'accountSecretArns', exchangeSecretArn);
  const exchangeBaseUrl = text(read, 'exchangeBaseUrl') ?? 'https://api.binance.com';
  let url: URL;
  try {
    url = new URL(exchangeBaseUrl);
  } catch {
    throw new SettingsError('exchangeBaseUrl', exchangeBaseUrl, 'not a URL');
  }
  if (url.protocol !== 'https:') {
    throw new SettingsError('exchangeBaseUrl', exchangeBaseUrl, 'must be https (API keys travel on it)');
  }
  const followUp = text(read, 'followUp') ?? 'messages';
  if (followUp !== 'messages' && followUp !== 'reconcile') {
    throw new SettingsError('followUp', followUp, 'must be messages or reconcile');
  }
  const metricsNamespace = text(read, 'metricsNamespace') ?? 'Driftline';
  if (!NAMESPACE.test(metricsNamespace) || metricsNamespace.startsWith('AWS/')) {
    throw new SettingsError('metricsNamespace', metricsNamespace, 'not a valid custom CloudWatch namespace');
  }
  const logRetentionDays = integer(read, 'logRetentionDays', 30, 1, 3653);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) {
    throw new SettingsError('logRetentionDays', logRetentionDays, `must be one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }
  const alarmEmail = email(read, 'alarmEmail');
  const notifications = flag(read, 'notifications', false);
  const notificationsEmail = email(read, 'notificationsEmail');
  if (notificationsEmail !== undefined && !notifications) {
    throw new SettingsError('notificationsEmail', notificationsEmail, 'needs notifications=true (there is no topic to subscribe it to)');
  }
  const stackName = text(read, 'stackName') ?? 'Driftline';
  if (!STACK_NAME.test(stackName)) {
    throw new SettingsError('stackName', stackName, 'not a CloudFormation stack name (a letter, then letters, digits and hyphens, at most 128)');
  }
  return {
    stackName,
    codeDir: text(read, 'codeDir') ?? DEFAULT_CODE_DIR,
    architecture,
    schedulerMemoryMb: integer(read, 'schedulerMemoryMb', 256, 128, 10240),
    executorMemoryMb: integer(read, 'executorMemoryMb', 256, 128, 10240),
    schedulerTimeoutSeconds,
    executorTimeoutSeconds,
    scheduleRateMinutes,
    scheduleEnabled: flag(read, 'scheduleEnabled', true),
    batchSize,
    maxBatchingWindowSeconds,
    executorMaxConcurrency: integer(read, 'executorMaxConcurrency', 2, 2, 1000),
    maxReceiveCount: integer(read, 'maxReceiveCount', 10, 1, 1000),
    visibilityTimeoutSeconds,
    exchangeSecretArn,
    accountSecretArns,
    exchangeBaseUrl,
    metricsNamespace,
    portfolioConcurrency: integer(read, 'portfolioConcurrency', 4, 1, 64),
    fanOutAbove: integer(read, 'fanOutAbove', 200, 1, 1000000),
    shardSize: integer(read, 'shardSize', 50, 1, 200),
    // AWS refuses a maximum concurrency under 2 on an SQS event source mapping.
    shardConcurrency: integer(read, 'shardConcurrency', 10, 2, 1000),
    maxRetryDelaySeconds: integer(read, 'maxRetryDelaySeconds', 900, 1, 900),
    followUp,
    logRetentionDays,
    alarmEmail,
    notifications,
    notificationsEmail,
  };
}

/** The infra/ directory: a relative settings file is found against it, whatever the cwd. */
const INFRA_DIR = path.resolve(__dirname, '..');

/** The settings file every `make deploy` reads unless told otherwise, relative to infra/. */
export const DEFAULT_SETTINGS_FILE = 'deploy-settings.json';

/** Every key a settings file may hold: the deployment's settings, not the build's. */
export const FILE_KEYS = [
  'stackName',
  'schedulerMemoryMb',
  'executorMemoryMb',
  'schedulerTimeoutSeconds',
  'executorTimeoutSeconds',
  'scheduleRateMinutes',
  'scheduleEnabled',
  'batchSize',
  'maxBatchingWindowSeconds',
  'executorMaxConcurrency',
  'maxReceiveCount',
  'visibilityTimeoutSeconds',
  'exchangeSecretArn',
  'accountSecretArns',
  'exchangeBaseUrl',
  'metricsNamespace',
  'portfolioConcurrency',
  'fanOutAbove',
  'shardSize',
  'shardConcurrency',
  'maxRetryDelaySeconds',
  'followUp',
  'logRetentionDays',
  'alarmEmail',
  'notifications',
  'notificationsEmail',
] as const;

/**
 * Settings that describe the build rather than the deployment: `make deploy` passes them with
 * `-c` to match the bundles it just built, so a file value would only ever be overridden.
 */
const BUILD_KEYS = ['codeDir', 'architecture'];

/** A deployment's settings file, read: where it is (for messages) and what it sets. */
export interface SettingsFile {
  /** The path as messages show it: from the repository root when inside it. */
  readonly path: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/**
 * Reads a settings file: a JSON object whose keys are settings ([FILE_KEYS]) and whose values
 * are written as in cdk.json's "context". A key that is not a setting (a typo would otherwise
 * drop the setting without a word) and a build setting are refused.
 *
 * @throws SettingsError naming the file, and the key when one is wrong.
 */
export function readSettingsFile(file: string): SettingsFile {
  const absolute = path.resolve(INFRA_DIR, file);
  const root = path.dirname(INFRA_DIR);
  const shown = absolute.startsWith(root + path.sep) ? path.relative(root, absolute) : absolute;
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch {
    throw new SettingsError('settingsFile', file, `no settings file at ${shown} (start from infra/deploy-settings.example.json)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SettingsError('settingsFile', file, `${shown} is not JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SettingsError('settingsFile', file, `${shown} is not a JSON object of settings`);
  }
  const values = parsed as Record<string, unknown>;
  for (const [key, value] of Object.entries(values)) {
    if (BUILD_KEYS.includes(key)) {
      throw new SettingsError(key, value, 'is set by `make deploy` (ARCH=…) to match the build, not in the settings file', `${shown}:`);
    }
    if (!(FILE_KEYS as readonly string[]).includes(key)) {
      throw new SettingsError(key, value, `not a setting (the settings are ${FILE_KEYS.join(', ')})`, `${shown}:`);
    }
  }
  return { path: shown, values };
}

/**
 * The settings of one synthesis: each key from the context (`-c`, cdk.json) when set there,
 * else from the settings file, else its default.
 *
 * @throws SettingsError naming the first wrong value and where it was set.
 */
export function layeredSettings(context: ContextReader, file: SettingsFile): DriftlineSettings {
  const fromFile = (key: string) => context(key) === undefined && Object.hasOwn(file.values, key);
  try {
    return readSettings((key) => (fromFile(key) ? file.values[key] : context(key)));
  } catch (e) {
    if (e instanceof SettingsError && fromFile(e.key)) throw e.in(file.path);
    throw e;
  }
}
