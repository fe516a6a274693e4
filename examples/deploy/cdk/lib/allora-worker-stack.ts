import { CfnOutput, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** What the worker stack needs to know; see bin/allora-worker.ts for the context keys. */
export interface AlloraWorkerStackProps extends StackProps {
  /** EC2 instance type, such as `t3.small`. */
  readonly instanceType: string;
  /** ARN of an existing secret holding the mnemonic; when absent the stack creates one. */
  readonly secretArn?: string;
  /** HTTPS URL of a release tarball with `allora-worker` and `allora-inference-server` at its top level. */
  readonly releaseUrl: string;
  /** SHA-256 (hex) of that tarball; the instance refuses a download that does not match. */
  readonly releaseSha256: string;
  /** CloudWatch namespace the worker may publish metrics to. */
  readonly metricsNamespace: string;
  /** How long the worker's logs are kept. */
  readonly logRetention: logs.RetentionDays;
  /** Text of the worker's systemd unit. */
  readonly workerUnit: string;
  /** Text of the inference server's systemd unit. */
  readonly inferenceServerUnit: string;
}

/**
 * One EC2 instance running the allora-rs worker and its inference server:
 * public subnet without NAT, no inbound traffic, shell access through SSM
 * Session Manager only, IMDSv2, an encrypted gp3 root volume, and a role that
 * may only publish metrics to one namespace, read one secret and write one
 * log group.
 */
export class AlloraWorkerStack extends Stack {
  constructor(scope: Construct, id: string, props: AlloraWorkerStackProps) {
    super(scope, id, props);

    if (!/^[0-9a-f]{64}$/.test(props.releaseSha256)) {
      throw new Error('releaseSha256 must be 64 lower-case hex digits');
    }
    if (!props.releaseUrl.startsWith('https://')) {
      throw new Error('releaseUrl must be an https:// URL');
    }

    // A public subnet alone: the worker only makes outbound calls, and a NAT
    // gateway would cost more than the instance.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 1,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
    });
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
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
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const secret = props.secretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'Mnemonic', props.secretArn)
      : new secretsmanager.Secret(this, 'Mnemonic', {
          description:
            'BIP39 mnemonic of the allora-rs worker key: put {"mnemonic": "..."} here before the worker can sign',
          removalPolicy: RemovalPolicy.RETAIN,
        });
    if (!props.secretArn) {
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The secret is a wallet mnemonic: rotating it would change the worker address registered on chain.',
      });
    }

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
        // PutMetricData has no resource type; the namespace condition is what limits it.
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': props.metricsNamespace } },
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [secret.secretArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [logGroup.logGroupArn],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:PutMetricData supports no resource ARN; it is limited by a condition on the namespace.',
    });

    const instanceType = new ec2.InstanceType(props.instanceType);
    const cpuType =
      instanceType.architecture === ec2.InstanceArchitecture.ARM_64
        ? ec2.AmazonLinuxCpuType.ARM_64
        : ec2.AmazonLinuxCpuType.X86_64;

    const instance = new ec2.Instance(this, 'Worker', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      associatePublicIpAddress: true,
      securityGroup,
      role,
      instanceType,
      machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType }),
      // Set on the instance itself: `requireImdsv2` would add a launch template
      // with a fixed name, which collides when two worker stacks share a region.
      httpEndpoint: true,
      httpTokens: ec2.HttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(16, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
      userData: workerUserData(props, secret.secretArn, logGroup.logGroupName, this.region),
      userDataCausesReplacement: true,
    });
    Validations.of(instance).acknowledge({
      id: 'AwsSolutions-EC29',
      reason:
        'One worker instance, not an Auto Scaling group: a second copy would sign with the same key. Termination protection is left off so that cdk destroy works; the instance keeps no state that is not in Secrets Manager or on chain.',
    });

    new CfnOutput(this, 'InstanceId', {
      value: instance.instanceId,
      description: 'Open a shell with: aws ssm start-session --target <id>',
    });
    new CfnOutput(this, 'MnemonicSecretArn', {
      value: secret.secretArn,
      description: 'Secret the worker reads its mnemonic from',
    });
    new CfnOutput(this, 'LogGroupName', { value: logGroup.logGroupName });
  }
}

/**
 * Boot script: fetch and verify the release, install both systemd units, and
 * ship their logs with the CloudWatch agent.
 */
function workerUserData(
  props: AlloraWorkerStackProps,
  secretArn: string,
  logGroupName: string,
  region: string,
): ec2.UserData {
  const agentConfig = JSON.stringify({
    logs: {
      logs_collected: {
        files: {
          collect_list: [
            { file_path: '/var/log/allora/worker.log', log_group_name: logGroupName, log_stream_name: '{instance_id}/worker' },
            {
              file_path: '/var/log/allora/inference-server.log',
              log_group_name: logGroupName,
              log_stream_name: '{instance_id}/inference-server',
            },
          ],
        },
      },
    },
  });
  const userData = ec2.UserData.forLinux();
  userData.addCommands(
    'set -euo pipefail',
    'dnf install -y amazon-cloudwatch-agent logrotate',
    'install -d -m 0755 /opt/allora/bin /etc/allora /var/log/allora',
    'work=$(mktemp -d)',
    `curl --fail --silent --show-error --location --retry 5 --proto '=https' -o "$work/release.tar.gz" '${props.releaseUrl}'`,
    `echo '${props.releaseSha256}  '"$work/release.tar.gz" | sha256sum --check --strict -`,
    'tar -xzf "$work/release.tar.gz" -C "$work" allora-worker allora-inference-server',
    'install -m 0755 "$work/allora-worker" "$work/allora-inference-server" /opt/allora/bin/',
    'rm -rf "$work"',
    "cat > /etc/allora/worker.env <<'ALLORA_ENV'",
    `AWS_REGION=${region}`,
    `ALLORA_MNEMONIC_SECRET_ID=${secretArn}`,
    `ALLORA_CLOUDWATCH_NAMESPACE=${props.metricsNamespace}`,
    'ALLORA_INFERENCE_URL=http://127.0.0.1:8000',
    'ALLORA_INFERENCE_LISTEN=127.0.0.1:8000',
    'RUST_LOG=info',
    'ALLORA_ENV',
    'chmod 0644 /etc/allora/worker.env',
    "cat > /etc/systemd/system/allora-worker.service <<'ALLORA_UNIT'",
    props.workerUnit.trimEnd(),
    'ALLORA_UNIT',
    "cat > /etc/systemd/system/allora-inference-server.service <<'ALLORA_UNIT'",
    props.inferenceServerUnit.trimEnd(),
    'ALLORA_UNIT',
    "cat > /etc/logrotate.d/allora <<'ALLORA_ROTATE'",
    '/var/log/allora/*.log {',
    '  daily',
    '  rotate 7',
    '  compress',
    '  missingok',
    '  notifempty',
    // systemd holds the files open in append mode; truncating in place keeps that working.
    '  copytruncate',
    '}',
    'ALLORA_ROTATE',
    "cat > /opt/aws/amazon-cloudwatch-agent/etc/allora-agent.json <<'ALLORA_AGENT'",
    agentConfig,
    'ALLORA_AGENT',
    '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/allora-agent.json',
    'systemctl daemon-reload',
    'systemctl enable --now allora-inference-server.service allora-worker.service',
  );
  return userData;
}
