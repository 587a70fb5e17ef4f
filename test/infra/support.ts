import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { OctoDbStack } from '../../lib/octodb-stack.ts';
import { readSettings } from '../../lib/settings.ts';

export interface Synthesized {
  app: App;
  stack: OctoDbStack;
  template: Template;
  resources: Record<string, { Type: string; Properties?: Record<string, any>; DependsOn?: string[] | string; [k: string]: any }>;
}

/** cdk.json's context (the feature flags `cdk synth` and `cdk deploy` apply), read as the CLI reads it. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'cdk.json'), 'utf8')).context;

/**
 * Builds the stack as bin/octodb.ts does, from cdk.json's context and the given one. Bundling is skipped unless
 * asked for (the `aws:cdk:bundling-stacks` context the CDK CLI itself uses), so a synth takes a
 * second; test/infra/bundling.test.ts bundles for real.
 */
export function synth(context: Record<string, unknown> = {}, opts: { bundle?: boolean; outdir?: string } = {}): Synthesized {
  const app = new App({
    outdir: opts.outdir,
    context: { ...CDK_JSON_CONTEXT, ...(opts.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }), ...context },
  });
  const settings = readSettings(app.node);
  const stack = new OctoDbStack(app, settings.stackName, { settings });
  const template = Template.fromStack(stack);
  return { app, stack, template, resources: template.toJSON().Resources };
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

export const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
export const resourcesOf = (s: Statement): unknown[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

/** Every identity-policy statement of each role (inline policies and attached AWS::IAM::Policy), by role logical id. */
export function statementsByRole(resources: Synthesized['resources']): Record<string, Statement[]> {
  const out: Record<string, Statement[]> = {};
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::IAM::Role') {
      out[id] ??= [];
      for (const p of r.Properties?.Policies ?? []) out[id].push(...p.PolicyDocument.Statement);
    }
  }
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    for (const role of r.Properties?.Roles ?? []) {
      const roleId = role.Ref as string;
      out[roleId] ??= [];
      out[roleId].push(...r.Properties!.PolicyDocument.Statement);
    }
  }
  return out;
}

/** Logical id of the Lambda function whose handler folder is `name` (from its description's role id). */
export function functionRoleId(s: Synthesized, name: string): string {
  const fn = s.stack.functions[name];
  if (!fn) throw new Error(`no function ${name}`);
  return s.stack.getLogicalId(fn.executionRole.node.defaultChild as never);
}

export function functionId(s: Synthesized, name: string): string {
  const fn = s.stack.functions[name];
  if (!fn) throw new Error(`no function ${name}`);
  return s.stack.getLogicalId(fn.node.defaultChild as never);
}

/** The logical ids a CloudFormation value refers to (Ref and Fn::GetAtt, at any depth). */
export function refsIn(value: unknown): string[] {
  const found: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.Ref === 'string') found.push(o.Ref);
      if (Array.isArray(o['Fn::GetAtt'])) found.push(String(o['Fn::GetAtt'][0]));
      Object.values(o).forEach(walk);
    }
  };
  walk(value);
  return [...new Set(found)];
}
