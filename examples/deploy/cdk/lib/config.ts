/**
 * The deployment's settings: read from a JSON file (`-c config=deploy.json`)
 * and CDK context (`-c key=value`, which wins), checked, and rendered into
 * the worker's `/etc/allora/worker.toml`.
 */

/** The default side server URL: the inference server on the same instance. */
export const SIDE_SERVER_URL = 'http://127.0.0.1:8000/inference/{Token}';
/** The cheapest instance type that runs the worker and the demo side server. */
export const DEFAULT_INSTANCE_TYPE = 't4g.nano';
/** Gas one worker payload may use when simulation fails (the worker's fallback). */
export const GAS_PER_PAYLOAD = 250_000;
/** The worker's feemarket fallback price (10 uallo/gas) with its 120% headroom. */
export const FEEMARKET_ESTIMATE_UALLO = 12;
/** Decimal places of a gas price (the chain's LegacyDec). */
const GAS_PRICE_DECIMALS = 18;
/** What gasPrice may be, for error messages. */
const GAS_PRICE_FORMS = '"feemarket" or a positive number of uallo per gas with up to 18 decimal places, e.g. 10 or 0.08';
/** gRPC endpoint schemes: http(s), and the official Python SDK's grpc+http(s). */
const GRPC_PROTOCOLS = ['http:', 'https:', 'grpc+http:', 'grpc+https:'];
/** Fee tier multipliers, in tenths (allora-sdk `FeeTier`). */
const TIER_TENTHS: Record<FeeTier, number> = { eco: 10, standard: 15, priority: 25 };

export type FeeTier = 'eco' | 'standard' | 'priority';

/** One topic the worker serves. */
export interface TopicSettings {
  readonly id: number;
  readonly token?: string;
  /** URL template of the inference server; the side server by default. */
  readonly inferenceUrl?: string;
  /** URL template of a forecast server, if the worker forecasts. */
  readonly forecastUrl?: string;
  readonly timeoutSecs?: number;
}

/**
 * Where the worker's key is: its mnemonic in a Secrets Manager secret, read
 * into the worker's memory, or an AWS KMS key that never leaves KMS.
 */
export type KeySource = 'aws-secret' | 'kms';

/** Where the instance gets the two binaries. */
export type BinarySource =
  | { readonly kind: 'build' }
  | { readonly kind: 'tarball'; readonly path: string }
  | { readonly kind: 'release'; readonly url: string; readonly sha256: string };

/** Everything the stack needs to know. */
export interface DeploySettings {
  /**
   * A network preset of the worker (`testnet` or `mainnet`): its chain id,
   * endpoints, websocket and gas price apply unless given here.
   */
  readonly network?: Network;
  /** Required without `network`. */
  readonly chainId?: string;
  /** Required without `network`; empty means the preset's. */
  readonly grpcEndpoints: string[];
  readonly websocketUrl?: string;
  readonly topics: TopicSettings[];
  /** `"feemarket"` or uallo per gas, as decimal text (`"10"`, `"0.08"`). */
  readonly gasPrice: 'feemarket' | string;
  /** An account paying the worker's transaction fees under a fee grant. */
  readonly feeGranter?: string;
  readonly feeTier: FeeTier;
  readonly autoRegister: boolean;
  readonly instanceType: string;
  /** Where the worker's key is. */
  readonly keySource: KeySource;
  /** An existing secret (name or ARN); the stack creates one when absent (`aws-secret`). */
  readonly mnemonicSecret?: string;
  /** An existing KMS key's ARN; the stack creates one when absent (`kms`). */
  readonly kmsKeyArn?: string;
  readonly metricsNamespace: string;
  readonly binaries: BinarySource;
  /** Roughly how long one epoch of the topics lasts, in seconds. */
  readonly epochSeconds: number;
  /** The no-submission alarm fires after this many epochs without an included one. */
  readonly missedEpochs: number;
  /** The low-balance alarm's threshold in uallo (default: one day of fees). */
  readonly lowBalanceUallo: number;
  /** Where alarm notifications go, if anywhere. */
  readonly alarmEmail?: string;
  readonly logRetentionDays: number;
}

