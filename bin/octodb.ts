/**
 * `npm run synth` / `npx cdk deploy`: the OctoDB stack, env-agnostic (no AWS account needed to
 * synthesize), checked by cdk-nag's AwsSolutions pack on every synth.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { OctoDbStack } from '../lib/octodb-stack.ts';
import { readSettings } from '../lib/settings.ts';

const app = new App();
const settings = readSettings(app.node);
new OctoDbStack(app, settings.stackName, {
  settings,
  description: 'OctoDB: open multi-tenant MySQL database-as-a-service',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
