import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  ArnFormat,
  AssetHashType,
  BundlingOutput,
  CfnOutput,
  DockerImage,
  FileSystem,
  RemovalPolicy,
  Stack,
  StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { DeploySettings, renderWorkerToml } from './config';
import { WorkerDashboard } from './dashboard';
import { WorkerAddress } from './worker-address';

/** What the worker stack needs to know; see bin/allora-worker.ts for the settings. */
export interface AlloraWorkerStackProps extends StackProps {
  readonly settings: DeploySettings;
  /** The repository checkout the binaries are built from. */
  readonly repositoryRoot: string;
  /** Text of the worker's systemd unit. */
  readonly workerUnit: string;
  /** Text of the inference server's systemd unit. */
  readonly inferenceServerUnit: string;
}

/** The release tarball's name for an architecture, as scripts/build-release.sh writes it. */
export function tarballName(arch: 'x86_64' | 'aarch64'): string {
  return `allora-rs-${arch}-linux.tar.gz`;
}

/**
 * One EC2 instance running the allora-rs worker and its inference server:
 * public subnet without NAT, no inbound traffic, shell access through SSM
 * Session Manager only, IMDSv2, an encrypted gp3 root volume; a role that
 * may only read the binaries and the mnemonic secret (or, with the key in
 * KMS, sign with that one key), publish metrics to one namespace and write
 * one log group; a dashboard and two alarms.
 */
