// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Generated (cdk8s imports, the Helm chart) or not TypeScript (the PySpark job has ruff).
  { ignores: ['node_modules/', 'cdk8s/imports/', 'src/api/imports/', 'dist/', '.orchard/', 'charts/', 'spark-images/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
    rules: {
      // `const { dropped: _dropped, ...kept } = object` is how a field is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    files: ['.dependency-cruiser.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests reach into synthesized manifests by path; typing every nested field there would only restate the CRDs.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
