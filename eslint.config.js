// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const otherServices = ['authorize-service', 'consent-ui', 'token-service', 'validation-service', 'admin-cli'];

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
  // A service never reaches into another service's files, and shared code comes through #shared/*.
  ...otherServices.map((name) => ({
    files: [`services/${name}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../../*', '../../**'], message: 'import shared code through #shared/*' },
          ...otherServices.filter((o) => o !== name).map((o) => ({ group: [`**/${o}/**`], message: 'a service never imports another service' })),
        ],
      }],
    },
  })),
);
