// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const otherServices = ['authorize-service', 'consent-ui', 'token-service', 'validation-service', 'admin-cli'];

// Transport, storage and wiring modules; every other module of a service is domain code.
const adapterFiles = ['main.ts', 'config.ts', 'http.ts', 'nats.ts', 'nats-client.ts', 'store.ts', 'test-doubles.ts'];
const transportImports = [
  { group: ['fastify', '@fastify/*'], message: 'domain modules take what they need as deps; HTTP lives in http.ts' },
  { group: ['@nats-io/*'], message: 'domain modules take what they need as deps; NATS lives in nats.ts' },
  { group: ['mongodb'], message: 'domain modules take what they need as deps; MongoDB lives in store.ts' },
];
/** The rule per service: no other service's files, shared code through #shared/*, and (for domain modules) no transport. */
const importRules = (name, domain) => ({
  patterns: [
    { group: ['../../*', '../../**'], message: 'import shared code through #shared/*' },
    ...otherServices.filter((o) => o !== name).map((o) => ({ group: [`**/${o}/**`], message: 'a service never imports another service' })),
    ...(domain ? transportImports : []),
  ],
});

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', 'bench/results/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    rules: {
      'max-len': ['error', { code: 160, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true }],
    },
  },
  // Small functions: none in the product longer than 80 lines (tests, scripts and benchmarks aside).
  {
    files: ['services/**/*.ts', 'shared/**/*.ts'],
    ignores: ['**/*.test.ts', '**/test-doubles.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: false, skipComments: false, IIFEs: true }] },
  },
  // No getters or setters in object literals on the request paths: V8 makes such a literal a
  // dictionary-mode object, and one per message kept each message's objects alive through
  // young-generation collections (10 ms pauses in validation-service; docs/performance.md, 7 December).
  {
    files: ['services/**/*.ts', 'shared/**/*.ts'],
    ignores: ['**/*.test.ts', '**/test-doubles.ts', 'services/admin-cli/**'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: 'ObjectExpression > Property[kind=/^(get|set)$/]',
        message: 'an accessor in an object literal makes a dictionary-mode object; use a class with the accessor on its prototype',
      }],
    },
  },
  // A service never reaches into another service's files, and shared code comes through #shared/*.
  ...otherServices.map((name) => ({
    files: [`services/${name}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', importRules(name, false)] },
  })),
  // Domain modules never import a transport or the database driver (types included).
  ...otherServices.filter((name) => name !== 'admin-cli').map((name) => ({
    files: [`services/${name}/**/*.ts`],
    ignores: [...adapterFiles.map((file) => `services/${name}/${file}`), `services/${name}/**/*.test.ts`],
    rules: { 'no-restricted-imports': ['error', importRules(name, true)] },
  })),
  // The grant kernel is domain code too.
  {
    files: ['shared/grants/*.ts'],
    ignores: ['shared/grants/revocation-feed.ts', 'shared/grants/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: transportImports }] },
  },
  // DPoP proof checking is domain code; only the replay stream talks to NATS.
  {
    files: ['shared/dpop/*.ts'],
    ignores: ['shared/dpop/proof-replay-stream.ts', 'shared/dpop/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: transportImports }] },
  },
);
