import * as path from 'node:path';

/**
 * Deploy-time settings of the stack. Every one has a default and can be set with
 * `cdk deploy -c <key>=<value>` (or in cdk.json's "context"); docs/DEPLOY.md lists them.
 */
export interface DriftlineSettings {
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
  readonly maxRetryDelaySeconds: number;
  readonly logRetentionDays: number;
  /** An address subscribed to the alarm topic; absent: subscribe by hand (DEPLOY.md). */
  readonly alarmEmail?: string;
}

/** A setting that is wrong, naming the key and the value. */
export class SettingsError extends Error {
  constructor(
    readonly key: string,
    value: unknown,
    reason: string,
  ) {
    super(`context ${key}=${JSON.stringify(value)}: ${reason}`);
    this.name = 'SettingsError';
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
  const metricsNamespace = text(read, 'metricsNamespace') ?? 'Driftline';
  if (!NAMESPACE.test(metricsNamespace) || metricsNamespace.startsWith('AWS/')) {
    throw new SettingsError('metricsNamespace', metricsNamespace, 'not a valid custom CloudWatch namespace');
  }
  const logRetentionDays = integer(read, 'logRetentionDays', 30, 1, 3653);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) {
    throw new SettingsError('logRetentionDays', logRetentionDays, `must be one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }
  const alarmEmail = text(read, 'alarmEmail');
  if (alarmEmail !== undefined && !EMAIL.test(alarmEmail)) {
    throw new SettingsError('alarmEmail', alarmEmail, 'not an email address');
  }
  return {
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
    maxRetryDelaySeconds: integer(read, 'maxRetryDelaySeconds', 900, 1, 900),
    logRetentionDays,
    alarmEmail,
  };
}