/** The worker's network presets (`allora_sdk::network::Network`). */
export const NETWORKS = ['testnet', 'mainnet'] as const;
export type Network = (typeof NETWORKS)[number];

/** A setting's raw value, from context or the file. */
type Lookup = (key: string) => unknown;

const KNOWN_KEYS = [
  'network',
  'chainId',
  'grpcEndpoints',
  'websocketUrl',
  'topics',
  'gasPrice',
  'feeGranter',
  'feeTier',
  'autoRegister',
  'instanceType',
  'keySource',
  'mnemonicSecret',
  'kmsKeyArn',
  'metricsNamespace',
  'releaseUrl',
  'releaseSha256',
  'releaseTarball',
  'epochSeconds',
  'missedEpochs',
  'lowBalanceUallo',
  'alarmEmail',
  'logRetentionDays',
];

/** Why the settings are unusable: names the setting and what to do. */
export class SettingsError extends Error {
  constructor(key: string, problem: string) {
    super(`deployment setting "${key}": ${problem}`);
    this.name = 'SettingsError';
  }
}

/**
 * Reads the settings. `file` is the parsed JSON config file (or `{}`);
 * `context` gives CDK context values, which win over the file.
 */
export function readSettings(file: Record<string, unknown>, context: Lookup): DeploySettings {
  for (const key of Object.keys(file)) {
    if (!KNOWN_KEYS.includes(key)) {
      throw new SettingsError(key, `unknown; the settings are ${KNOWN_KEYS.join(', ')}`);
    }
  }
  const raw: Lookup = (key) => {
    const value = context(key);
    return value === undefined || value === null || value === '' ? file[key] : value;
  };
  const str = (key: string): string | undefined => {
    const value = raw(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new SettingsError(key, 'must be a string');
    }
    return String(value).trim();
  };
  const num = (key: string, fallback: number, min: number): number => {
    const value = raw(key);
    if (value === undefined || value === null || value === '') return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) {
      throw new SettingsError(key, `${JSON.stringify(value)} is not a number of at least ${min}`);
    }
    return n;
  };

  const networkName = str('network');
  if (networkName !== undefined && !(NETWORKS as readonly string[]).includes(networkName)) {
    throw new SettingsError('network', `${JSON.stringify(networkName)} is not a network preset; use ${NETWORKS.join(' or ')}`);
  }
  const network = networkName as Network | undefined;
  const chainId = str('chainId');
  if (!chainId && !network) {
    throw new SettingsError('chainId', 'required (or a network preset): the chain id of the network, e.g. allora-testnet-1');
  }
  const grpcEndpoints = list(raw('grpcEndpoints'));
  if (grpcEndpoints.length === 0 && !network) {
    throw new SettingsError('grpcEndpoints', 'required: at least one gRPC endpoint (comma-separated in context)');
  }
  grpcEndpoints.forEach((url, i) => checkUrl(`grpcEndpoints[${i}]`, url, GRPC_PROTOCOLS));
  const websocketUrl = str('websocketUrl');
  if (websocketUrl) checkUrl('websocketUrl', websocketUrl, ['ws:', 'wss:']);

  const topics = readTopics(raw('topics'));

  const gasText = str('gasPrice') ?? 'feemarket';
  let gasPrice: 'feemarket' | string;
  if (gasText.toLowerCase() === 'feemarket') {
    gasPrice = 'feemarket';
  } else {
    const atto = gasPriceAtto(gasText);
    if (atto === undefined || atto <= 0n) {
      throw new SettingsError('gasPrice', `${gasText} is not ${GAS_PRICE_FORMS}`);
    }
    gasPrice = gasText;
  }
  const feeGranter = str('feeGranter');
  if (feeGranter !== undefined && !/^allo1[02-9ac-hj-np-z]{38}$/.test(feeGranter)) {
    throw new SettingsError('feeGranter', `${feeGranter} is not an allo1... account address`);
  }
  const feeTier = (str('feeTier') ?? 'standard').toLowerCase();
  if (!(feeTier in TIER_TENTHS)) {
    throw new SettingsError('feeTier', `${feeTier} is not eco, standard or priority`);
  }
  const autoRegister = bool('autoRegister', raw('autoRegister'), true);

  const instanceType = str('instanceType') ?? DEFAULT_INSTANCE_TYPE;
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType)) {
    throw new SettingsError('instanceType', `${instanceType} is not an EC2 instance type such as t4g.nano`);
  }
  const kmsKeyArn = str('kmsKeyArn');
  const keySource = (str('keySource') ?? (kmsKeyArn ? 'kms' : 'aws-secret')).toLowerCase();
  if (keySource !== 'aws-secret' && keySource !== 'kms') {
    throw new SettingsError('keySource', `${keySource} is not aws-secret (the mnemonic in Secrets Manager) or kms (a KMS key)`);
  }
  const mnemonicSecret = str('mnemonicSecret');
  if (keySource === 'kms' && mnemonicSecret) {
    throw new SettingsError('mnemonicSecret', 'is for keySource "aws-secret"; with keySource "kms" the key is in KMS and no secret is read');
  }
  if (kmsKeyArn) {
    if (keySource !== 'kms') {
      throw new SettingsError('kmsKeyArn', 'is for keySource "kms"');
    }
    if (!/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(kmsKeyArn)) {
      throw new SettingsError(
        'kmsKeyArn',
        `${kmsKeyArn} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); the instance role's policy must name the key itself, not an alias`,
      );
    }
  }
  const metricsNamespace = str('metricsNamespace') ?? 'Allora/Worker';
  if (metricsNamespace.startsWith('AWS/') || metricsNamespace.length > 255) {
    throw new SettingsError('metricsNamespace', 'must be 1-255 characters, not starting with "AWS/"');
  }

  const releaseUrl = str('releaseUrl');
  const releaseSha256 = str('releaseSha256');
  const releaseTarball = str('releaseTarball');
  let binaries: BinarySource;
  if (releaseUrl || releaseSha256) {
    if (!releaseUrl || !releaseSha256) {
      throw new SettingsError('releaseUrl', 'releaseUrl and releaseSha256 go together');
    }
    if (!releaseUrl.startsWith('https://')) {
      throw new SettingsError('releaseUrl', 'must be an https:// URL');
    }
    if (!/^[0-9a-f]{64}$/.test(releaseSha256)) {
      throw new SettingsError('releaseSha256', 'must be 64 lower-case hex digits');
    }
    if (releaseTarball) {
      throw new SettingsError('releaseTarball', 'give either releaseTarball or releaseUrl, not both');
    }
    binaries = { kind: 'release', url: releaseUrl, sha256: releaseSha256 };
  } else if (releaseTarball) {
    binaries = { kind: 'tarball', path: releaseTarball };
  } else {
    binaries = { kind: 'build' };
  }

  const epochSeconds = num('epochSeconds', 300, 1);
  const missedEpochs = num('missedEpochs', 3, 1);
  const price = gasPrice === 'feemarket' ? FEEMARKET_ESTIMATE_UALLO : gasPrice;
  const lowBalanceUallo = num('lowBalanceUallo', dailyFeesUallo(topics.length, epochSeconds, price, feeTier as FeeTier), 0);
  const alarmEmail = str('alarmEmail');
  if (alarmEmail && !/^[^@\s]+@[^@\s]+$/.test(alarmEmail)) {
    throw new SettingsError('alarmEmail', `${alarmEmail} is not an e-mail address`);
  }
  return {
    network,
    chainId,
    grpcEndpoints,
    websocketUrl,
    topics,
    gasPrice,
    feeGranter,
    feeTier: feeTier as FeeTier,
    autoRegister,
    instanceType,
    keySource: keySource as KeySource,
    mnemonicSecret,
    kmsKeyArn,
    metricsNamespace,
    binaries,
    epochSeconds,
    missedEpochs,
    lowBalanceUallo,
    alarmEmail,
    logRetentionDays: num('logRetentionDays', 30, 1),
  };
}

