/**
 * Synthesizes the app as `cdk synth` does, but without building the
 * binaries (their S3 asset is only bundled by `cdk deploy`), so that the
 * test suite can check the template offline and fast:
 *
 *   node dist/test/synth.js OUT_DIR [key=value ...]
 *
 * The context is cdk.json's, then the key=value pairs (such as
 * config=path/to/deploy.json). The cdk-nag checks run as in `cdk synth`:
 * an unacknowledged finding fails it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [outDir, ...pairs] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node dist/test/synth.js OUT_DIR [key=value ...]');
  process.exit(2);
}
const appDir = join(__dirname, '..', '..');
const cdkJson = JSON.parse(readFileSync(join(appDir, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
const context: Record<string, unknown> = { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] };
for (const pair of pairs) {
  const eq = pair.indexOf('=');
  if (eq <= 0) {
    console.error(`not key=value: ${pair}`);
    process.exit(2);
  }
  context[pair.slice(0, eq)] = pair.slice(eq + 1);
}
const result = spawnSync(process.execPath, [join(appDir, 'dist', 'bin', 'allora-worker.js')], {
  stdio: 'inherit',
  env: { ...process.env, CDK_OUTDIR: resolve(outDir), CDK_CONTEXT_JSON: JSON.stringify(context) },
});
process.exit(result.status ?? 1);
