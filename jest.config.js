/**
 * Two projects, one `jest` run, one summary line:
 * - `default`: unit specs and the end-to-end suites, in parallel (each file owns its database and
 *   Redis prefix);
 * - `faults`: process-level fault tests (test/faults/*.fault.spec.ts) that kill Redis, PostgreSQL
 *   and workers and measure timings. They run serially (their own runner), never overlapping the
 *   default suites: they are timing-sensitive on a 2-core machine.
 * Only the fault tests: `npm test -- --selectProjects faults` (or `npx jest --selectProjects faults`).
 */
const shared = {
  rootDir: '.',
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  moduleNameMapper: {
    '^@codelab/(.*)$': '<rootDir>/libs/$1/src/index.ts',
  },
  setupFiles: ['reflect-metadata', '<rootDir>/test/support/jest-env.js'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...shared,
      displayName: 'default',
      testMatch: [
        '<rootDir>/libs/**/*.spec.ts',
        '<rootDir>/apps/**/*.spec.ts',
        '<rootDir>/test/**/*.spec.ts',
      ],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/faults/'],
    },
    {
      ...shared,
      displayName: 'faults',
      testMatch: ['<rootDir>/test/faults/**/*.fault.spec.ts'],
      runner: '<rootDir>/test/support/serial-runner.js',
    },
  ],
  // Global options (Jest ignores them inside a project). Fault tests pass their own, longer
  // timeouts to it/beforeAll/afterAll, derived from their deadlines.
  testTimeout: 60000,
  // For the default project; the faults project is serial whatever this says.
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
