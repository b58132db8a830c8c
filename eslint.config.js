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
  // Plain JavaScript modules (test fixtures, bench scripts) run in Node.
  { files: ['**/*.mjs'], languageOptions: { globals: globals.node } },
  // The CLI and scripts talk to a terminal on purpose.
  { files: ['src/cli/**', 'bench/**', 'test/**', '.ci/**'], rules: { 'no-console': 'off' } },
);
