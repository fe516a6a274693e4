#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AlloraWorkerStack } from '../lib/allora-worker-stack';
import { readSettings, SettingsError } from '../lib/config';

const app = new App();

/** A context value (`cdk synth -c key=value` or cdk.json). */
function context(key: string): unknown {
  return app.node.tryGetContext(key);
}

// The settings file (`-c config=deploy.json`), with context values over it.
const configPath = context('config');
let file: Record<string, unknown> = {};
if (typeof configPath === 'string' && configPath !== '') {
  try {
    file = JSON.parse(readFileSync(resolve(configPath), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new SettingsError('config', `cannot read ${configPath} as JSON: ${(e as Error).message}`);
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw new SettingsError('config', `${configPath} must hold a JSON object`);
  }
}
const settings = readSettings(file, context);
if (!Object.values(RetentionDays).includes(settings.logRetentionDays)) {
  throw new SettingsError('logRetentionDays', `${settings.logRetentionDays} is not a retention CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, ...)`);
}

// dist/bin -> the repository root; the units live beside the app so that they
// can be reviewed and used on any host.
const root = join(__dirname, '..', '..', '..', '..', '..');
const systemdDir = join(root, 'examples', 'deploy', 'systemd');

const stackName = context('stackName');
new AlloraWorkerStack(app, typeof stackName === 'string' && stackName !== '' ? stackName : 'AlloraWorker', {
  description: 'allora-rs worker on one EC2 instance',
  settings,
  repositoryRoot: root,
  workerUnit: readFileSync(join(systemdDir, 'allora-worker.service'), 'utf8'),
  inferenceServerUnit: readFileSync(join(systemdDir, 'allora-inference-server.service'), 'utf8'),
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