/**
 * A gas price in uallo per gas as an exact integer of 10^-18 uallo, or
 * undefined when the text is not a non-negative decimal (`10`, `0.08`,
 * `2.5e-2`) with at most 18 decimal places.
 */
export function gasPriceAtto(text: string): bigint | undefined {
  const m = /^(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const frac = m[2] ?? '';
  const scale = GAS_PRICE_DECIMALS + Number(m[3] ?? '0') - frac.length;
  const digits = BigInt(m[1] + frac);
  if (scale >= 0) return digits * 10n ** BigInt(scale);
  const divisor = 10n ** BigInt(-scale);
  if (digits % divisor !== 0n) return undefined;
  return digits / divisor;
}

/**
 * One day of fees, in uallo, if every topic needed its own transaction each
 * epoch at the fallback gas (an upper bound: batching shares transactions).
 * The price is exact (`0.08` uallo/gas is 0.08) and each day's total is
 * rounded up, as the worker rounds every fee up to a whole uallo.
 */
export function dailyFeesUallo(topics: number, epochSeconds: number, gasPriceUallo: number | string, tier: FeeTier): number {
  const epochsPerDay = BigInt(Math.ceil(86_400 / epochSeconds));
  const atto = gasPriceAtto(String(gasPriceUallo)) ?? 0n;
  const total = epochsPerDay * BigInt(topics) * BigInt(GAS_PER_PAYLOAD) * atto * BigInt(TIER_TENTHS[tier]);
  const unit = 10n * 10n ** BigInt(GAS_PRICE_DECIMALS);
  return Number((total + unit - 1n) / unit);
}

function list(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value : String(value).split(',');
  return items.map((item) => String(item).trim()).filter((item) => item.length > 0);
}

function bool(key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'boolean') return value;
  const text = String(value).toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new SettingsError(key, `${JSON.stringify(value)} is not true or false`);
}