export class AlloraWorkerStack extends Stack {
  constructor(scope: Construct, id: string, props: AlloraWorkerStackProps) {
    super(scope, id, props);
    const settings = props.settings;

    // A public subnet alone: the worker only makes outbound calls, and a NAT
    // gateway would cost more than the instance.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 1,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
    });
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    const securityGroup = new ec2.SecurityGroup(this, 'WorkerSecurityGroup', {
      vpc,
      description: 'allora-rs worker: no inbound traffic, outbound to the chain RPC and AWS APIs',
      allowAllOutbound: true,
    });

    const logGroup = new logs.LogGroup(this, 'WorkerLogs', {
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // The key: a mnemonic in Secrets Manager, or a KMS key that never
    // leaves KMS.
    const secret = settings.keySource === 'aws-secret' ? this.mnemonicSecret(settings.mnemonicSecret) : undefined;
    const kmsKey = settings.keySource === 'kms' ? this.workerKey(settings.kmsKeyArn) : undefined;
    const keyId = secret?.id ?? kmsKey?.arn;
    if (keyId === undefined) {
      throw new Error(`no key for keySource ${settings.keySource}`);
    }

    const instanceType = new ec2.InstanceType(settings.instanceType);
    const arm = instanceType.architecture === ec2.InstanceArchitecture.ARM_64;
    const arch = arm ? 'aarch64' : 'x86_64';
    const binaries = this.binariesAsset(settings, props.repositoryRoot, arch);

    const role = new iam.Role(this, 'WorkerRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'allora-rs worker instance',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason: 'The AWS-maintained policy is the supported way to enable SSM Session Manager instead of SSH.',
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        // PutMetricData has no resource type; the namespace condition is what
        // limits it. The worker and the CloudWatch agent share the namespace.
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': settings.metricsNamespace } },
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:PutMetricData supports no resource ARN; it is limited by a condition on the namespace.',
    });
    if (secret) {
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [secret.policyArn],
        }),
      );
    }
    if (kmsKey) {
      // The public key once at start (the address), then one signature per
      // payload and per transaction; nothing else on the key, no other key.
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['kms:GetPublicKey', 'kms:Sign'],
          resources: [kmsKey.arn],
        }),
      );
    }
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [logGroup.logGroupArn],
      }),
    );
    if (binaries) {
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [binaries.bucket.arnForObjects(binaries.s3ObjectKey)],
        }),
      );
    }

    const instance = new ec2.Instance(this, 'Worker', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      associatePublicIpAddress: true,
      securityGroup,
      role,
      instanceType,
      machineImage: ec2.MachineImage.latestAmazonLinux2023({
        cpuType: arm ? ec2.AmazonLinuxCpuType.ARM_64 : ec2.AmazonLinuxCpuType.X86_64,
      }),
      // Set on the instance itself: `requireImdsv2` would add a launch template
      // with a fixed name, which collides when two worker stacks share a region.
      httpEndpoint: true,
      httpTokens: ec2.HttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(8, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
      userData: workerUserData({
        settings,
        keyId,
        logGroupName: logGroup.logGroupName,
        region: this.region,
        binaries: binaries
          ? { kind: 's3', bucket: binaries.s3BucketName, key: binaries.s3ObjectKey }
          : settings.binaries.kind === 'release'
            ? { kind: 'url', url: settings.binaries.url, sha256: settings.binaries.sha256 }
            : undefined,
        workerUnit: props.workerUnit,
        inferenceServerUnit: props.inferenceServerUnit,
      }),
      userDataCausesReplacement: true,
    });
    Validations.of(instance).acknowledge({
      id: 'AwsSolutions-EC29',
      reason:
        'One worker instance, not an Auto Scaling group: a second copy would sign with the same key. Termination protection is left off so that cdk destroy works; the instance keeps no state that is not in Secrets Manager, KMS or on chain.',
    });
    Validations.of(instance).acknowledge({
      id: 'AwsSolutions-EC28',
      reason:
        'Detailed (1-minute) EC2 monitoring is left off to keep the cost down: the dashboard reads 5-minute CPU, and memory and disk come from the CloudWatch agent.',
    });

    const alarmTopic = settings.alarmEmail ? this.alarmTopic(settings.alarmEmail) : undefined;
    const dashboard = new WorkerDashboard(this, 'Monitoring', {
      namespace: settings.metricsNamespace,
      instanceId: instance.instanceId,
      missedEpochs: settings.missedEpochs,
      epochSeconds: settings.epochSeconds,
      lowBalanceUallo: settings.lowBalanceUallo,
      alarmTopic,
    });

    new CfnOutput(this, 'InstanceId', {
      value: instance.instanceId,
      description: 'Open a shell with: aws ssm start-session --target <id>',
    });
    if (secret) {
      new CfnOutput(this, 'MnemonicSecret', {
        value: secret.id,
        description: 'Secret the worker reads its mnemonic from (name or ARN)',
      });
    }
    if (kmsKey) {
      new CfnOutput(this, 'WorkerKeyArn', {
        value: kmsKey.arn,
        description: 'KMS key the worker signs with (ECC_SECG_P256K1, SIGN_VERIFY)',
      });
      const address = new WorkerAddress(this, 'KeyAddress', {
        keyArn: kmsKey.arn,
        logRetentionDays: settings.logRetentionDays,
      });
      new CfnOutput(this, 'WorkerAddress', {
        value: address.address,
        description: 'Address of the KMS key: fund it (registration and fees) for the worker to start submitting',
      });
    }
    new CfnOutput(this, 'DashboardName', { value: dashboard.dashboard.dashboardName });
    new CfnOutput(this, 'LogGroupName', { value: logGroup.logGroupName });
  }

  /**
   * The secret holding the mnemonic: an existing one (name or ARN), or a new
   * one. `id` is what the worker asks for; `policyArn` what the role may read
   * (a secret's ARN ends in a random suffix its name does not know).
   */
  private mnemonicSecret(existing: string | undefined): { id: string; policyArn: string } {
    if (existing?.startsWith('arn:')) {
      return { id: existing, policyArn: existing };
    }
    if (existing) {
      const arn = this.formatArn({
        service: 'secretsmanager',
        resource: 'secret',
        resourceName: `${existing}-??????`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      return { id: existing, policyArn: arn };
    }
    const secret = new secretsmanager.Secret(this, 'Mnemonic', {
      description:
        'BIP39 mnemonic of the allora-rs worker key: put {"mnemonic": "..."} here before the worker can sign',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The secret is a wallet mnemonic: rotating it would change the worker address registered on chain.',
    });
    return { id: secret.secretArn, policyArn: secret.secretArn };
  }

  /**
   * The worker's KMS key: an existing one (its ARN), or a new secp256k1
   * signing key. A new key is kept when the stack is destroyed: it is the
   * worker's wallet (its address holds the funds and the registrations).
   */
  private workerKey(existing: string | undefined): { arn: string } {
    if (existing) {
      return { arn: existing };
    }
    const key = new kms.Key(this, 'WorkerKey', {
      description: 'allora-rs worker key: secp256k1, signs the worker payloads and transactions; the private key never leaves KMS',
      keySpec: kms.KeySpec.ECC_SECG_P256K1,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    return { arn: key.keyArn };
  }

  /**
   * The binaries as an S3 asset: built from the checkout by
   * scripts/build-release.sh when the stack is deployed (the default), or a
   * tarball built elsewhere. `undefined` when they come from a release URL.
   */
  private binariesAsset(
    settings: DeploySettings,
    root: string,
    arch: 'x86_64' | 'aarch64',
  ): s3assets.Asset | undefined {
    switch (settings.binaries.kind) {
      case 'release':
        return undefined;
      case 'tarball':
        return new s3assets.Asset(this, 'Binaries', { path: settings.binaries.path });
      case 'build': {
        // The sources and the architecture decide when to rebuild; the
        // excluded paths never change the binaries.
        const exclude = ['.git', 'target', '**/node_modules', '**/cdk.out', '**/dist', 'fuzz', 'benches', 'examples/deploy', '*.md'];
        const sources = FileSystem.fingerprint(root, { exclude });
        return new s3assets.Asset(this, 'Binaries', {
          path: root,
          exclude,
          assetHashType: AssetHashType.CUSTOM,
          assetHash: createHash('sha256').update(`${sources} ${arch}`).digest('hex'),
          bundling: {
            // Bundling always runs locally (below); CDK's type requires an
            // image, which is therefore never pulled.
            image: DockerImage.fromRegistry('public.ecr.aws/docker/library/rust:1-bookworm'),
            outputType: BundlingOutput.SINGLE_FILE,
            local: {
              tryBundle(outputDir: string): boolean {
                execFileSync('bash', [join(root, 'scripts', 'build-release.sh'), arch, outputDir, '--tarball-only'], {
                  stdio: ['ignore', process.stderr, 'inherit'],
                });
                return true;
              },
            },
          },
        });
      }
    }
  }

  /** An encrypted topic that e-mails alarm changes. */
  private alarmTopic(email: string): sns.Topic {
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the allora-rs worker alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // CloudWatch alarms publish to the encrypted topic.
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    const topic = new sns.Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true });
    topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }
}

/** Where the instance fetches the binaries from. */
type BinaryFetch =
  | { readonly kind: 's3'; readonly bucket: string; readonly key: string }
  | { readonly kind: 'url'; readonly url: string; readonly sha256: string };

/** What the boot script is made of. */
interface UserDataProps {
  readonly settings: DeploySettings;
  /** The mnemonic secret's name or ARN, or the KMS key's ARN (a token for one the stack creates). */
  readonly keyId: string;
  readonly logGroupName: string;
  readonly region: string;
  readonly binaries?: BinaryFetch;
  readonly workerUnit: string;
  readonly inferenceServerUnit: string;
}

/** A shell command writing `text` to `path` verbatim (a quoted here-document). */
function writeFile(path: string, text: string, mode: string): string[] {
  const marker = 'ALLORA_EOF';
  if (text.split('\n').includes(marker)) {
    throw new Error(`${path} contains the here-document marker ${marker}`);
  }
  return [`cat > ${path} <<'${marker}'`, text.trimEnd(), marker, `chmod ${mode} ${path}`];
}

/**
 * Boot script: swap on small instances, the CloudWatch agent, the binaries,
 * the worker's configuration, both systemd units, log rotation.
 */
export function workerUserData(props: UserDataProps): ec2.UserData {
  const agentConfig = {
    agent: { metrics_collection_interval: 60 },
    metrics: {
      namespace: props.settings.metricsNamespace,
      append_dimensions: { InstanceId: '${aws:InstanceId}' },
      // One series per instance (what the dashboard reads) beside the
      // agent's per-device ones.
      aggregation_dimensions: [['InstanceId']],
      metrics_collected: {
        mem: { measurement: ['mem_used_percent'] },
        swap: { measurement: ['swap_used_percent'] },
        disk: { measurement: ['used_percent'], resources: ['/'], drop_device: true },
      },
    },
    logs: {
      logs_collected: {
        files: {
          collect_list: [
            { file_path: '/var/log/allora/worker.log', log_group_name: props.logGroupName, log_stream_name: '{instance_id}/worker' },
            {
              file_path: '/var/log/allora/inference-server.log',
              log_group_name: props.logGroupName,
              log_stream_name: '{instance_id}/inference-server',
            },
          ],
        },
      },
    },
  };
  let fetch: string[];
  if (props.binaries?.kind === 's3') {
    fetch = [`aws s3 cp --only-show-errors --region ${props.region} 's3://${props.binaries.bucket}/${props.binaries.key}' "$work/release.tar.gz"`];
  } else if (props.binaries?.kind === 'url') {
    fetch = [
      `curl --fail --silent --show-error --location --retry 5 --proto '=https' -o "$work/release.tar.gz" '${props.binaries.url}'`,
      `echo '${props.binaries.sha256}  '"$work/release.tar.gz" | sha256sum --check --strict -`,
    ];
  } else {
    throw new Error('no source for the binaries');
  }
  const userData = ec2.UserData.forLinux();
  userData.addCommands(
    'set -euo pipefail',
    // Package installation can need more than a 0.5 GiB instance has.
    'if [ "$(awk \'/MemTotal/ {print $2}\' /proc/meminfo)" -lt 1048576 ] && [ ! -e /swapfile ]; then',
    '  dd if=/dev/zero of=/swapfile bs=1M count=1024 status=none',
    '  chmod 0600 /swapfile && mkswap -q /swapfile && swapon /swapfile',
    "  echo '/swapfile none swap defaults 0 0' >> /etc/fstab",
    'fi',
    'dnf install -y -q amazon-cloudwatch-agent logrotate',
    'install -d -m 0755 /opt/allora/bin /etc/allora /var/log/allora',
    'work=$(mktemp -d)',
    ...fetch,
    'tar -xzf "$work/release.tar.gz" -C "$work" allora-worker allora-inference-server',
    'install -m 0755 "$work/allora-worker" "$work/allora-inference-server" /opt/allora/bin/',
    'rm -rf "$work"',
    ...writeFile('/etc/allora/worker.toml', renderWorkerToml(props.settings, props.keyId), '0644'),
    // Only what the AWS SDK reads from the environment; the rest is in worker.toml.
    ...writeFile('/etc/allora/worker.env', `AWS_REGION=${props.region}\n`, '0644'),
    // For operators: `sudo allora-worker status` (or keys show, register)
    // with the service's configuration and state.
    ...writeFile(
      '/usr/local/bin/allora-worker',
      [
        '#!/bin/sh',
        'set -a; . /etc/allora/worker.env; set +a',
        'ALLORA_DATA_DIR=/var/lib/allora-worker exec /opt/allora/bin/allora-worker --config /etc/allora/worker.toml "$@"',
      ].join('\n'),
      '0755',
    ),
    ...writeFile('/etc/systemd/system/allora-worker.service', props.workerUnit, '0644'),
    ...writeFile('/etc/systemd/system/allora-inference-server.service', props.inferenceServerUnit, '0644'),
    ...writeFile(
      '/etc/logrotate.d/allora',
      [
        '/var/log/allora/*.log {',
        '  daily',
        '  rotate 7',
        '  compress',
        '  missingok',
        '  notifempty',
        // systemd holds the files open in append mode; truncating in place keeps that working.
        '  copytruncate',
        '}',
      ].join('\n'),
      '0644',
    ),
    ...writeFile('/opt/aws/amazon-cloudwatch-agent/etc/allora-agent.json', JSON.stringify(agentConfig, null, 2), '0644'),
    '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/allora-agent.json',
    'systemctl daemon-reload',
    'systemctl enable --now allora-inference-server.service allora-worker.service',
  );
  return userData;
}
