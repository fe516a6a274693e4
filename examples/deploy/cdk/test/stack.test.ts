/**
 * The stack under different settings (run with `node --test dist/test/`).
 * The boot-contract test (examples/tests/boot_contract.rs) runs what the
 * default stack's instance runs; these check the template's other choices.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AlloraWorkerStack } from '../lib/allora-worker-stack';
import { dailyFeesUallo, readSettings, renderWorkerToml, SettingsError } from '../lib/config';

const root = join(__dirname, '..', '..', '..', '..', '..');
const units = join(root, 'examples', 'deploy', 'systemd');

const BASE = {
  chainId: 'allora-testnet-1',
  grpcEndpoints: 'https://grpc-a.example:443,https://grpc-b.example:443',
  topics: '69:ETH,70:BTC',
};

/** Synthesizes a stack (binaries not built) and checks cdk-nag passes. */
function synth(context: Record<string, unknown>): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const settings = readSettings({}, (key) => ({ ...BASE, ...context })[key]);
  const stack = new AlloraWorkerStack(app, 'Test', {
    settings,
    repositoryRoot: root,
    workerUnit: readFileSync(join(units, 'allora-worker.service'), 'utf8'),
    inferenceServerUnit: readFileSync(join(units, 'allora-inference-server.service'), 'utf8'),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return Template.fromStack(stack);
}

/** The user data script with every intrinsic function replaced by a marker. */
function userData(template: Template): string {
  const instances = template.findResources('AWS::EC2::Instance');
  const [instance] = Object.values(instances) as { Properties: { UserData: { 'Fn::Base64': unknown } } }[];
  const flatten = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, unknown>;
    if (v['Fn::Join']) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(sep);
    }
    // Quote-free, so that a marker inside JSON text keeps it valid.
    const [fn, arg] = Object.entries(v)[0];
    return `<${fn}:${(typeof arg === 'string' ? arg : JSON.stringify(arg)).replace(/"/g, '')}>`;
  };
  return flatten(instance.Properties.UserData['Fn::Base64']);
}