function checkUrl(key: string, text: string, protocols: string[]): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SettingsError(key, `${text} is not a URL; write it with its scheme, e.g. ${protocols[0]}//host:port`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new SettingsError(key, `${text} has scheme ${url.protocol}; use ${protocols.join(' or ')}`);
  }
}

/**
 * Topics: a JSON array of objects (`[{"id": 69, "token": "ETH"}]`) or, in
 * context, `ID[:TOKEN]` items separated by commas (`69:ETH,70:BTC`).
 */
function readTopics(value: unknown): TopicSettings[] {
  let items: unknown[];
  if (Array.isArray(value)) {
    items = value;
  } else if (typeof value === 'string' && value.trim().startsWith('[')) {
    try {
      items = JSON.parse(value) as unknown[];
    } catch {
      throw new SettingsError('topics', 'is not a valid JSON array');
    }
  } else {
    items = list(value).map((item) => {
      const [id, token, ...rest] = item.split(':');
      if (rest.length > 0) throw new SettingsError('topics', `${item} is not ID or ID:TOKEN`);
      return token ? { id, token } : { id };
    });
  }
  if (items.length === 0) {
    throw new SettingsError('topics', 'required: at least one topic, e.g. -c topics=69:ETH');
  }
  const seen = new Set<number>();
  return items.map((item, i) => {
    if (typeof item !== 'object' || item === null) {
      throw new SettingsError(`topics[${i}]`, 'must be an object with an id');
    }
    const t = item as Record<string, unknown>;
    for (const key of Object.keys(t)) {
      if (!['id', 'token', 'inferenceUrl', 'forecastUrl', 'timeoutSecs'].includes(key)) {
        throw new SettingsError(`topics[${i}].${key}`, 'unknown; use id, token, inferenceUrl, forecastUrl, timeoutSecs');
      }
    }
    const id = Number(t.id);
    if (!Number.isInteger(id) || id < 1) {
      throw new SettingsError(`topics[${i}].id`, `${JSON.stringify(t.id)} is not a topic id (ids start at 1)`);
    }
    if (seen.has(id)) throw new SettingsError(`topics[${i}].id`, `topic ${id} is listed twice`);
    seen.add(id);
    const token = t.token === undefined ? undefined : String(t.token);
    if (token !== undefined && !/^[A-Za-z0-9._-]+$/.test(token)) {
      throw new SettingsError(`topics[${i}].token`, `${token} is not a token symbol such as ETH`);
    }
    const inferenceUrl = t.inferenceUrl === undefined ? undefined : String(t.inferenceUrl);
    const forecastUrl = t.forecastUrl === undefined ? undefined : String(t.forecastUrl);
    for (const [key, url] of [
      ['inferenceUrl', inferenceUrl],
      ['forecastUrl', forecastUrl],
    ] as const) {
      if (url !== undefined) checkUrl(`topics[${i}].${key}`, url.replace(/\{[A-Za-z]+\}/g, 'x'), ['http:', 'https:']);
    }
    const timeoutSecs = t.timeoutSecs === undefined ? undefined : Number(t.timeoutSecs);
    if (timeoutSecs !== undefined && (!Number.isInteger(timeoutSecs) || timeoutSecs < 1)) {
      throw new SettingsError(`topics[${i}].timeoutSecs`, 'must be a positive whole number');
    }
    return { id, token, inferenceUrl, forecastUrl, timeoutSecs };
  });
}

