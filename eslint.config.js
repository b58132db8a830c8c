// @ts-check
import eslint from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const noElectron = {
  'no-restricted-imports': [
    'error',
    {
      paths: [
        {
          name: 'electron',
          message:
            'The engine runs in plain Node; only src/main and src/preload may import electron.',
        },
      ],
      patterns: [
        { group: ['electron/*'], message: 'Only src/main and src/preload may import electron.' },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'test-results/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'error',
    },
  },
  {
    files: ['src/engine/**', 'src/shared/**', 'src/cli/**', 'test/**', 'bench/**'],
    rules: noElectron,
  },
  // The request path: on Node 20 (V8 11.3) `{ ...a, b }` takes 1–6 µs where a literal takes 50 ns
  // (docs/performance.md, "Hot path"). These files run once per request; a spread alone is fine.
  {
    files: [
      'src/engine/proxy/*.ts',
      'src/engine/activity/activity-log.ts',
      'src/engine/budgets/budget-hooks.ts',
      'src/engine/rules/**/*.ts',
      'src/engine/secrets/secret-resolver.ts',
      'src/engine/usage/*.ts',
    ],
    // Once per upstream connection (beside a TLS handshake), and user input: not per request.
    ignores: ['src/engine/proxy/upstream-agents.ts', 'src/engine/rules/mapping-input.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression > SpreadElement ~ Property',
          message:
            'A spread followed by properties is slow on Node 20, once per request: build the object field by field (docs/performance.md, "Hot path").',
        },
      ],
    },
  },
  // Plain JavaScript modules (test fixtures, bench scripts) run in Node.
  { files: ['**/*.mjs'], languageOptions: { globals: globals.node } },
  // The CLI and scripts talk to a terminal on purpose.
  { files: ['src/cli/**', 'bench/**', 'test/**', '.ci/**'], rules: { 'no-console': 'off' } },
);
