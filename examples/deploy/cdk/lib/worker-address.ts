import { join } from 'node:path';
import { CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** What the address resource needs. */
export interface WorkerAddressProps {
  /** The KMS key's ARN. */
  readonly keyArn: string;
  readonly logRetentionDays: number;
}

/**
 * The worker address of a KMS signing key, known when `cdk deploy` ends: a
 * custom resource whose small function (lambda/worker-address) reads the
 * key's public key and derives the address. Its role may call
 * `kms:GetPublicKey` on that key and write its own log group, nothing else.
 */
export class WorkerAddress extends Construct {
  /** The `allo1...` address (a token resolved at deploy time). */
  readonly address: string;
  /** The compressed public key, hex. */
  readonly publicKey: string;
  /** The function's role (for tests). */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: WorkerAddressProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Reads the allora-rs worker key public key to output the worker address',
    });
    const policy = new iam.Policy(this, 'Policy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({ actions: ['kms:GetPublicKey'], resources: [props.keyArn] }),
        new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
      ],
    });
    const fn = new lambda.Function(this, 'Function', {
      description: 'allora-rs: the worker address of the KMS key (custom resource)',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      // dist/lib -> dist/lambda/worker-address, compiled with the app.
      code: lambda.Code.fromAsset(join(__dirname, '..', 'lambda', 'worker-address')),
      handler: 'index.handler',
      role: this.role,
      logGroup,
      memorySize: 128,
      timeout: Duration.seconds(30),
    });
    const resource = new CustomResource(this, 'Resource', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::WorkerAddress',
      properties: { KeyId: props.keyArn },
    });
    // The function may read the key before CloudFormation invokes it.
    resource.node.addDependency(policy);
    this.address = resource.getAttString('Address');
    this.publicKey = resource.getAttString('PublicKey');
  }
}