/** Every IAM statement of a role's inline policies (by default the instance role's). */
function statements(
  template: Template,
  role = 'WorkerRole',
): { Action: string | string[]; Resource: unknown; Condition?: unknown; Effect?: string }[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as {
    Properties: {
      Roles: { Ref: string }[];
      PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] };
    };
  }[];
  return policies
    .filter((p) => p.Properties.Roles.some((r) => r.Ref.startsWith(role)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

/** The instance role's actions, one entry a statement (its actions joined by commas), sorted. */
function actions(template: Template): string[] {
  return statements(template)
    .map((s) => (Array.isArray(s.Action) ? s.Action.join(',') : s.Action))
    .sort();
}

/** The logical id of the one resource of a type. */
function only(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  assert.equal(ids.length, 1, `${type}: ${ids.join(', ')}`);
  return ids[0];
}

test('the default stack: Graviton, binaries from an S3 asset, the worker configured by worker.toml', () => {
  const template = synth({});
  template.hasResourceProperties('AWS::EC2::Instance', {
    InstanceType: 't4g.nano',
    ImageId: { Ref: Match.stringLikeRegexp('arm64') },
    MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
  });
  const script = userData(template);
  assert.match(script, /aws s3 cp --only-show-errors --region <Ref:AWS::Region> 's3:\/\/<Fn::Sub:cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}>\/[0-9a-f]{64}\.zip'/);
  assert.match(script, /\[key\]\nsource = "aws-secret"\nsecret_id = "<Ref:Mnemonic[0-9A-F]+>"/);
  assert.match(script, /\[cloudwatch\]\nnamespace = "Allora\/Worker"/);
  assert.match(script, /\[\[topics\]\]\nid = 69\ntoken = "ETH"\ninference_url = "http:\/\/127\.0\.0\.1:8000\/inference\/\{Token\}"/);
  assert.match(script, /grpc_endpoints = \["https:\/\/grpc-a\.example:443", "https:\/\/grpc-b\.example:443"\]/);
  assert.match(script, /cat > \/etc\/allora\/worker\.env <<'ALLORA_EOF'\nAWS_REGION=<Ref:AWS::Region>\nALLORA_EOF/);
  // The CloudWatch agent collects memory and disk into the worker's namespace.
  const agent = JSON.parse(script.split("allora-agent.json <<'ALLORA_EOF'\n")[1].split('\nALLORA_EOF')[0]);
  assert.equal(agent.metrics.namespace, 'Allora/Worker');
  assert.deepEqual(Object.keys(agent.metrics.metrics_collected).sort(), ['disk', 'mem', 'swap']);
  assert.deepEqual(agent.metrics.metrics_collected.disk.resources, ['/']);
});

test('the instance role may do exactly what the worker needs', () => {
  const template = synth({});
  assert.deepEqual(actions(template), [
    'cloudwatch:PutMetricData',
    'logs:CreateLogStream,logs:PutLogEvents,logs:DescribeLogStreams',
    's3:GetObject',
    'secretsmanager:GetSecretValue',
  ]);
  const byAction = (action: string) => statements(template).find((s) => s.Action === action)!;
  assert.deepEqual(byAction('cloudwatch:PutMetricData').Condition, {
    StringEquals: { 'cloudwatch:namespace': 'Allora/Worker' },
  });
  assert.match(JSON.stringify(byAction('secretsmanager:GetSecretValue').Resource), /^\{"Ref":"Mnemonic[0-9A-F]+"\}$/);
  // One object of the asset bucket, not the bucket.
  const s3 = JSON.stringify(byAction('s3:GetObject').Resource);
  assert.match(s3, /\/[0-9a-f]{64}\.zip/);
  template.resourceCountIs('AWS::SecretsManager::Secret', 1);
});

test('the key in KMS: a new secp256k1 key, which the instance may only read the public key of and sign with', () => {
  const template = synth({ keySource: 'kms' });
  template.resourceCountIs('AWS::SecretsManager::Secret', 0);
  template.hasResource('AWS::KMS::Key', {
    Properties: { KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' },
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
  });
  const key = { 'Fn::GetAtt': [only(template, 'AWS::KMS::Key'), 'Arn'] };
  // The instance role: exactly these statements; no Secrets Manager.
  assert.deepEqual(
    statements(template).map((s) => [s.Effect, s.Action, s.Resource]).filter(([, a]) => JSON.stringify(a).includes('kms:')),
    [['Allow', ['kms:GetPublicKey', 'kms:Sign'], key]],
  );
  assert.deepEqual(actions(template), [
    'cloudwatch:PutMetricData',
    'kms:GetPublicKey,kms:Sign',
    'logs:CreateLogStream,logs:PutLogEvents,logs:DescribeLogStreams',
    's3:GetObject',
  ]);
  // The address function's role: the public key of that key, its own logs.
  const fnLogs = Object.keys(template.findResources('AWS::Logs::LogGroup')).find((id) => id.startsWith('KeyAddressLogs'))!;
  assert.deepEqual(
    statements(template, 'KeyAddressRole').map((s) => [s.Effect, s.Action, s.Resource]),
    [
      ['Allow', 'kms:GetPublicKey', key],
      ['Allow', ['logs:CreateLogStream', 'logs:PutLogEvents'], { 'Fn::GetAtt': [fnLogs, 'Arn'] }],
    ],
  );
  template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.handler', Runtime: 'nodejs24.x' });
  template.hasResourceProperties('Custom::WorkerAddress', { KeyId: key });
  // The worker's configuration names the key; the outputs give its ARN and address.
  const script = userData(template);
  assert.match(script, new RegExp(`\\[key\\]\\nsource = "kms"\\nkms_key_id = "<Fn::GetAtt:\\[${key['Fn::GetAtt'][0]},Arn\\]>"\\n`));
  assert.ok(!script.includes('secret_id'));
  const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
  assert.deepEqual(outputs.WorkerKeyArn.Value, key);
  assert.deepEqual(outputs.WorkerAddress.Value, { 'Fn::GetAtt': [only(template, 'Custom::WorkerAddress'), 'Address'] });
  assert.equal(outputs.MnemonicSecret, undefined);
});

test('an existing KMS key is used by its ARN, and only it', () => {
  const arn = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const template = synth({ kmsKeyArn: arn });
  template.resourceCountIs('AWS::KMS::Key', 0);
  template.resourceCountIs('AWS::SecretsManager::Secret', 0);
  const kms = statements(template).filter((s) => JSON.stringify(s.Action).includes('kms:'));
  assert.deepEqual(kms.map((s) => [s.Action, s.Resource]), [[['kms:GetPublicKey', 'kms:Sign'], arn]]);
  assert.deepEqual(statements(template, 'KeyAddressRole')[0].Resource, arn);
  template.hasResourceProperties('Custom::WorkerAddress', { KeyId: arn });
  assert.ok(userData(template).includes(`source = "kms"\nkms_key_id = "${arn}"`));
});

test('a dashboard and the two alarms', () => {
  const template = synth({ epochSeconds: '60', missedEpochs: '5', gasPrice: '10', feeTier: 'standard' });
  template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'Submissions',
    Namespace: 'Allora/Worker',
    Statistic: 'Sum',
    Period: 300,
    Threshold: 1,
    ComparisonOperator: 'LessThanThreshold',
    TreatMissingData: 'breaching',
    Dimensions: Match.arrayWith([{ Name: 'Outcome', Value: 'included' }]),
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'BalanceUallo',
    Threshold: dailyFeesUallo(2, 60, 10, 'standard'),
    ComparisonOperator: 'LessThanThreshold',
  });
  // 1,440 epochs a day, two topics, 250,000 gas each at 10 uallo, x1.5.
  assert.equal(dailyFeesUallo(2, 60, 10, 'standard'), 1440 * 2 * 250_000 * 15);
  const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
  for (const metric of ['WindowOpenToInclusionLatency', 'BlockHeight', 'mem_used_percent', 'disk_used_percent', 'CPUUtilization', 'SubmissionFailures']) {
    assert.ok(body.includes(metric), metric);
  }
  // No e-mail, no topic.
  template.resourceCountIs('AWS::SNS::Topic', 0);
});

test('alarm e-mails go through an encrypted topic', () => {
  const template = synth({ alarmEmail: 'ops@example.com' });
  template.resourceCountIs('AWS::SNS::Topic', 1);
  template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
});

test('an x86 instance type gets an x86 image and its own binaries', () => {
  const arm = userData(synth({}));
  const x86 = userData(synth({ instanceType: 't3.micro' }));
  const key = (script: string) => /\/([0-9a-f]{64})\.zip/.exec(script)![1];
  assert.notEqual(key(arm), key(x86));
  synth({ instanceType: 't3.micro' }).hasResourceProperties('AWS::EC2::Instance', {
    InstanceType: 't3.micro',
    ImageId: { Ref: Match.stringLikeRegexp('x8664') },
  });
});

test('a release URL replaces the asset and is checked against its digest', () => {
  const digest = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const template = synth({ releaseUrl: 'https://example.com/allora-rs.tar.gz', releaseSha256: digest });
  const script = userData(template);
  assert.match(script, /curl --fail .* 'https:\/\/example\.com\/allora-rs\.tar\.gz'/);
  assert.ok(script.includes(`echo '${digest}  '"$work/release.tar.gz" | sha256sum --check --strict -`));
  assert.ok(!script.includes('aws s3 cp'));
  assert.ok(!statements(template).some((s) => s.Action === 's3:GetObject'));
});

test('an existing secret is used by name or ARN, and only it is readable', () => {
  const byName = synth({ mnemonicSecret: 'allora/worker/mnemonic' });
  byName.resourceCountIs('AWS::SecretsManager::Secret', 0);
  const named = statements(byName).find((s) => s.Action === 'secretsmanager:GetSecretValue')!;
  assert.match(JSON.stringify(named.Resource), /:secret:allora\/worker\/mnemonic-\?\?\?\?\?\?"/);
  assert.ok(userData(byName).includes('secret_id = "allora/worker/mnemonic"'));
  const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:allora/worker-AbCdEf';
  const byArn = synth({ mnemonicSecret: arn });
  assert.equal(statements(byArn).find((s) => s.Action === 'secretsmanager:GetSecretValue')!.Resource, arn);
  assert.ok(userData(byArn).includes(`secret_id = "${arn}"`));
});

test('bad settings are refused with the setting named', () => {
  const read = (context: Record<string, unknown>, file: Record<string, unknown> = {}) =>
    readSettings(file, (key) => context[key]);
  const cases: [Record<string, unknown>, string][] = [
    [{ ...BASE, chainId: '' }, 'chainId'],
    [{ ...BASE, grpcEndpoints: 'grpc.example:443' }, 'grpcEndpoints[0]'],
    [{ ...BASE, topics: '' }, 'topics'],
    [{ ...BASE, topics: '0:ETH' }, 'topics[0].id'],
    [{ ...BASE, topics: '1:ETH,1:BTC' }, 'topics[1].id'],
    [{ ...BASE, topics: '1:E/TH' }, 'topics[0].token'],
    [{ ...BASE, gasPrice: '0' }, 'gasPrice'],
    [{ ...BASE, gasPrice: '-0.5' }, 'gasPrice'],
    [{ ...BASE, gasPrice: 'cheap' }, 'gasPrice'],
    [{ ...BASE, gasPrice: '0.0000000000000000001' }, 'gasPrice'],
    [{ ...BASE, feeGranter: 'cosmos1xyz' }, 'feeGranter'],
    [{ ...BASE, grpcEndpoints: 'rest+https://api.example:443' }, 'grpcEndpoints[0]'],
    [{ ...BASE, feeTier: 'fast' }, 'feeTier'],
    [{ ...BASE, autoRegister: 'yes' }, 'autoRegister'],
    [{ ...BASE, releaseUrl: 'https://x/y.tgz' }, 'releaseUrl'],
    [{ ...BASE, metricsNamespace: 'AWS/EC2' }, 'metricsNamespace'],
    [{ ...BASE, websocketUrl: 'http://rpc:26657/websocket' }, 'websocketUrl'],
    [{ ...BASE, keySource: 'vault' }, 'keySource'],
    [{ ...BASE, keySource: 'kms', mnemonicSecret: 'allora/worker' }, 'mnemonicSecret'],
    [{ ...BASE, keySource: 'aws-secret', kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/abc' }, 'kmsKeyArn'],
    [{ ...BASE, kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:alias/allora-worker' }, 'kmsKeyArn'],
  ];
  for (const [context, key] of cases) {
    assert.throws(() => read(context), (e: Error) => e instanceof SettingsError && e.message.includes(`"${key}"`), key);
  }
  assert.throws(() => read(BASE, { chainid: 'x' }), /"chainid": unknown/);
  assert.throws(() => read({ ...BASE, network: 'devnet' }), /"network": "devnet" is not a network preset/);
});

test('a network preset stands for the chain id, endpoints and gas price, each still replaceable', () => {
  const preset: Record<string, unknown> = { topics: BASE.topics, network: 'mainnet' };
  const settings = readSettings({}, (key) => preset[key]);
  assert.equal(settings.network, 'mainnet');
  const toml = renderWorkerToml(settings, 'arn:aws:secretsmanager:us-east-1:1:secret:s-AbCdEf');
  assert.match(toml, /^network = "mainnet"$/m);
  assert.doesNotMatch(toml, /^(chain_id|grpc_endpoints|gas_price) =/m);
  const edited: Record<string, unknown> = { topics: BASE.topics, network: 'testnet', chainId: 'allora-testnet-2', gasPrice: '12' };
  const replaced = readSettings({}, (key) => edited[key]);
  const toml2 = renderWorkerToml(replaced, 'secret');
  assert.match(toml2, /^network = "testnet"\nchain_id = "allora-testnet-2"$/m);
  assert.match(toml2, /^gas_price = 12$/m);
});

test('fractional gas prices, grpc+ endpoints and a fee granter reach the worker', () => {
  const granter = 'allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv';
  const settings = readSettings(
    { gasPrice: 0.08, feeGranter: granter },
    (key) =>
      ({ ...BASE, grpcEndpoints: 'grpc+https://allora-grpc.testnet.allora.network:443,grpc+http://10.0.0.5:9090' })[
        key as keyof typeof BASE
      ],
  );
  assert.equal(settings.gasPrice, '0.08');
  assert.deepEqual(settings.grpcEndpoints, ['grpc+https://allora-grpc.testnet.allora.network:443', 'grpc+http://10.0.0.5:9090']);
  const toml = renderWorkerToml(settings, 'arn:aws:secretsmanager:us-east-1:1:secret:s-AbCdEf');
  assert.match(toml, /gas_price = "0\.08"\n/);
  assert.match(toml, new RegExp(`fee_granter = "${granter}"\n`));
  assert.match(toml, /grpc_endpoints = \["grpc\+https:\/\/allora-grpc\.testnet\.allora\.network:443", "grpc\+http:\/\/10\.0\.0\.5:9090"\]/);
  // 0.08 uallo/gas x 250,000 gas = 20,000 uallo per payload (eco); a day of
  // 1,440 epochs for two topics at standard tier is 1,440 x 2 x 30,000.
  assert.equal(dailyFeesUallo(1, 86_400, '0.08', 'eco'), 20_000);
  assert.equal(dailyFeesUallo(2, 60, '0.08', 'standard'), 1440 * 2 * 30_000);
  // Exact, then rounded up: 0.000001 x 250,000 = 0.25 uallo -> 1.
  assert.equal(dailyFeesUallo(1, 86_400, '0.000001', 'eco'), 1);
  assert.equal(settings.lowBalanceUallo, dailyFeesUallo(2, 300, '0.08', 'standard'));
});

test('a settings file gives structured topics, and context wins over it', () => {
  const file = {
    chainId: 'allora-testnet-1',
    grpcEndpoints: ['https://grpc.example:443'],
    topics: [{ id: 69, token: 'ETH', inferenceUrl: 'http://127.0.0.1:9000/predict/{Token}', timeoutSecs: 5 }],
    gasPrice: 25,
    autoRegister: false,
  };
  const settings = readSettings(file, (key) => ({ feeTier: 'priority' })[key as 'feeTier']);
  assert.equal(settings.feeTier, 'priority');
  const toml = renderWorkerToml(settings, 'arn:aws:secretsmanager:us-east-1:1:secret:s-AbCdEf');
  assert.match(toml, /gas_price = 25\n/);
  assert.match(toml, /auto_register = false\n/);
  assert.match(toml, /inference_url = "http:\/\/127\.0\.0\.1:9000\/predict\/\{Token\}"\ntimeout_secs = 5\n/);
});
