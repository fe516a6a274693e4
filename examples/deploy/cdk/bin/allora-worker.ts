#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AlloraWorkerStack } from '../lib/allora-worker-stack';

const app = new App();

/** A context value (`cdk synth -c key=value` or cdk.json), or the default. */
function context(key: string, fallback?: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') {
    return fallback;
  }
  return String(value);
}

function required(key: string, what: string): string {
  const value = context(key);
  if (value === undefined) {
    throw new Error(`missing context "${key}": ${what} (pass -c ${key}=...)`);
  }
  return value;
}

const retentionDays = Number(context('logRetentionDays', '30'));
if (!Object.values(RetentionDays).includes(retentionDays)) {
  throw new Error(`logRetentionDays ${retentionDays} is not a retention CloudWatch Logs offers`);
}

// The units live beside the app so that they can be reviewed and used on any host.
const systemdDir = join(__dirname, '..', '..', '..', 'systemd');

new AlloraWorkerStack(app, context('stackName', 'AlloraWorker') ?? 'AlloraWorker', {
  description: 'allora-rs worker on one EC2 instance',
  instanceType: context('instanceType', 't3.small') ?? 't3.small',
  secretArn: context('secretArn'),
  releaseUrl: required('releaseUrl', 'HTTPS URL of the release tarball'),
  releaseSha256: required('releaseSha256', 'SHA-256 of the release tarball'),
  metricsNamespace: context('metricsNamespace', 'Allora/Worker') ?? 'Allora/Worker',
  logRetention: retentionDays as RetentionDays,
  workerUnit: readFileSync(join(systemdDir, 'allora-worker.service'), 'utf8'),
  inferenceServerUnit: readFileSync(join(systemdDir, 'allora-inference-server.service'), 'utf8'),
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
