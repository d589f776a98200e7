// What the deployment files (docker-compose.yml, deploy/kubernetes) may set, checked against the
// services' own configuration schemas, and the helpers their tests share.
import type { TObject } from '@sinclair/typebox';

/**
 * Settings CONTRACT.md names that the schemas may not have yet: AUDIT_STREAM_REPLICAS (the number of
 * replicas of OAUTH_AUDIT, default 1) is being added to shared/config.ts. Until it is there, a
 * deployment may set it (the services ignore variables they do not know); once it is, this list
 * changes nothing and the schema decides.
 */
export const PENDING_SETTINGS: ReadonlySet<string> = new Set(['AUDIT_STREAM_REPLICAS']);

export const isSetting = (schema: TObject, name: string): boolean => name in schema.properties || PENDING_SETTINGS.has(name);

export const HTTP_SERVICES = {
  'authorize-service': 'AUTHORIZE_SERVICE_PORT',
  'consent-ui': 'CONSENT_UI_PORT',
  'token-service': 'TOKEN_SERVICE_PORT',
  'validation-service': 'VALIDATION_SERVICE_PORT',
} as const;
export type ServiceName = keyof typeof HTTP_SERVICES;

/** The schema a service's config.ts exports, and its loadConfig (which adds the service's own cross-checks). */
export async function serviceConfig(service: string): Promise<{ schema: TObject; loadConfig: (env: NodeJS.ProcessEnv) => Record<string, unknown> }> {
  const module = (await import(`../../services/${service}/config.ts`)) as Record<string, unknown>;
  const schema = Object.values(module).find((v): v is TObject => typeof v === 'object' && v !== null && 'properties' in v);
  const loadConfig = module.loadConfig as ((env: NodeJS.ProcessEnv) => Record<string, unknown>) | undefined;
  if (!schema || !loadConfig) throw new Error(`services/${service}/config.ts exports no schema or loadConfig`);
  return { schema, loadConfig };
}

/** The paths of the Caddyfile route block that proxies to `service`. */
export function caddyRoutedPaths(caddyfile: string, service: string): string[] {
  const block = new RegExp(`@(\\w+) path ([^\\n]+)\\n\\s*reverse_proxy @\\1 \\{\\s*dynamic a ${service} `).exec(caddyfile);
  return block ? block[2]!.trim().split(/\s+/) : [];
}

/** Hosts (host:port) of a mongodb:// URI, its user, password, database and options. */
export function parseMongoUri(uri: string): { hosts: string[]; user: string; password: string; database: string; options: URLSearchParams } {
  const match = /^mongodb:\/\/(?:([^:@/]+):([^@/]*)@)?([^/?]+)\/([^?]*)(?:\?(.*))?$/.exec(uri);
  if (!match) throw new Error(`not a mongodb:// URI: ${uri}`);
  return { user: match[1] ?? '', password: match[2] ?? '', hosts: match[3]!.split(','), database: match[4]!, options: new URLSearchParams(match[5] ?? '') };
}