/** A TOML basic string (JSON's escapes are TOML's). CDK tokens pass through. */
function tomlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * The worker's configuration file. `keyId` is the mnemonic secret's name or
 * ARN (`aws-secret`) or the KMS key's ARN (`kms`); it may be a CDK token,
 * resolved in the template. The data directory comes from the systemd unit
 * (`ALLORA_DATA_DIR=%S/allora-worker`, the unit's state directory).
 */
export function renderWorkerToml(settings: DeploySettings, keyId: string): string {
  const lines = [
    '# allora-worker configuration, written by the allora-rs CDK app at boot.',
    '# Read by: /opt/allora/bin/allora-worker --config /etc/allora/worker.toml',
    '# (data_dir is the systemd unit\'s state directory, from ALLORA_DATA_DIR).',
  ];
  if (settings.network) lines.push(`network = ${tomlString(settings.network)}`);
  if (settings.chainId) lines.push(`chain_id = ${tomlString(settings.chainId)}`);
  if (settings.grpcEndpoints.length > 0) {
    lines.push(`grpc_endpoints = [${settings.grpcEndpoints.map(tomlString).join(', ')}]`);
  }
  if (settings.websocketUrl) lines.push(`websocket_url = ${tomlString(settings.websocketUrl)}`);
  if (settings.feeGranter) lines.push(`fee_granter = ${tomlString(settings.feeGranter)}`);
  // A preset prices gas with the feemarket and its own fallback: written
  // only when it is replaced by a fixed price, or without a preset. A whole
  // price is a TOML integer; a fractional one a string, which the worker
  // reads exactly (a TOML float of 17+ digits would not be).
  if (settings.gasPrice !== 'feemarket') {
    const gasPrice = /^\d+$/.test(settings.gasPrice) ? settings.gasPrice : tomlString(settings.gasPrice);
    lines.push(`gas_price = ${gasPrice}`);
  } else if (!settings.network) {
    lines.push('gas_price = "feemarket"');
  }
  lines.push(
    `fee_tier = ${tomlString(settings.feeTier)}`,
    `auto_register = ${settings.autoRegister}`,
    'metrics_addr = "127.0.0.1:9464"',
    '',
    '[key]',
    ...(settings.keySource === 'kms'
      ? ['source = "kms"', `kms_key_id = ${tomlString(keyId)}`]
      : ['source = "aws-secret"', `secret_id = ${tomlString(keyId)}`]),
    '',
    '[cloudwatch]',
    `namespace = ${tomlString(settings.metricsNamespace)}`,
  );
  for (const topic of settings.topics) {
    lines.push('', '[[topics]]', `id = ${topic.id}`);
    if (topic.token) lines.push(`token = ${tomlString(topic.token)}`);
    lines.push(`inference_url = ${tomlString(topic.inferenceUrl ?? SIDE_SERVER_URL)}`);
    if (topic.forecastUrl) lines.push(`forecast_url = ${tomlString(topic.forecastUrl)}`);
    if (topic.timeoutSecs) lines.push(`timeout_secs = ${topic.timeoutSecs}`);
  }
  return lines.join('\n') + '\n';
}
